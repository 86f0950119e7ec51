"""scripts/results.py: how DRS scores of several settings become table rows, and rescoring runs."""

from __future__ import annotations

import argparse
import json

import pytest

from gankit.outputs.files import restore_nonfinite
from tests.conftest import load_script


@pytest.fixture(scope="module")
def results():
    yield from load_script("results")


def test_parse_gammas_reads_one_or_several(results):
    assert results.parse_gammas("0") == (0.0,)
    assert results.parse_gammas("0,3,-1.5") == (0.0, 3.0, -1.5)
    for bad in ("", "1,x", "1,1", "nan"):
        with pytest.raises(argparse.ArgumentTypeError):
            results.parse_gammas(bad)


def test_each_gamma_becomes_its_own_row(results):
    modes = {"modes_captured": 25, "high_quality": 0.9, "kl_to_uniform": 0.01, "n_modes": 25}
    scores = {"modes": modes}
    for gamma, quality in ((0.0, 0.95), (3.0, 0.97)):
        scores[f"modes{results.drs_key(gamma)}"] = {**modes, "high_quality": quality}
    row = {"dataset": "grid25", "recipe": "r", "seed": 0, "scores": scores}
    rows = results.with_drs_rows([row])
    names = [r["recipe"] for r in rows]
    assert names == ["r", "r + DRS", "r + DRS γ=3"]
    assert [r["scores"]["modes"]["high_quality"] for r in rows] == [0.9, 0.95, 0.97]


def test_set_overrides_the_scripts_own_run_settings(results, tmp_path):
    """`--set checkpoint_every=N` keeps checkpoints as the run trains (the default keeps none)."""
    extra = {"steps": 20, "batch_size": 32, "checkpoint_every": 10}
    row = results.run_one("ring8", "vanilla", 0, tmp_path, extra)
    run = tmp_path / "ring8" / "vanilla" / "seed0"
    assert row["images_seen"] == 20 * 32
    assert row["config"]["checkpoint_every"] == 10
    assert sorted(p.name for p in (run / "checkpoint").glob("ckpt_*.json")) == [
        "ckpt_0000010.json",
        "ckpt_0000020.json",
    ]
    assert row["scores"]["modes"]["n_modes"] == 8


def test_mean_se_writes_large_figures_whole(results):
    assert results.mean_se([1000]) == "1000"
    assert results.mean_se([2509.4]) == "2509"
    assert results.mean_se([0.2162]) == "0.216"
    assert results.mean_se([93.0, 94.0]) == "93.5 ± 0.5"
    assert results.mean_se([700.0, 900.0]) == "800 ± 100"


def test_drs_row_names_read_gamma_and_refinement_back(results):
    assert results.drs_row_name("") == " + DRS"
    assert results.drs_row_name(results.drs_key(3.0).removeprefix("+drs")) == " + DRS γ=3"
    assert results.drs_row_name(results.drs_key(-1.5).removeprefix("+drs")) == " + DRS γ=-1.5"
    variant = results.drs_key(1.0, refine_steps=2000).removeprefix("+drs")
    assert variant == "-gamma1-refine2000"
    assert results.drs_row_name(variant) == " + DRS γ=1, D refined 2,000 steps"
    assert results.drs_row_name("-refine500") == " + DRS, D refined 500 steps"
    assert results.drs_row_name("-refine500-lr0.001") == " + DRS, D refined 500 steps at lr 0.001"
    fourier = results.DRSOptions(gamma=-10, critic="fourier", refine_steps=1500).score_suffix
    assert (
        results.drs_row_name(fourier.removeprefix("+drs"))
        == " + DRS γ=-10, Fourier critic trained 1,500 steps"
    )
    assert results.drs_row_name("-fourier4-refine5") == " + DRS, Fourier critic (scale 4) trained 5 steps"
    with pytest.raises(ValueError, match="not a DRS score suffix"):
        results.drs_row_name("-gammax")


