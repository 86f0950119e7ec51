"""A run directory written by gankit 0.1.0 with the flat config layout still loads, samples and resumes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gankit.cli import main

LEGACY = Path(__file__).parent / "data" / "legacy_run"


@pytest.fixture
def legacy_run(tmp_path: Path) -> Path:
    run = tmp_path / "legacy"
    shutil.copytree(LEGACY, run)
    return run


def test_flat_config_json_still_resumes(legacy_run, capsys):
    assert "lr_g" in json.loads((legacy_run / "config.json").read_text())  # the flat layout
    assert main(["train", "--resume", str(legacy_run), "--steps", "6", "--quiet", "--no-tensorboard"]) == 0
    assert "for 6 steps" in capsys.readouterr().out
    assert json.loads((legacy_run / "checkpoint" / "latest.json").read_text())["step"] == 6


def test_flat_config_json_refuses_a_changed_option_by_name(legacy_run, capsys):
    assert main(["train", "--resume", str(legacy_run), "--steps", "6", "--lr-g", "0.1"]) == 2
    assert "lr_g" in capsys.readouterr().err


def test_legacy_generator_samples(legacy_run, tmp_path):
    out = tmp_path / "points.npz"
    assert main(["sample", str(legacy_run), "--n", "10", "--out", str(out)]) == 0
    assert out.stat().st_size > 0
