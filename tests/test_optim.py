"""The learning-rate schedule: the pure multiplier, and the rates a run actually used."""

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file

from gankit.errors import GankitError
from gankit.training.optim import linear_decay
from gankit.training.resume import resume
from gankit.training.trainer import Trainer, TrainingInterrupted
from tests.test_train import _config as train_config
from tests.test_train import interrupt_after


def _config(tmp_path, **kw):
    return train_config(tmp_path, **{"noise_dim": 8, "tensorboard": False, **kw})


def test_linear_decay_multiplier():
    assert [linear_decay(s, 4, None) for s in range(4)] == [1.0] * 4
    assert [linear_decay(s, 4, 0.0) for s in range(4)] == [1.0, 0.75, 0.5, 0.25]
    assert [linear_decay(s, 8, 0.5) for s in range(8)] == [1, 1, 1, 1, 1.0, 0.75, 0.5, 0.25]
    assert linear_decay(10, 8, 0.5) == 0.0  # past the end (a resume that shortened the run)
    with pytest.raises(ValueError, match="decay start"):
        linear_decay(0, 8, 1.0)


def test_run_uses_the_scheduled_rates(tmp_path):
    Trainer(_config(tmp_path, steps=6, lr_decay_start=0.5, lr_g=1e-3, lr_d=2e-3), progress=False).fit()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    logged = {r["step"]: (r["lr/g"], r["lr/d"]) for r in records if "lr/g" in r}
    for step in range(1, 7):  # the rate of the update that ended at `step`
        factor = linear_decay(step - 1, 6, 0.5)
        assert logged[step] == pytest.approx((1e-3 * factor, 2e-3 * factor))


def test_resume_mid_decay_is_exact(tmp_path):
    full = _config(tmp_path / "a", steps=6, lr_decay_start=0.0, checkpoint_every=100, sample_every=100)
    Trainer(full, progress=False).fit()
    part = Trainer(dataclasses.replace(full, out=str(tmp_path / "b" / "run")), progress=False)
    interrupt_after(part, 3)
    with pytest.raises(TrainingInterrupted, match="interrupted at step 3"):
        part.fit()
    resume(tmp_path / "b" / "run", {}, progress=False).fit()
    a = load_file(tmp_path / "a" / "run" / "generator.safetensors")
    b = load_file(tmp_path / "b" / "run" / "generator.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_resumed_with_a_decay_start_anneals_its_rates_from_there(tmp_path):
    config = _config(tmp_path, steps=4, lr_g=1e-3, lr_d=2e-3, checkpoint_every=100, sample_every=100)
    Trainer(config, progress=False).fit()
    run = tmp_path / "run"
    resume(run, {"steps": 8, "lr_decay_start": 0.5}, progress=False).fit()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = {r["step"]: (r["lr/g"], r["lr/d"]) for r in records if "lr/g" in r}
    for step in range(1, 9):  # constant for the first 4 steps, then 1, 0.75, 0.5, 0.25
        factor = linear_decay(step - 1, 8, 0.5)
        assert logged[step] == pytest.approx((1e-3 * factor, 2e-3 * factor))
    assert json.loads((run / "config.json").read_text())["optimization"]["lr_decay_start"] == 0.5
    with pytest.raises(GankitError, match="options differ from the saved config: lr_g"):
        resume(run, {"steps": 10, "lr_g": 5e-4}, progress=False)  # the base rates stay


@pytest.mark.parametrize("start", [1.0, -0.1])
def test_decay_start_must_be_a_fraction(tmp_path, start):
    with pytest.raises(GankitError, match=r"--lr-decay-start must be a fraction in \[0, 1\)"):
        Trainer(_config(tmp_path, lr_decay_start=start), progress=False)