def test_rescore_adds_drs_scores_to_a_finished_run_without_training_it(results, tmp_path, monkeypatch):
    extra = {"steps": 30, "batch_size": 32}
    row = results.run_one("ring8", "vanilla", 0, tmp_path, extra)
    (tmp_path / "results.jsonl").write_text(json.dumps(row) + "\n")
    run = tmp_path / "ring8" / "vanilla" / "seed0"
    checkpoint = sorted((run / "checkpoint").iterdir())
    before = {p.name: p.read_bytes() for p in checkpoint}
    argv = ["results.py", "--dataset", "ring8", "--seed-list", "0", "--out", str(tmp_path), "--rescore",
            "--drs", "--drs-gamma", "0,1", "--drs-refine-steps", "20"]  # fmt: skip
    monkeypatch.setattr("sys.argv", argv)
    results.main()
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    rows = [restore_nonfinite(json.loads(line)) for line in lines]  # an infinite KL is null + a note
    assert len(rows) == 1 and rows[0]["train_s"] == row["train_s"]
    assert {"modes", "modes+drs-refine20", "modes+drs-gamma1-refine20"} <= set(rows[0]["scores"])
    assert rows[0]["scores"]["modes"] == row["scores"]["modes"]
    assert {p.name: p.read_bytes() for p in checkpoint} == before  # nothing was trained
    names = [r["recipe"] for r in results.with_drs_rows(rows)]
    assert names == ["vanilla", "vanilla + DRS γ=1, D refined 20 steps", "vanilla + DRS, D refined 20 steps"]


def test_table_only_without_runs_names_the_file(results, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        "sys.argv", ["results.py", "--dataset", "ring8", "--out", str(tmp_path), "--table-only"]
    )
    with pytest.raises(SystemExit):
        results.main()
    assert "results.jsonl holds no runs of ring8" in capsys.readouterr().err


def test_set_reads_json_and_bare_words_for_text_fields(results):
    parsed = results.parse_set(
        ["r1=1.0", "pack=2", 'loss="hinge"', "diffaugment=translation", "minibatch_std=true"]
    )
    assert parsed == {
        "r1": 1.0,
        "pack": 2,
        "loss": "hinge",
        "diffaugment": "translation",
        "minibatch_std": True,
    }


@pytest.mark.parametrize(
    ("item", "message"),
    [("r1", "FIELD=VALUE"), ("no_such=1", "not a TrainConfig field"), ("r1=one", "not a JSON value for r1")],
)
def test_set_names_what_is_wrong(results, item, message):
    with pytest.raises(ValueError, match=message):
        results.parse_set([item])


def test_an_unknown_recipe_is_refused_before_any_training(results, tmp_path, monkeypatch, capsys):
    argv = ["results.py", "--dataset", "ring8", "--recipes", "vanilla,no-such", "--out", str(tmp_path)]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit):
        results.main()
    assert "unknown recipe no-such for ring8" in capsys.readouterr().err
    assert not (tmp_path / "results.jsonl").exists()


def test_a_run_is_named_by_its_set_items_and_never_reused_under_other_settings(
    results, tmp_path, monkeypatch, capsys
):
    argv = ["results.py", "--dataset", "ring8", "--seed-list", "0", "--out", str(tmp_path), "--steps", "30"]
    monkeypatch.setattr("sys.argv", [*argv, "--set", "batch_size=32", "--set", "checkpoint_every=10"])
    results.main()
    log = tmp_path / "results.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert (
        rows[0]["set"] == ["batch_size=32", "checkpoint_every=10"] and rows[0]["config"]["batch_size"] == 32
    )
    assert (
        len(rows) == 1 and (tmp_path / "ring8" / "vanilla" / "seed0" / "checkpoint" / "latest.json").is_file()
    )
    # the table names the run by what changes its training, not by what it writes
    assert "| vanilla --set batch_size=32 | 1 |" in capsys.readouterr().out

    results.main()  # the same settings: the finished run is reused, not trained again
    assert log.read_text().splitlines() == [json.dumps(rows[0])]

    monkeypatch.setattr("sys.argv", [*argv, "--set", "batch_size=64", "--set", "checkpoint_every=10"])
    with pytest.raises(SystemExit):
        results.main()
    err = capsys.readouterr().err
    assert "already holds ring8 vanilla seed 0 trained with other settings" in err
    assert "batch_size 32 there, 64 here" in err
    assert len(log.read_text().splitlines()) == 1


def test_the_image_table_gives_each_seeds_smallest_class_share(results):
    def row(seed: int, counts: list[int]) -> dict:
        classifier = {"frechet_distance": 40.0 + seed, "precision": 0.5, "recall": 0.9,
                      "class_coverage": {"histogram": counts}}  # fmt: skip
        return {"dataset": "mnist-5k", "recipe": "r", "seed": seed, "train_s": 10.0, "images_seen": 640,
                "scores": {"classifier": classifier}}  # fmt: skip

    assert results.smallest_class({"class_coverage": {"histogram": [30, 10, 60]}}) == 10.0
    text = results.table([row(0, [30, 10, 60]), row(1, [20, 20, 60])], "mnist-5k")
    header, _, line = text.splitlines()
    assert "smallest class %" in header
    assert line.split("|")[6].strip() == "15 ± 5"  # seeds' smallest classes: 10% and 20%
