"""The benchmark scripts start: each imports what it needs and parses its options.

They are not run here (they time things; see docs/performance.md), but a script that no
longer imports would only be found when someone next measures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FOLDER = Path(__file__).resolve().parents[1] / "benchmarks"
BENCHMARKS = sorted(p for p in FOLDER.glob("*.py") if p.name != "common.py")  # common.py: shared, no script


def test_there_are_benchmarks():
    assert {p.name for p in BENCHMARKS} >= {"train_throughput.py", "time_to_quality.py"}


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_script_starts(script):
    done = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout


def test_benchmarks_share_one_common_module_and_import_no_other_script():
    for script in BENCHMARKS:
        text = script.read_text()
        siblings = [p.stem for p in BENCHMARKS if p != script]
        assert not any(f"from {name} import" in text or f"import {name}" in text for name in siblings)
    assert "from common import" in (FOLDER / "train_throughput.py").read_text()
