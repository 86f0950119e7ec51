"""The theory tested with real training: a neural D against a fixed G, and the 1-D GAN of Figure 1."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

import numpy as np
import torch
from scipy.stats import norm
from torch import Tensor, nn

from gankit.losses import discriminator_loss, generator_non_saturating
from gankit.theory.divergence import gaussian_pdf, jsd, optimal_discriminator

P = ParamSpec("P")
R = TypeVar("R")


def mlp_1d(hidden: int, input_scale: float = 1.0) -> nn.Module:
    """A smooth 1 -> hidden -> hidden -> 1 tanh network.

    `input_scale` multiplies the first layer's initial weights and biases: the default
    init gives tanh units with slopes of at most 1 on [-1, 1], too gentle to bend the
    uniform noise into a Gaussian's tails, where the inverse CDF grows steep.
    """
    net = nn.Sequential(
        nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1)
    )
    with torch.no_grad():
        net[0].weight.mul_(input_scale)
        net[0].bias.mul_(input_scale)
    return net


def _decayed(opt: torch.optim.Optimizer, base: float, fraction: float, final: float = 0.01) -> None:
    for group in opt.param_groups:
        group["lr"] = base * final**fraction


@dataclass(frozen=True)
class DiscriminatorFit:
    """A neural D trained against fixed densities, compared with D* and C(G)."""

    max_abs_error: float  # max |D(x) - D*(x)| over the central 99% of (p_data + p_g)/2
    v_estimate: float  # sample estimate of V(D, G) with the trained D
    c_of_g: float  # -log 4 + 2 JSD(p_data || p_g), by quadrature on a grid
    interval: tuple[float, float]


def central_interval(pdf: np.ndarray, x: np.ndarray, mass: float = 0.99) -> tuple[float, float]:
    cdf = np.cumsum(pdf) * (x[1] - x[0])
    tail = (1 - mass) / 2
    return float(x[np.searchsorted(cdf, tail)]), float(x[np.searchsorted(cdf, 1 - tail)])


def fit_discriminator(
    data: tuple[float, float] = (4.0, 0.5),
    fake: tuple[float, float] = (4.5, 0.7),
    steps: int = 2000,
    batch: int = 4096,
    seed: int = 0,
) -> DiscriminatorFit:
    """Train D on samples of p_data = N(data) and a fixed p_g = N(fake) (Proposition 1 in practice)."""
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    net, centre = mlp_1d(64), (data[0] + fake[0]) / 2

    def d_logit(x: Tensor) -> Tensor:
        return net(x - centre).squeeze(1)  # (n,)

    def draw(n: int) -> tuple[Tensor, Tensor]:
        return (
            data[0] + data[1] * torch.randn(n, 1, generator=rng),
            fake[0] + fake[1] * torch.randn(n, 1, generator=rng),
        )

    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for step in range(steps):
        _decayed(opt, 3e-3, step / steps)
        real, fake_x = draw(batch)
        loss = discriminator_loss(d_logit(real), d_logit(fake_x))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    x = np.linspace(-10, 20, 300_001)
    p_data, p_g = gaussian_pdf(x, *data), gaussian_pdf(x, *fake)
    low, high = central_interval((p_data + p_g) / 2, x)
    grid = np.linspace(low, high, 2000)
    with torch.no_grad():
        d = torch.sigmoid(d_logit(torch.tensor(grid, dtype=torch.float32)[:, None])).numpy()
        real, fake_x = draw(200_000)
        v = (
            nn.functional.logsigmoid(d_logit(real)).mean() + nn.functional.logsigmoid(-d_logit(fake_x)).mean()
        ).item()
    d_star = optimal_discriminator(gaussian_pdf(grid, *data), gaussian_pdf(grid, *fake))
    return DiscriminatorFit(
        float(np.abs(d - d_star).max()), v, -math.log(4) + 2 * jsd(p_data, p_g, x), (low, high)
    )


def histogram_jsd(samples: np.ndarray, mean: float, std: float, bins: int = 200) -> float:
    """JSD(N(mean, std^2) || samples) on `bins` equal bins over mean ± 5 std plus two tail bins."""
    edges = np.concatenate([[-np.inf], np.linspace(mean - 5 * std, mean + 5 * std, bins + 1), [np.inf]])
    p_g = np.histogram(samples, edges)[0] / len(samples)
    p_data = np.diff(norm.cdf(edges, mean, std))
    return jsd(p_data / p_data.sum(), p_g)


def _on_one_thread(fn: Callable[P, R]) -> Callable[P, R]:
    """Run `fn` with torch on one intra-op thread, restoring the thread count afterwards."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper


@dataclass
class Snapshot:
    """What Figure 1 draws at one moment: G's samples, the z -> x map, and D on a grid."""

    step: int
    samples: np.ndarray
    z_arrows: np.ndarray
    x_arrows: np.ndarray
    x_grid: np.ndarray
    d_grid: np.ndarray


