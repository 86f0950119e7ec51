"""benchmarks/time_to_quality.py's race: lockstep rounds, the threshold, who reached it when.

Training and the Frechet distance are replaced by counters, so this checks the bookkeeping
that decides the benchmark's verdict, not any timing.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def ttq(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    module = importlib.import_module("time_to_quality")
    monkeypatch.setattr(module, "frechet", lambda generator, dataset, n: generator())
    return module


def _racer(ttq, label, fd_of_steps, calls):
    steps = [0]

    def step():
        steps[0] += 1
        calls.append(label)

    return ttq.Racer(label, step, lambda: lambda: fd_of_steps(steps[0]), True)


def test_race_fixes_the_threshold_from_the_reference_and_stops_loops_that_reached_it(ttq):
    calls: list[str] = []
    reference = _racer(ttq, "reference", lambda s: 100 - s / 10, calls)  # FD 90 at step 100
    fast = _racer(ttq, "fast", lambda s: 100 - s / 5, calls)  # FD 90 at step 50
    never = _racer(ttq, "never", lambda s: 200.0, calls)
    args = argparse.Namespace(eval_every=25, n=1, max_steps=400, reference_steps=100)
    threshold = ttq.race([reference, fast, never], None, args)
    assert threshold == pytest.approx(90.0)
    assert reference.reached(threshold)[0] == 100  # the reference's final value counts as reached
    assert fast.reached(threshold)[0] == 50
    assert never.reached(threshold) is None
    # everyone trains in lockstep until the threshold is known; then only `never` goes on
    assert [s for s, _, _ in fast.curve] == [25, 50, 75, 100]
    assert [s for s, _, _ in never.curve] == list(range(25, 401, 25))
    assert calls.count("reference") == calls.count("fast") == 100
    assert calls.count("never") == 400
    # the order rotates each round, so no loop always trains right after an evaluation
    rounds = [calls[i : i + 75 : 25] for i in range(0, 300, 75)]
    assert rounds == [
        ["reference", "fast", "never"],
        ["fast", "never", "reference"],
        ["never", "reference", "fast"],
        ["reference", "fast", "never"],
    ]


def test_race_times_training_only(ttq):
    calls: list[str] = []
    racer = _racer(ttq, "reference", lambda s: 100 - s, calls)
    args = argparse.Namespace(eval_every=10, n=1, max_steps=40, reference_steps=20)
    ttq.race([racer], None, args)
    seconds = [t for _, t, _ in racer.curve]
    assert seconds == sorted(seconds) and seconds[-1] == pytest.approx(racer.seconds)
    assert racer.reached(80.5) == (20, racer.curve[1][1])


def test_max_steps_below_the_reference_is_refused_before_any_training():
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "time_to_quality.py"), "--max-steps", "10"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "--max-steps 10 is below the reference's" in done.stderr
    assert "step" not in done.stdout  # no loop trained
