"""The losses, regularizers, EMA and conditioning of `gankit train`, end to end on tiny runs."""

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file

from gankit.errors import GankitError
from gankit.losses import LOSSES
from gankit.sampling.generator import generate, interpolate, load_generator
from gankit.training.resume import resume
from gankit.training.trainer import Trainer
from tests.test_train import _config as train_config


def _config(tmp_path, **kw):
    """test_train's tiny `mlp` on `digits`, with a smaller noise and no TensorBoard."""
    return train_config(tmp_path, **{"noise_dim": 8, "tensorboard": False, **kw})


def _records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_every_loss_trains(tmp_path, loss):
    trainer = Trainer(_config(tmp_path, loss=loss, steps=3), progress=False)
    trainer.fit()
    record = _records(tmp_path / "run")[-1]
    assert all(torch.isfinite(torch.tensor(record[k])) for k in ("loss/d", "loss/g"))
    probabilistic = LOSSES[loss].probabilistic
    assert ("d/real" in record) == probabilistic and ("logit/real" in record) == (not probabilistic)


def test_r1_is_applied_every_interval(tmp_path):
    Trainer(_config(tmp_path, r1=1.0, r1_interval=2, steps=4), progress=False).fit()
    with_r1 = [r["step"] for r in _records(tmp_path / "run") if "reg/r1" in r]
    assert with_r1 == [1, 3]  # D updates 0 and 2 of 0..3


def test_gradient_penalty_and_pack_on_a_mixture(tmp_path):
    config = _config(tmp_path, dataset="ring8", model="toy-mlp", loss="wasserstein", gp=10.0, pack=2)
    trainer = Trainer(config, progress=False)
    trainer.fit()
    assert "reg/gp" in _records(tmp_path / "run")[-1]
    assert trainer.discriminator(torch.randn(8, 2)).shape == (4,)


