"""The command line's error boundary: bad input is one `error:` line and exit 2, never a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import gankit.cli as cli
from gankit.cli import main

RING = ["train", "--dataset", "ring8", "--model", "toy-mlp", "--steps", "2", "--device", "cpu", "--quiet"]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--beta1", "1.5"], "--beta1 must be in [0, 1)"),
        (["--beta2", "-0.1"], "--beta2 must be in [0, 1)"),
        (["--momentum", "1.0"], "--momentum must be in [0, 1)"),
        (["--seed", str(2**64)], "--seed must be an integer in [0, "),
        (["--seed", "-1"], "--seed must be an integer in [0, "),
        (["--epochs", "inf"], "--epochs must be a finite number > 0"),
        (["--lr-d", "nan"], "--lr-d must be a finite number > 0"),
        (["--gp", "inf"], "--gp must be a finite number >= 0"),
        (["--dist-timeout", "inf"], "--dist-timeout must be a finite number > 0"),
        (["--gaussian-mean", "nan"], "--gaussian-mean must be finite"),
    ],
)
def test_option_values_outside_their_range_are_one_error_line(tmp_path, capsys, flags, message):
    assert main([*RING, *flags, "--out", str(tmp_path / "r")]) == 2
    assert message in _one_error_line(capsys)
    assert not (tmp_path / "r").exists()  # nothing was written


def test_an_out_that_is_a_file_is_one_error_line_naming_it(tmp_path, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("not a directory")
    assert main([*RING, "--out", str(blocker / "run")]) == 2
    assert str(blocker) in _one_error_line(capsys)
    assert blocker.read_text() == "not a directory"


def test_an_unexpected_error_is_one_line_with_a_log_of_its_traceback(monkeypatch, capsys):
    def broken(args):
        raise ZeroDivisionError("something gankit did not foresee")

    monkeypatch.setitem(cli.COMMANDS, "report", broken)
    assert main(["report", "anywhere"]) == 1
    line = _one_error_line(capsys)
    assert "unexpected ZeroDivisionError: something gankit did not foresee" in line
    log = Path(re.search(r"traceback in (\S+);", line).group(1))
    assert "Traceback" in log.read_text() and "ZeroDivisionError" in log.read_text()
    log.unlink()
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "report", "anywhere"])


def test_eval_of_a_folder_run_says_what_applies_instead_of_writing_nothing(tmp_path, capsys, monkeypatch):
    import numpy as np
    from PIL import Image

    images = tmp_path / "imgs"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(images / f"{i}.png")
    run = tmp_path / "run"
    args = ["train", "--dataset", f"folder:{images}", "--image-size", "32", "--model", "dcgan",
            "--g-width", "8", "--d-width", "8", "--batch-size", "4", "--steps", "2", "--device", "cpu",
            "--quiet", "--no-tensorboard", "--out", str(run)]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    monkeypatch.delenv("GANKIT_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # no cached weights either
    assert main(["eval", str(run)]) == 2  # inception is the metric that applies; its weights are absent
    line = _one_error_line(capsys)
    assert "need the Inception-v3 weights" in line and "--inception-weights PATH" in line, line
    assert main(["eval", str(run), "--inception-weights", str(tmp_path / "nope.pth")]) == 2
    assert "--inception-weights" in _one_error_line(capsys)
    again = ["train", *args[1:-1], str(tmp_path / "run2"), "--eval-every", "1", "--eval-metrics", "inception"]
    assert main(again) == 2  # refused before the first step, not after
    assert "need the Inception-v3 weights" in _one_error_line(capsys) and not (tmp_path / "run2").exists()
    assert main(["eval", str(run), "--metrics", "parzen"]) == 2
    line = _one_error_line(capsys)
    assert "metric parzen does not apply to dataset folder:" in line and "it needs image data with" in line
    assert not (run / "eval.json").exists()
