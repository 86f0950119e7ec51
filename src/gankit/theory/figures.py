"""Pictures of the theory: the saturation comparison, Figure 1 in 1-D, and its 2-D counterpart on ring8."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from gankit.outputs.viz import _figure
from gankit.theory.divergence import gaussian_pdf
from gankit.theory.empirical import Figure1Run, Snapshot


def plot_saturation(path: Path) -> None:
    """Both generator losses and their gradient sizes against D(G(z)) (the documents' comparison)."""
    plt = _figure()
    d = np.linspace(1e-3, 1 - 1e-3, 500)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(d, np.log1p(-d), label="minimax: log(1 − D(G(z)))")
    left.plot(d, -np.log(d), label="non-saturating: −log D(G(z))")
    left.set_xlabel("D(G(z))")
    left.set_ylabel("generator loss")
    left.legend()
    right.plot(d, d, label="|∂/∂logit| minimax = D")
    right.plot(d, 1 - d, label="|∂/∂logit| non-saturating = 1 − D")
    right.set_xlabel("D(G(z))")
    right.set_ylabel("gradient size")
    right.axvspan(0, 0.1, color="gray", alpha=0.15, label="early training: D rejects fakes")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _draw_figure1_panel(ax, snap: Snapshot, mean: float, std: float, title: str) -> None:
    x = snap.x_grid
    ax.plot(
        x,
        gaussian_pdf(x, mean, std) / gaussian_pdf(np.array(mean), mean, std) * 0.9,
        "k.",
        markersize=2,
        label="p_data",
    )
    hist, edges = np.histogram(snap.samples, bins=x)
    density = hist / max(hist.max(), 1) * 0.9
    ax.plot((edges[1:] + edges[:-1]) / 2, density, "g-", label="p_g")
    ax.plot(x, snap.d_grid, "b--", label="D(x)")
    z_line = -0.35
    for z, gx in zip(snap.z_arrows, snap.x_arrows, strict=True):
        z_pos = x[0] + (z + 1) / 2 * (x[-1] - x[0])
        ax.annotate(
            "",
            xy=(np.clip(gx, x[0], x[-1]), -0.05),
            xytext=(z_pos, z_line),
            arrowprops={"arrowstyle": "->", "lw": 0.6, "color": "gray"},
        )
    ax.axhline(z_line, color="k", lw=0.8)
    ax.text(x[0], z_line - 0.12, "z", fontsize=8)
    ax.set_ylim(-0.55, 1.05)
    ax.set_title(title, fontsize=9)


def render_figure1(run: Figure1Run, png: Path, gif: Path, mean: float = 4.0, std: float = 0.5) -> None:
    """Four stages (a)-(d) as a PNG strip, and every snapshot as an animated GIF."""
    plt = _figure()
    picks = _four_stages(run.snapshots)
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6), sharey=True)
    for ax, snap, label in zip(axes, picks, "abcd", strict=True):
        _draw_figure1_panel(ax, snap, mean, std, f"({label}) step {snap.step}")
    axes[0].legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)

    def frame(snap: Snapshot):
        f, ax = plt.subplots(figsize=(5, 3.6))
        _draw_figure1_panel(ax, snap, mean, std, f"step {snap.step}")
        return f

    save_gif(run.snapshots, frame, gif)


def _four_stages(snapshots: Sequence[Snapshot]) -> list[Snapshot]:
    n = len(snapshots)
    return [snapshots[i] for i in (0, max(1, n // 20), max(2, n // 4), n - 1)]


def save_gif(items: Sequence, make_figure: Callable, path: Path, ms_per_frame: int = 150) -> None:
    """One frame per item: `make_figure(item)` is drawn, rasterised and closed before the next."""
    from PIL import Image

    plt = _figure()
    frames = []
    for item in items:
        fig = make_figure(item)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=70)
        plt.close(fig)
        buffer.seek(0)
        frames.append(Image.open(buffer).convert("P", palette=Image.Palette.ADAPTIVE))
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=ms_per_frame, loop=0)


def render_ring(
    stages: Sequence[tuple[int, np.ndarray, np.ndarray]],
    data: np.ndarray,
    png: Path,
    gif: Path,
    d_fn_grid: tuple[np.ndarray, np.ndarray],
) -> None:
    """ring8 at stages: D(x) heat map (blue low, red high), data (black) and G samples (green)."""
    plt = _figure()
    xx, yy = d_fn_grid

    def draw(ax, step: int, d_map: np.ndarray, fake: np.ndarray) -> None:
        ax.imshow(
            d_map,
            extent=(xx.min(), xx.max(), yy.min(), yy.max()),
            origin="lower",
            cmap="coolwarm",
            vmin=0,
            vmax=1,
        )
        ax.scatter(data[:, 0], data[:, 1], s=1, c="k", alpha=0.4)
        ax.scatter(fake[:, 0], fake[:, 1], s=1, c="g", alpha=0.5)
        ax.set_xlim(xx.min(), xx.max())
        ax.set_ylim(yy.min(), yy.max())
        ax.set_title(f"step {step}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])

    picks = [stages[i] for i in (0, len(stages) // 8, len(stages) // 3, len(stages) - 1)]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.8))
    for ax, (step, d_map, fake) in zip(axes, picks, strict=True):
        draw(ax, step, d_map, fake)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)

    def frame(stage: tuple[int, np.ndarray, np.ndarray]):
        f, ax = plt.subplots(figsize=(4, 4))
        draw(ax, *stage)
        return f

    save_gif(stages, frame, gif)


def ring_stages(
    trainer, steps: int, every: int, span: float = 1.5
) -> tuple[list, tuple[np.ndarray, np.ndarray]]:
    """Train a gankit Trainer on ring8 for `steps`, recording D's heat map and G's samples every `every`."""
    axis = np.linspace(-span, span, 120)
    xx, yy = np.meshgrid(axis, axis)
    grid = torch.tensor(np.stack([xx.ravel(), yy.ravel()], 1), dtype=torch.float32)
    stages = []

    @torch.no_grad()
    def record(step: int) -> None:
        d_map = torch.sigmoid(trainer.discriminator(grid)).reshape(xx.shape).numpy()
        fake = trainer.generator(trainer.fixed_noise[:1000]).numpy()
        stages.append((step, d_map, fake))

    for step in range(steps + 1):
        if step % every == 0 or step == steps:
            record(step)
        if step < steps:
            trainer.train_step()
    return stages, (xx, yy)