RECIPES = {
    "conditional-ema-augment": dict(
        conditional=True,
        ema_half_life=200.0,
        diffaugment="color,translation,cutout",
        r1=1.0,
        r1_interval=2,
        minibatch_std=True,
        spectral_norm=True,
        loss="hinge",
    ),
    "pack-gp-ragan": dict(dataset="ring8", model="toy-mlp", pack=2, gp=1.0, loss="ragan", minibatch_disc=4),
    # clustered at steps 0, 2 and 4: the resume at step 3 must restore the step-2 labels
    "self-condition-ema": dict(self_condition=3, recluster_every=2, ema_half_life=200.0, minibatch_disc=4),
}


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_exact_resume_with_every_option(tmp_path, recipe):
    full = _config(tmp_path / "a", steps=6, **RECIPES[recipe])
    Trainer(full, progress=False).fit()
    part = dataclasses.replace(full, steps=3, out=str(tmp_path / "b" / "run"))
    Trainer(part, progress=False).fit()
    resume(tmp_path / "b" / "run", {"steps": 6}, progress=False).fit()
    names = ["generator.safetensors"] + (
        ["generator_raw.safetensors"] if full.optimization.ema_half_life else []
    )
    for name in names:
        a, b = load_file(tmp_path / "a" / "run" / name), load_file(tmp_path / "b" / "run" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


def test_ema_is_checkpointed_exported_and_sampled_by_default(tmp_path):
    trainer = Trainer(_config(tmp_path, ema_half_life=100.0, steps=4), progress=False)
    trainer.fit()
    run = tmp_path / "run"
    ema, raw = load_file(run / "generator.safetensors"), load_file(run / "generator_raw.safetensors")
    assert any(not torch.equal(ema[k], raw[k]) for k in ema)
    for k, v in trainer.ema.state_dict().items():
        torch.testing.assert_close(ema[k], v)
    for k, v in trainer.generator.state_dict().items():
        torch.testing.assert_close(raw[k], v)
    default, _ = load_generator(run)
    own, _ = load_generator(run, ema=False)
    torch.testing.assert_close(default.state_dict(), trainer.ema.state_dict())
    torch.testing.assert_close(own.state_dict(), trainer.generator.state_dict())
    from gankit.outputs.checkpoint import load_checkpoint

    state = load_checkpoint(run / "checkpoint")
    torch.testing.assert_close(state["generator_ema"], trainer.ema.state_dict())


def test_eval_of_g_own_weights_is_kept_beside_the_ema_scores(tmp_path, monkeypatch):
    from gankit.metrics import evaluate_run

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    config = _config(tmp_path, ema_half_life=100.0, steps=4, eval_metrics="parzen", eval_n=200)
    Trainer(config, progress=False).fit()
    run = tmp_path / "run"
    ema = evaluate_run(run, ["parzen"], n=200)
    own = evaluate_run(run, ["parzen"], n=200, ema=False)
    assert set(ema) == {"parzen"} and set(own) == {"parzen+no-ema"}
    scores = json.loads((run / "eval.json").read_text())["metrics"]
    assert scores["parzen"]["log_likelihood"] == ema["parzen"]["log_likelihood"]
    assert scores["parzen+no-ema"]["log_likelihood"] == own["parzen+no-ema"]["log_likelihood"]
    assert scores["parzen"]["log_likelihood"] != scores["parzen+no-ema"]["log_likelihood"]


def test_conditional_sampling_and_interpolation(tmp_path):
    from gankit.cli import main
    from gankit.noise import sample_noise

    Trainer(_config(tmp_path, conditional=True, steps=2), progress=False).fit()
    generator, info = load_generator(tmp_path / "run")
    assert info.n_classes == 10
    threes = generate(generator, info, 4, seed=1, label=3)
    noise = sample_noise(info.noise, 4, info.noise_dim, torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(threes, generator(noise, torch.full((4,), 3)))
    strips = interpolate(generator, info, rows=2, frames=5, seed=0)  # (10, ...)
    ends = sample_noise(info.noise, 4, info.noise_dim, torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = generator(ends, torch.tensor([0, 0, 1, 1]))  # one class per strip
        torch.testing.assert_close(strips[[0, 4, 5, 9]], expected, atol=1e-5, rtol=1e-5)
    assert main(["sample", str(tmp_path / "run"), "--class", "3", "--out", str(tmp_path / "3.png")]) == 0
    assert main(["sample", str(tmp_path / "run"), "--interpolate", "--out", str(tmp_path / "i.png")]) == 0
    assert (tmp_path / "3.png").stat().st_size > 0 and (tmp_path / "i.png").stat().st_size > 0
    with pytest.raises(GankitError, match="--class must be in 0..9"):
        generate(generator, info, 2, label=10)


def test_class_needs_a_conditional_generator(tmp_path, capsys):
    from gankit.cli import main

    Trainer(_config(tmp_path, steps=1), progress=False).fit()
    assert main(["sample", str(tmp_path / "run"), "--class", "3", "--out", str(tmp_path / "x.png")]) == 2
    assert "--class needs a conditional generator" in capsys.readouterr().err


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"pack": 3}, "--pack 3 must divide --batch-size 16"),
        ({"conditional": True, "pack": 2}, "cannot be combined"),
        ({"diffaugment": "color,flip"}, "--diffaugment: unknown augmentation flip"),
        ({"dataset": "ring8", "model": "toy-mlp", "diffaugment": "color"}, "--diffaugment needs image data"),
        ({"dataset": "ring8", "model": "toy-mlp", "conditional": True}, "--conditional needs a labelled"),
        ({"r1": -1.0}, "--r1 must be a finite number >= 0"),
        ({"ema_half_life": 0.0}, "--ema-half-life must be a finite number > 0"),
        ({"minibatch_disc": -1}, "--minibatch-disc must be an integer >= 0"),
        ({"minibatch_disc": 8, "d_concat": True}, "--d-concat cannot be combined with --minibatch-std"),
        ({"minibatch_std": True, "d_concat": True}, "would mix real and fake"),
    ],
)
def test_recipe_config_errors(tmp_path, changes, message):
    with pytest.raises(GankitError, match=message):
        Trainer(_config(tmp_path, **changes), progress=False)


def test_widths_reach_the_saved_generator_and_drs(tmp_path):
    from gankit.sampling.rejection import load_rejection_sampler

    config = _config(tmp_path, model="dcgan", image_size=28, g_width=8, d_width=4, steps=2)
    trainer = Trainer(config, progress=False)
    trainer.fit()
    generator, info = load_generator(tmp_path / "run")
    assert info.g_width == 8
    assert [m.out_channels for m in generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)] == [
        16,
        8,
        1,
    ]
    expected = generate(trainer.generator, info, 6, seed=3)
    torch.testing.assert_close(generate(generator, info, 6, seed=3), expected)
    judge = load_rejection_sampler(tmp_path / "run", generator, info)
    assert {m.out_channels for m in judge.discriminator.modules() if isinstance(m, torch.nn.Conv2d)} == {
        4,
        8,
        1,
    }
    with pytest.raises(GankitError, match="options differ from the saved config: g_width"):
        resume(tmp_path / "run", {"g_width": 16, "steps": 4}, progress=False)
    with pytest.raises(GankitError, match="--d-width must be an integer >= 1, got 0"):
        config.replace(d_width=0).validated()
