"""scripts/truncation_sweep.py: the classifier metric of a run's generator with its noise scaled by psi."""

from __future__ import annotations

import json

import pytest

from gankit.cli import main
from gankit.errors import GankitError
from tests.conftest import load_script, train_tiny_run


@pytest.fixture(scope="module")
def script():
    yield from load_script("truncation_sweep")


def test_psi_1_is_gankit_eval_and_a_smaller_psi_changes_the_samples(script, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = train_tiny_run(tmp_path / "run")
    assert main(["eval", str(out), "--metrics", "classifier", "--n", "400"]) == 0
    scored = json.loads((out / "eval.json").read_text())["metrics"]["classifier"]
    info, (full, narrow) = script.sweep(out, [1.0, 0.3], seed=0, n=400)
    assert info.dataset == "digits"
    assert full["psi"] == 1.0 and narrow["psi"] == 0.3
    for key in ("frechet_distance", "precision", "recall"):
        assert full[key] == pytest.approx(scored[key], rel=1e-9)
    assert narrow["frechet_distance"] != pytest.approx(full["frechet_distance"])
    assert 0 <= full["smallest_class_pct"] <= 100


def test_factors_outside_0_to_1_are_refused(script, tmp_path):
    with pytest.raises(GankitError, match=r"must be in \(0, 1\]"):
        script.sweep(tmp_path, [1.0, 1.5])
    with pytest.raises(GankitError, match=r"must be in \(0, 1\]"):
        script.sweep(tmp_path, [])
