"""Discriminator rejection sampling: the acceptance rule, the sampler on known densities, and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from gankit.cli import main
from gankit.data import load_dataset
from gankit.errors import GankitError
from gankit.sampling.generator import GeneratorInfo
from gankit.sampling.rejection import (
    DRSOptions,
    FourierCritic,
    RejectionSampler,
    acceptance_probability,
    real_source,
    refine_discriminator,
)
from tests.conftest import train_tiny_run

INFO = GeneratorInfo(model="toy-mlp", shape=(1,), noise="normal", noise_dim=1, output="linear",
                     kind="vector", dataset="test", step=0)  # fmt: skip


class Identity(nn.Module):
    """G(z) = z: p_g is the noise's N(0, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, z: Tensor) -> Tensor:
        return z


def log_ratio(x: Tensor) -> Tensor:
    """log p_data / p_g for p_data = N(0, 0.5^2) and p_g = N(0, 1): the optimal D's logit."""
    return math.log(2.0) - 1.5 * x.pow(2).sum(dim=1)


class OptimalD(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return log_ratio(x)


class PackedOptimalD(nn.Module):
    """The optimal D of packs of 2: p_data(x)p_data(x') / p_g(x)p_g(x') in logit form."""

    def forward(self, x: Tensor) -> Tensor:
        pairs = x.reshape(len(x) // 2, 2, 1)
        return log_ratio(pairs[:, 0]) + log_ratio(pairs[:, 1])


class QuadraticD(nn.Module):
    """logit = a + b x^2, starting at 0: it can express the optimal D's log ratio, log 2 - 1.5 x^2."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.zeros(()))
        self.b = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        return self.a + self.b * x.pow(2).sum(dim=1)


def half_normal(n: int, rng: torch.Generator) -> Tensor:
    """Real data for these tests: N(0, 0.5^2), against p_g = N(0, 1) of `Identity`."""
    return 0.5 * torch.randn(n, 1, generator=rng)


def test_acceptance_probability_is_exact_rejection_at_gamma_zero_and_shifts_with_gamma():
    scores = torch.tensor([-3.0, -1.0, -0.1, 0.0, 0.5])
    p = acceptance_probability(scores, log_m=0.0)
    assert torch.allclose(p, torch.exp(scores).clamp(max=1.0), atol=1e-4)
    assert torch.all(acceptance_probability(scores, 0.0, gamma=1.0) < p)
    assert torch.all(acceptance_probability(scores, 0.0, gamma=-1.0)[:3] > p[:3])
    assert torch.all(p.diff() >= 0)


def test_drs_turns_samples_of_p_g_into_samples_of_p_data_with_the_optimal_d():
    sampler = RejectionSampler(Identity(), OptimalD(), INFO, DRSOptions(burn_in=4000), seed=1)
    noise = torch.randn(6000, 1, generator=torch.Generator().manual_seed(2))
    out = sampler(noise)
    assert out.shape == (6000, 1)
    assert out.std().item() == pytest.approx(0.5, abs=0.03)  # p_g's std is 1
    assert sampler.log_m == pytest.approx(math.log(2.0), abs=1e-3)  # max ratio, reached at x = 0
    assert sampler.acceptance == pytest.approx(0.5, abs=0.03)  # 1 / M
    summary = sampler.summary()
    assert summary["kept"] >= 6000 and summary["candidates"] > summary["kept"]


def test_drs_is_reproducible_under_its_seed_and_leaves_d_alone():
    d = nn.Sequential(nn.Linear(1, 4), nn.BatchNorm1d(4), nn.Linear(4, 1), nn.Flatten(0))
    d.train()
    before = {k: v.clone() for k, v in d.state_dict().items()}
    noise = torch.randn(300, 1, generator=torch.Generator().manual_seed(0))
    a = RejectionSampler(Identity(), d, INFO, DRSOptions(burn_in=500), seed=3)(noise)
    b = RejectionSampler(Identity(), d, INFO, DRSOptions(burn_in=500), seed=3)(noise)
    assert torch.equal(a, b)
    assert d.training and all(torch.equal(before[k], v) for k, v in d.state_dict().items())


def test_drs_with_a_packed_discriminator_moves_samples_towards_p_data():
    sampler = RejectionSampler(Identity(), PackedOptimalD(), INFO, DRSOptions(burn_in=4000, partners=8), 2, 1)
    out = sampler(torch.randn(6000, 1, generator=torch.Generator().manual_seed(2)))
    # Random partners add noise to each score, so the correction is partial, but clear.
    assert 0.45 < out.std().item() < 0.75


class Shifted(nn.Module):
    """A conditional G(z, y) = z + 10 y: class y's p_g is N(10 y, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        return z + 10 * labels[:, None].float()


class ConditionalOptimalD(nn.Module):
    """The optimal projection-style D for p_data(x | y) = N(10 y, s_y^2), s = (0.5, 0.25),
    against `Shifted`: log(1 / s_y) - (x - 10 y)^2 (1 / (2 s_y^2) - 1 / 2)."""

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        s = torch.tensor([0.5, 0.25])[labels]
        u = (x[:, 0] - 10 * labels.float()).pow(2)
        return -torch.log(s) - u * (0.5 / s.pow(2) - 0.5)


CONDITIONAL = GeneratorInfo(**{**INFO.__dict__, "n_classes": 2})


def test_conditional_drs_corrects_each_class_and_keeps_the_labels_asked_for():
    sampler = RejectionSampler(
        Shifted(), ConditionalOptimalD(), CONDITIONAL, DRSOptions(burn_in=4000), seed=1
    )
    labels = torch.arange(8000) % 2
    out = sampler(torch.randn(8000, 1, generator=torch.Generator().manual_seed(2)), labels)
    assert out.shape == (8000, 1)
    # p_g is N(10 y, 1) in both classes; the kept samples follow each class's p_data
    assert out[labels == 0].mean().item() == pytest.approx(0.0, abs=0.03)
    assert out[labels == 0].std().item() == pytest.approx(0.5, abs=0.03)
    assert out[labels == 1].mean().item() == pytest.approx(10.0, abs=0.03)
    assert out[labels == 1].std().item() == pytest.approx(0.25, abs=0.02)
    assert sampler.log_m == pytest.approx(math.log(4.0), abs=1e-3)  # class 1's largest ratio
    # class 0 passes at 0.5 / 4 x 2 ... = 1/4 of its candidates at most; both classes are filled
    assert sampler.acceptance < 0.5


def test_conditional_drs_is_reproducible_and_stops_when_a_class_never_passes():
    labels = torch.arange(300) % 2
    noise = torch.randn(300, 1, generator=torch.Generator().manual_seed(0))
    a = RejectionSampler(Shifted(), ConditionalOptimalD(), CONDITIONAL, DRSOptions(burn_in=500), seed=3)
    b = RejectionSampler(Shifted(), ConditionalOptimalD(), CONDITIONAL, DRSOptions(burn_in=500), seed=3)
    assert torch.equal(a(noise, labels), b(noise, labels))

    class RejectsClass1(ConditionalOptimalD):
        def forward(self, x: Tensor, labels: Tensor) -> Tensor:
            return torch.where(labels == 1, -1e4, super().forward(x, labels))

    sampler = RejectionSampler(Shifted(), RejectsClass1(), CONDITIONAL, DRSOptions(burn_in=500), seed=0)
    with pytest.raises(GankitError, match="redrawn for classes 1 "):
        sampler(noise, labels)


def test_drs_refuses_bad_options_and_what_it_cannot_do_for_conditional_generators():
    with pytest.raises(GankitError, match="burn-in"):
        DRSOptions(burn_in=0).validated()
    with pytest.raises(GankitError, match="gamma"):
        DRSOptions(gamma=float("nan")).validated()
    with pytest.raises(GankitError, match="unpacked discriminator, got pack 2"):
        RejectionSampler(Shifted(), ConditionalOptimalD(), CONDITIONAL, pack=2)
    with pytest.raises(GankitError, match="does not support conditional generators"):
        RejectionSampler(
            Shifted(), ConditionalOptimalD(), CONDITIONAL, DRSOptions(refine_steps=5), real=half_normal
        )
    sampler = RejectionSampler(Shifted(), ConditionalOptimalD(), CONDITIONAL, DRSOptions(burn_in=100))
    with pytest.raises(GankitError, match="needs a label per sample"):
        sampler(torch.randn(10, 1))
    with pytest.raises(GankitError, match="takes no labels"):
        RejectionSampler(Identity(), OptimalD(), INFO)(torch.randn(10, 1), torch.zeros(10, dtype=torch.long))


def test_drs_stops_with_a_clear_error_when_almost_nothing_passes():
    sampler = RejectionSampler(Identity(), OptimalD(), INFO, DRSOptions(burn_in=1000, gamma=30.0), seed=0)
    with pytest.raises(GankitError, match="lower --drs-gamma"):
        sampler(torch.randn(500, 1))


def test_cli_eval_and_sample_with_drs(tmp_path, capsys):
    out = train_tiny_run(tmp_path / "run", "--dataset", "ring8", "--model", "toy-mlp", "--noise-dim", "2",
                         "--steps", "20")  # fmt: skip
    assert main(["eval", str(out), "--metrics", "modes", "--n", "400"]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--metrics", "modes", "--n", "400", "--drs", "--drs-burn-in", "2000"]) == 0
    report = json.loads((out / "eval.json").read_text())["metrics"]
    assert "modes" in report and "modes+drs" in report  # the plain score is kept beside
    sampler = report["modes+drs"]["sampler"]
    assert sampler["method"] == "drs" and sampler["kept"] >= 400 and 0 < sampler["acceptance"] <= 1
    args = [
        "eval",
        str(out),
        "--metrics",
        "modes",
        "--n",
        "400",
        "--drs",
        "--drs-burn-in",
        "2000",
        "--drs-gamma",
        "-2",
    ]
    assert main(args) == 0
    report = json.loads((out / "eval.json").read_text())["metrics"]
    assert {"modes", "modes+drs", "modes+drs-gamma-2"} <= set(report)  # another gamma overwrites nothing
    assert report["modes+drs"]["sampler"] == sampler
    assert main(["sample", str(out), "--n", "50", "--drs", "--out", str(tmp_path / "s.npz")]) == 0
    assert np.load(tmp_path / "s.npz")["samples"].shape == (50, 2)
    assert main(["sample", str(out), "--n", "5", "--drs-gamma", "1", "--out", str(tmp_path / "t.npz")]) == 2
    needs = "--drs-gamma, --drs-burn-in, --drs-critic, --drs-fourier-scale and --drs-refine-* need --drs"
    assert needs in capsys.readouterr().err
    assert main(["eval", str(out), "--drs", "--drs-burn-in", "0"]) == 2
    assert "burn-in must be >= 1" in capsys.readouterr().err


def test_cli_drs_needs_a_checkpoint(tmp_path, capsys):
    out = train_tiny_run(tmp_path / "run", "--dataset", "ring8", "--model", "toy-mlp", "--noise-dim", "2")
    for path in (out / "checkpoint").iterdir():
        path.unlink()
    assert main(["sample", str(out), "--n", "5", "--drs", "--out", str(tmp_path / "s.npz")]) == 2
    assert "holds no checkpoint" in capsys.readouterr().err


def test_cli_sample_with_drs_from_an_image_run_with_dropout_and_batchnorm(tmp_path):
    for model in ("mlp", "dcgan"):  # maxout D with dropout; strided-conv D with BatchNorm
        out = train_tiny_run(tmp_path / model, "--model", model, "--dataset", "mnist-5k", "--steps", "2")
        args = ["--n", "20", "--drs", "--drs-burn-in", "200", "--out", str(tmp_path / f"{model}.npz")]
        assert main(["sample", str(out), *args]) == 0
        assert np.load(tmp_path / f"{model}.npz")["images"].shape == (20, 28, 28, 1)
    assert main(["sample", str(out), *args, "--drs-critic", "fourier", "--drs-refine-steps", "5"]) == 2


def test_cli_sample_and_eval_with_drs_from_conditional_and_self_conditioned_runs(tmp_path):
    out = train_tiny_run(tmp_path / "cond", "--conditional")
    args = ["--n", "20", "--drs", "--drs-burn-in", "200"]
    assert main(["sample", str(out), *args, "--class", "3", "--out", str(tmp_path / "three.npz")]) == 0
    three = np.load(tmp_path / "three.npz")
    assert three["images"].shape == (20, 8, 8, 1)
    assert main(["sample", str(out), *args, "--out", str(tmp_path / "all.npz")]) == 0
    out = train_tiny_run(tmp_path / "self", "--self-condition", "3")
    assert main(["eval", str(out), "--metrics", "parzen", *args]) == 0
    report = json.loads((out / "eval.json").read_text())["metrics"]
    assert report["parzen+drs"]["sampler"]["kept"] >= 20


def test_refining_d_against_a_fixed_g_learns_the_log_density_ratio():
    d = QuadraticD()
    options = DRSOptions(refine_steps=1500, refine_lr=0.02)
    refined = refine_discriminator(d, Identity(), INFO, half_normal, options, seed=0)
    assert refined.a.item() == pytest.approx(math.log(2.0), abs=0.1)  # the optimum of the 2014 game
    assert refined.b.item() == pytest.approx(-1.5, abs=0.2)
    assert d.a.item() == 0.0 and d.b.item() == 0.0  # the caller's D is left alone
    again = refine_discriminator(d, Identity(), INFO, half_normal, options, seed=0)
    assert torch.equal(again.a, refined.a) and torch.equal(again.b, refined.b)


def test_drs_with_a_refined_d_samples_p_data_where_the_raw_d_keeps_everything():
    noise = torch.randn(4000, 1, generator=torch.Generator().manual_seed(2))
    plain = RejectionSampler(Identity(), QuadraticD(), INFO, DRSOptions(burn_in=2000), seed=1)
    assert plain(noise).std().item() == pytest.approx(1.0, abs=0.05)  # logit 0: nothing is rejected
    options = DRSOptions(burn_in=2000, refine_steps=1500, refine_lr=0.02)
    refined = RejectionSampler(Identity(), QuadraticD(), INFO, options, seed=1, real=half_normal)
    assert refined(noise).std().item() == pytest.approx(0.5, abs=0.05)
    assert refined.summary()["refine_steps"] == 1500
    with pytest.raises(GankitError, match="needs real data"):
        RejectionSampler(Identity(), QuadraticD(), INFO, options)
    with pytest.raises(GankitError, match="whole packs of 3"):
        RejectionSampler(
            Identity(), QuadraticD(), INFO, DRSOptions(refine_steps=1, refine_batch=4), 3, real=half_normal
        )
    for bad, match in ((dict(refine_steps=-1), "refine steps"), (dict(refine_lr=0.0), "learning rate"),
                       (dict(refine_batch=0), "refine batch")):  # fmt: skip
        with pytest.raises(GankitError, match=match):
            DRSOptions(**bad).validated()


def test_real_source_draws_training_images_scaled_as_g_outputs():
    dataset = load_dataset("mnist-5k")
    draw = real_source(dataset, "tanh")(5, torch.Generator().manual_seed(0))
    assert draw.shape == (5, 1, 28, 28) and draw.min() >= -1 and draw.max() <= 1
    train = dataset.tensor("train", "tanh")
    assert all(any(torch.equal(x, t) for t in train) for x in draw)
    grid = load_dataset("grid25")
    points = real_source(grid, "linear")(1000, torch.Generator().manual_seed(0))
    assert points.shape == (1000, 2) and points.abs().max() < 4.5


def test_cli_eval_with_a_refined_d(tmp_path, capsys):
    out = train_tiny_run(tmp_path / "run", "--dataset", "ring8", "--model", "toy-mlp", "--noise-dim", "2",
                         "--steps", "20")  # fmt: skip
    args = ["eval", str(out), "--metrics", "modes", "--n", "300", "--drs", "--drs-burn-in", "1000"]
    assert main([*args, "--drs-refine-steps", "30", "--drs-refine-lr", "0.001"]) == 0
    report = json.loads((out / "eval.json").read_text())["metrics"]
    sampler = report["modes+drs-refine30-lr0.001"]["sampler"]
    assert sampler["refine_steps"] == 30 and sampler["refine_lr"] == 0.001
    capsys.readouterr()
    assert main([*args, "--drs-refine-steps", "-1"]) == 2
    assert "refine steps must be >= 0" in capsys.readouterr().err


class Bridged(nn.Module):
    """G(z) = 0.05 z_1, moved to 0.5 when z_2 > 0.8416: N(0, 0.05^2) with a fifth of its mass
    in a second narrow bump, where a mixture's G puts samples between modes."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, z: Tensor) -> Tensor:
        return 0.05 * z[:, :1] + 0.5 * (z[:, 1:] > 0.8416).float()


def narrow_normal(n: int, rng: torch.Generator) -> Tensor:
    return 0.05 * torch.randn(n, 1, generator=rng)


def test_fourier_critic_drs_rejects_a_narrow_bump_that_p_data_lacks():
    info = GeneratorInfo(**{**INFO.__dict__, "noise_dim": 2})
    noise = torch.randn(3000, 2, generator=torch.Generator().manual_seed(3))
    in_bump = lambda x: ((x - 0.5).abs() < 0.15).float().mean().item()  # noqa: E731
    assert in_bump(Bridged()(noise)) == pytest.approx(0.2, abs=0.03)
    options = DRSOptions(burn_in=2000, refine_steps=300, refine_lr=1e-3, critic="fourier")
    critic = FourierCritic(1, scale=options.fourier_scale, seed=0)
    sampler = RejectionSampler(Bridged(), critic, info, options, seed=1, real=narrow_normal)
    kept = sampler(noise)
    assert len(kept) == 3000 and in_bump(kept) < 0.02
    assert kept.std().item() == pytest.approx(0.05, abs=0.01)
    assert sampler.summary()["critic"] == "fourier"
    again = FourierCritic(1, seed=0)
    pairs = zip(critic.state_dict().values(), again.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    assert critic(torch.zeros(7, 1)).shape == (7,)


def test_fourier_critic_options_and_score_names():
    for bad, match in ((dict(critic="forest"), "critic must be one of"),
                       (dict(critic="fourier"), "starts untrained"),
                       (dict(critic="fourier", refine_steps=5, fourier_scale=0.0), "scale"),
                       (dict(fourier_scale=4.0), "only to the fourier critic")):  # fmt: skip
        with pytest.raises(GankitError, match=match):
            DRSOptions(**bad).validated()
    options = DRSOptions(gamma=-10, critic="fourier", refine_steps=1500, refine_lr=1e-3)
    assert options.score_suffix == "+drs-gamma-10-fourier-refine1500-lr0.001"
    assert (
        DRSOptions(critic="fourier", refine_steps=5, fourier_scale=4).score_suffix == "+drs-fourier4-refine5"
    )


def test_cli_eval_with_the_fourier_critic(tmp_path, capsys):
    out = train_tiny_run(tmp_path / "run", "--dataset", "ring8", "--model", "toy-mlp", "--noise-dim", "2",
                         "--steps", "20")  # fmt: skip
    args = ["eval", str(out), "--metrics", "modes", "--n", "300", "--drs", "--drs-burn-in", "1000"]
    assert main([*args, "--drs-critic", "fourier", "--drs-refine-steps", "30", "--drs-gamma", "-5"]) == 0
    sampler = json.loads((out / "eval.json").read_text())["metrics"]["modes+drs-gamma-5-fourier-refine30"][
        "sampler"
    ]
    assert sampler["critic"] == "fourier" and sampler["refine_steps"] == 30
    fourier = [*args, "--drs-critic", "fourier", "--drs-refine-steps", "30"]
    assert main([*fourier, "--drs-fourier-scale", "4", "--drs-gamma", "-5"]) == 0
    assert "modes+drs-gamma-5-fourier4-refine30" in json.loads((out / "eval.json").read_text())["metrics"]
    capsys.readouterr()
    assert main([*args, "--drs-fourier-scale", "4"]) == 2
    assert "only to the fourier critic" in capsys.readouterr().err
    assert main([*args, "--drs-critic", "fourier"]) == 2
    assert "starts untrained" in capsys.readouterr().err
    assert main(["eval", str(out), "--drs-critic", "fourier"]) == 2
    assert "--drs-fourier-scale and --drs-refine-* need --drs" in capsys.readouterr().err
