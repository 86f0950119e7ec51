import json

import numpy as np
import pytest
from PIL import Image

from gankit.cli import main
from tests.conftest import train_tiny_run


def _train(tmp_path, *extra):
    return train_tiny_run(tmp_path / "run", *extra)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "--dataset", "nope"], "error: unknown dataset 'nope'"),
        (["train", "--model", "nope"], "error: unknown model 'nope'"),
        (
            ["train", "--dataset", "digits", "--model", "dcgan"],
            "error: model dcgan supports image sizes 28, 32, 64, 128, 256",
        ),
        (
            ["train", "--model", "keras-mnist", "--image-size", "32"],
            "error: model keras-mnist supports image sizes 28",
        ),
        (["train", "--k", "0"], "error: --k must be an integer >= 1"),
        (["train", "--k", "two"], "error: argument --k: invalid int value"),
        (["train", "--bogus"], "error: unrecognized arguments: --bogus"),
        (
            ["train", "--resume", "/nonexistent/run"],
            "error: cannot resume: /nonexistent/run has no config.json",
        ),
        (["sample", "/nonexistent/run", "--out", "x.png"], "error: no run directory or generator"),
    ],
)
def test_error_paths_are_one_line_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(argv))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(message), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_help_lists_options_with_defaults(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # one option per line
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--dataset",
        "--model",
        "--loss",
        "--k",
        "--batch-size",
        "--steps",
        "--epochs",
        "--optimizer",
        "--lr-g",
        "--lr-d",
        "--noise",
        "--noise-dim",
        "--image-size",
        "--seed",
        "--device",
        "--out",
        "--sample-every",
        "--resume",
    ):
        assert option in text
    assert "(default: mnist-5k)" in text and "(default: non-saturating)" in text


def test_dry_run_prints_resolved_config(capsys):
    assert main(["train", "--optimizer", "sgd", "--dry-run"]) == 0
    config = json.loads(capsys.readouterr().out)
    optimization = config["optimization"]  # the nested layout of config.json
    assert optimization["lr_g"] == 1e-3 and optimization["optimizer"] == "sgd" and optimization["nesterov"]


def test_train_outputs_and_sample_formats(tmp_path):
    out = _train(tmp_path)
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"]["model"] == "mlp" and "gankit_version" in config
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"step", "loss/d", "loss/g", "d/real", "d/fake", "time"} <= set(record)
    assert (out / "generator.json").is_file() and (out / "checkpoint" / "latest.json").is_file()

    assert main(["sample", str(out), "--n", "5", "--out", str(tmp_path / "s.npz")]) == 0
    images = np.load(tmp_path / "s.npz")["images"]
    assert images.shape == (5, 8, 8, 1) and images.dtype == np.uint8
    assert (
        main(["sample", str(out / "generator.safetensors"), "--n", "4", "--out", str(tmp_path / "g.png")])
        == 0
    )
    assert Image.open(tmp_path / "g.png").size == (2 + 2 * 10, 2 + 2 * 10)
    assert main(["sample", str(out), "--n", "3", "--out", str(tmp_path / "pngs")]) == 0
    assert sorted(p.name for p in (tmp_path / "pngs").iterdir()) == ["0.png", "1.png", "2.png"]
    # same seed, same samples
    main(["sample", str(out), "--n", "5", "--seed", "0", "--out", str(tmp_path / "t.npz")])
    np.testing.assert_array_equal(np.load(tmp_path / "t.npz")["images"], images)


def test_sample_vector_dataset(tmp_path):
    out = tmp_path / "ring"
    train_tiny_run(out, "--dataset", "ring8", "--model", "toy-mlp", "--steps", "2")
    assert main(["sample", str(out), "--n", "7", "--out", str(tmp_path / "p.npz")]) == 0
    samples = np.load(tmp_path / "p.npz")["samples"]
    assert samples.shape == (7, 2) and samples.dtype == np.float32


def test_resume_via_cli_and_config_mismatch(tmp_path, capsys):
    out = _train(tmp_path)
    assert main(["train", "--resume", str(out), "--steps", "5", "--no-progress"]) == 0
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 5
    assert main(["train", "--resume", str(out), "--steps", "6", "--lr-d", "0.5"]) == 2
    assert "lr_d" in capsys.readouterr().err


def test_sample_from_checkpoint_when_run_was_interrupted(tmp_path):
    out = _train(tmp_path)
    (out / "generator.safetensors").unlink()
    assert main(["sample", str(out), "--n", "2", "--out", str(tmp_path / "c.npz")]) == 0


def test_corrupt_checkpoint_is_a_one_line_error(tmp_path, capsys):
    out = _train(tmp_path)
    for f in (out / "checkpoint").glob("*.safetensors"):
        f.write_bytes(b"garbage")
    assert main(["train", "--resume", str(out), "--steps", "5"]) == 2
    assert capsys.readouterr().err.startswith("error: checkpoint file")


def test_theory_quick_writes_figures_and_table(tmp_path, capsys):
    code = main(["theory", "--quick", "--out", str(tmp_path / "th")])
    text = capsys.readouterr().out
    assert "V(D*,G) = −log4 + 2·JSD" in text and "neural D vs D*" in text
    for name in ("saturation.png", "figure1.png", "figure1.gif", "ring8.png", "ring8.gif"):
        assert (tmp_path / "th" / name).stat().st_size > 1000
    # every row passes, the short Figure 1 run's included (it checks that G moved onto the data)
    assert "  NO" not in text and code == 0
    assert text.count("Figure 1 [quick]") == 2
