import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from gankit.config import TrainConfig
from gankit.data import load_dataset, to_uint8
from gankit.errors import GankitError
from gankit.outputs.viz import make_grid
from gankit.training.resume import resume
from gankit.training.trainer import Trainer


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def _config(tmp_path, **kw):
    base = dict(
        dataset="digits",
        model="mlp",
        batch_size=16,
        steps=4,
        out=str(tmp_path / "run"),
        device="cpu",
        sample_every=2,
        checkpoint_every=2,
        log_every=1,
        noise_dim=16,
    )
    return TrainConfig(**{**base, **kw})


def test_g_step_leaves_d_and_d_step_leaves_g(tmp_path, tiny_images):
    trainer = Trainer(_config(tmp_path, model="dcgan", dataset="blobs"), dataset=tiny_images, progress=False)
    d_before, g_before = _params(trainer.discriminator), _params(trainer.generator)
    trainer.gan_step.g_step(trainer.noise(8))
    assert _same(d_before, _params(trainer.discriminator))
    assert not _same(g_before, _params(trainer.generator))
    assert all(p.grad is None for p in trainer.discriminator.parameters())  # D took no gradient
    assert all(p.requires_grad for p in trainer.discriminator.parameters())  # and is unfrozen after
    g_mid = _params(trainer.generator)
    trainer.gan_step.d_step(trainer.batches.next(), trainer.noise(16))
    assert _same(g_mid, _params(trainer.generator))
    assert not _same(d_before, _params(trainer.discriminator))


def test_k_discriminator_steps_per_iteration(tmp_path, tiny_images):
    trainer = Trainer(
        _config(tmp_path, model="dcgan", dataset="blobs", k=3), dataset=tiny_images, progress=False
    )
    calls = []
    original = trainer.gan_step.d_step
    trainer.gan_step.d_step = lambda real, noise, *rest, **kw: (
        calls.append(real.shape[0]) or original(real, noise, *rest, **kw)
    )
    trainer.train_step()
    assert calls == [16, 16, 16]
    assert trainer.opt_g.state_dict()["state"][0]["step"].item() == 1
    assert trainer.opt_d.state_dict()["state"][0]["step"].item() == 3


@pytest.mark.parametrize("model", ["dcgan", "keras-mnist", "mlp"])
def test_short_training_run_per_image_model(tmp_path, tiny_images, model):
    trainer = Trainer(
        _config(tmp_path, model=model, dataset="blobs", steps=3), dataset=tiny_images, progress=False
    )
    trainer.fit()
    run = tmp_path / "run"
    assert (run / "losses.png").is_file()
    # the last grid is the fixed noise batch through the final G, 8 x 8 images of 28 px
    grid = torch.from_numpy(np.array(Image.open(run / "samples" / "step_0000003.png")))
    expected = torch.from_numpy(make_grid(to_uint8(trainer.fixed_samples(), trainer.output), nrow=8))
    assert torch.equal(grid.reshape(expected.shape), expected)
    assert expected.shape[0] > 8 * 28 and expected.shape[1] > 8 * 28
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3
    weights = load_file(run / "generator.safetensors")
    assert all(torch.isfinite(v.float()).all() for v in weights.values())


@pytest.mark.parametrize("dataset", ["gaussian-1d", "ring8", "grid25"])
def test_toy_training_run(tmp_path, dataset):
    Trainer(_config(tmp_path, dataset=dataset, model="toy-mlp", steps=5), progress=False).fit()
    assert (tmp_path / "run" / "samples" / "step_0000005.png").is_file()


def test_gaussian_1d_learns_the_data_mean(tmp_path):
    config = _config(
        tmp_path,
        dataset="gaussian-1d",
        model="toy-mlp",
        steps=800,
        batch_size=128,
        sample_every=800,
        checkpoint_every=800,
        log_every=100,
        noise_dim=1,
        lr_g=1e-3,
        lr_d=1e-3,
    )
    trainer = Trainer(config, progress=False)
    trainer.fit()
    with torch.no_grad():
        fake = trainer.generator(trainer.noise(5000))
    assert fake.mean().item() == pytest.approx(4.0, abs=0.3)
    assert fake.std().item() == pytest.approx(0.5, abs=0.3)