@dataclass
class Figure1Run:
    snapshots: list[Snapshot] = field(default_factory=list)
    jsd_curve: list[tuple[int, float]] = field(default_factory=list)
    final_jsd: float = float("nan")
    final_d_max_dev: float = float("nan")  # max |D(x) - 1/2| where p_data has 99% of its mass


@_on_one_thread
def train_figure1(
    mean: float = 4.0,
    std: float = 0.5,
    steps: int = 36000,
    k: int = 5,
    batch: int = 1024,
    hidden: int = 32,
    seed: int = 0,
    snapshot_every: int = 900,
    lr_decay: float = 0.1,
    g_input_scale: float = 4.0,
) -> Figure1Run:
    """The paper's Figure 1 setting: z ~ U[-1, 1] mapped by G onto N(mean, std^2) while D flattens.

    Algorithm 1 with k D steps per G step and the non-saturating G loss; learning
    rates decay geometrically to `lr_decay` times their start. D sees (x - mean)/std.
    G's first layer starts `g_input_scale` times steeper than the default (see `mlp_1d`).
    Runs on one CPU thread: the networks are tiny, and the result is then the same on any
    machine with this torch build, whatever its core count.
    """
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    g_net, d_net = mlp_1d(hidden, g_input_scale), mlp_1d(hidden)
    with torch.no_grad():
        g_net[-1].bias.fill_(mean - 2 * std)  # start off the data, as in panel (a)
    opt_g = torch.optim.Adam(g_net.parameters(), 1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d_net.parameters(), 1e-3, betas=(0.5, 0.999))

    def d_logit(x: Tensor) -> Tensor:
        return d_net((x - mean) / std).squeeze(1)

    def noise(n: int) -> Tensor:
        return torch.rand(n, 1, generator=rng) * 2 - 1  # (n, 1)

    def real(n: int) -> Tensor:
        return mean + std * torch.randn(n, 1, generator=rng)  # (n, 1)

    snapshot_rng = torch.Generator().manual_seed(seed + 1)  # drawing a snapshot leaves training as it is

    def snapshot_noise(n: int) -> Tensor:
        return torch.rand(n, 1, generator=snapshot_rng) * 2 - 1  # (n, 1)

    run = Figure1Run()
    x_grid = np.linspace(mean - 4 * std, mean + 4 * std, 400)
    for step in range(steps + 1):
        if step % snapshot_every == 0 or step == steps:
            run.snapshots.append(_snapshot(step, g_net, d_logit, snapshot_noise, x_grid))
            run.jsd_curve.append((step, histogram_jsd(run.snapshots[-1].samples, mean, std)))
        if step == steps:
            break
        for opt in (opt_g, opt_d):
            _decayed(opt, 1e-3, step / steps, lr_decay)
        _algorithm1_iteration(g_net, d_net, d_logit, (opt_g, opt_d), real, noise, k, batch)
    run.final_jsd = run.jsd_curve[-1][1]
    z = norm.ppf([0.005, 0.995], mean, std)
    with torch.no_grad():
        xs = torch.linspace(float(z[0]), float(z[1]), 500)[:, None]
        run.final_d_max_dev = float((torch.sigmoid(d_logit(xs)) - 0.5).abs().max())
    return run


def _algorithm1_iteration(
    g_net: nn.Module,
    d_net: nn.Module,
    d_logit: Callable[[Tensor], Tensor],
    optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer],
    real: Callable[[int], Tensor],
    noise: Callable[[int], Tensor],
    k: int,
    batch: int,
) -> None:
    """k D steps on `batch` real and fake samples, then one non-saturating G step through a frozen D."""
    opt_g, opt_d = optimizers
    for _ in range(k):
        x_real = real(batch)
        with torch.no_grad():
            fake = g_net(noise(batch))
        loss = discriminator_loss(d_logit(x_real), d_logit(fake))
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        opt_d.step()
    d_net.requires_grad_(False)
    loss = generator_non_saturating(None, d_logit(g_net(noise(batch))))
    opt_g.zero_grad(set_to_none=True)
    loss.backward()
    opt_g.step()
    d_net.requires_grad_(True)


@torch.no_grad()
def _snapshot(step: int, g_net: nn.Module, d_logit, noise, x_grid: np.ndarray) -> Snapshot:
    samples = g_net(noise(100_000)).squeeze(1).numpy()
    z_arrows = np.linspace(-1, 1, 21)
    x_arrows = g_net(torch.tensor(z_arrows, dtype=torch.float32)[:, None]).squeeze(1).numpy()
    d_grid = torch.sigmoid(d_logit(torch.tensor(x_grid, dtype=torch.float32)[:, None])).numpy()
    return Snapshot(step, samples, z_arrows, x_arrows, x_grid, d_grid)