@pytest.mark.parametrize(
    "model,extra",
    [("mlp", {}), ("dcgan", {"image_size": 28, "optimizer": "sgd"}), ("dcgan", {"image_size": 28})],
)
def test_exact_resume_is_bit_identical(tmp_path, model, extra):
    full = _config(tmp_path / "a", model=model, steps=6, **extra)
    Trainer(full, progress=False).fit()
    part = dataclasses.replace(full, steps=3, out=str(tmp_path / "b" / "run"))
    Trainer(part, progress=False).fit()
    resume(tmp_path / "b" / "run", {"steps": 6}, progress=False).fit()
    a = load_file(tmp_path / "a" / "run" / "generator.safetensors")
    b = load_file(tmp_path / "b" / "run" / "generator.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    steps = [line for line in (tmp_path / "b" / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(steps) == 6


def test_resume_refuses_changed_config(tmp_path):
    Trainer(_config(tmp_path, steps=2), progress=False).fit()
    with pytest.raises(GankitError, match="options differ from the saved config: k, lr_d"):
        resume(tmp_path / "run", {"lr_d": 0.1, "k": 2, "steps": 4})
    with pytest.raises(GankitError, match="no config.json"):
        resume(tmp_path / "nothing", {})


def test_epochs_resolve_to_steps(tmp_path):
    trainer = Trainer(_config(tmp_path, steps=None, epochs=2.0, k=2), progress=False)
    n_train = len(trainer.dataset.splits["train"])
    assert trainer.config.optimization.steps == round(2 * (n_train // 16) / 2)
    with pytest.raises(GankitError, match="--epochs needs a dataset of fixed size"):
        Trainer(_config(tmp_path, dataset="ring8", model="toy-mlp", steps=None, epochs=1.0))


def test_a_run_trained_for_epochs_loads_evaluates_and_resumes(tmp_path):
    """config.json records the epochs and the steps they came to; reading it back keeps the epochs."""
    from gankit.cli import main

    out = tmp_path / "run"
    args = ["train", "--dataset", "digits", "--model", "mlp", "--epochs", "0.5", "--batch-size", "64",
            "--noise-dim", "8", "--device", "cpu", "--quiet", "--no-tensorboard",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    per_epoch = load_dataset("digits").count() // 64
    saved = json.loads((out / "config.json").read_text())["optimization"]
    assert saved["epochs"] == 0.5 and saved["steps"] == round(0.5 * per_epoch)
    loaded = TrainConfig.load(out / "config.json")
    assert loaded.optimization.epochs == 0.5 and loaded.optimization.steps is None
    assert main(["eval", str(out), "--metrics", "parzen", "--n", "50"]) == 0
    assert main(["train", "--resume", str(out), "--epochs", "1.0", "--quiet"]) == 0
    assert json.loads((out / "config.json").read_text())["optimization"]["steps"] == per_epoch


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"k": 0}, "--k must be an integer >= 1"),
        ({"loss": "wgan-typo"}, "unknown loss"),
        ({"optimizer": "rmsprop"}, "unknown optimizer"),
        ({"noise": "cauchy"}, "unknown noise"),
        ({"steps": 3, "epochs": 1.0}, "not both"),
        ({"lr_g": -1.0}, "--lr-g must be a finite number > 0"),
        ({"batch_size": 5000}, r"--batch-size 5000: dataset has \d+ examples, fewer than one batch"),
    ],
)
def test_config_errors(tmp_path, changes, message):
    with pytest.raises(GankitError, match=message):
        Trainer(_config(tmp_path, **changes), progress=False)


def interrupt_after(trainer, steps):
    """Send the process a Ctrl-C once `trainer` has finished `steps` steps of its fit."""
    import os
    import signal

    original = trainer.train_step

    def step_then_interrupt():
        stats = original()
        if trainer.step == steps - 1:  # fit counts the step after train_step returns
            os.kill(os.getpid(), signal.SIGINT)
        return stats

    trainer.train_step = step_then_interrupt


def test_ctrl_c_writes_a_checkpoint_then_resume_finishes(tmp_path):
    import signal

    from gankit.outputs.checkpoint import load_checkpoint
    from gankit.training.trainer import TrainingInterrupted

    trainer = Trainer(_config(tmp_path, steps=6, checkpoint_every=100, sample_every=100), progress=False)
    interrupt_after(trainer, 2)
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the suite runs in a background job
    with pytest.raises(TrainingInterrupted, match="interrupted at step 2"):
        trainer.fit()
    assert load_checkpoint(tmp_path / "run" / "checkpoint")["step"] == 2
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    resumed = resume(tmp_path / "run", {}, progress=False)
    assert resumed.step == 2
    resumed.fit()
    assert resumed.step == 6


def test_side_outputs_leave_training_unchanged(tmp_path, monkeypatch):
    """Sample grids, checkpoints, evaluation, the watchers and TensorBoard draw nothing that
    training draws: the mlp's dropout reads torch's global RNG, so any side draw would show."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    quiet = dict(sample_every=10**9, checkpoint_every=10**9, eval_every=10**9, eval_metrics="")
    plain = _config(tmp_path / "plain", steps=8, alarm_collapse=False, tensorboard=False, **quiet)
    busy = dataclasses.replace(
        plain,
        out=str(tmp_path / "busy" / "run"),
        sample_every=2,
        checkpoint_every=3,
        eval_every=4,
        eval_metrics="parzen",
        alarm_collapse=True,
        watch_every=2,
        tensorboard=True,
    )
    for config in (plain, busy):
        Trainer(config, progress=False).fit()
    a = load_file(tmp_path / "plain" / "run" / "generator.safetensors")
    b = load_file(tmp_path / "busy" / "run" / "generator.safetensors")
    assert any(p.name.startswith("step_") for p in (tmp_path / "busy" / "run" / "samples").iterdir())
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_a_dataset_given_from_python_is_the_one_config_json_names(tmp_path, tiny_images, capsys):
    from gankit.cli import main

    config = TrainConfig(model="dcgan", steps=2, batch_size=16, device="cpu", out=str(tmp_path / "run"))
    assert config.data.dataset == "mnist-5k"  # the default, which the run does not train on
    trainer = Trainer(config, dataset=tiny_images, progress=False)
    trainer.fit()
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["data"]["dataset"] == "blobs"
    # a resume cannot load an unregistered in-memory set: it says so instead of training on MNIST
    assert main(["train", "--resume", str(tmp_path / "run"), "--steps", "4"]) == 2
    assert "unknown dataset 'blobs'" in capsys.readouterr().err
