"""Pictures: sample grids, scatter plots of 1-D/2-D samples, and loss curves."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor


def make_grid(images: Tensor, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """uint8 images (N, C, H, W) -> one uint8 picture (rows*H', cols*W', C) with padding."""
    n, c, h, w = images.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    ncol = int(math.ceil(n / nrow))
    grid = torch.zeros(c, ncol * (h + padding) + padding, nrow * (w + padding) + padding, dtype=torch.uint8)
    for i in range(n):
        row, col = divmod(i, nrow)
        top, left = padding + row * (h + padding), padding + col * (w + padding)
        grid[:, top : top + h, left : left + w] = images[i]
    return grid.permute(1, 2, 0).numpy()  # (H', W', C)


def save_png(array: np.ndarray, path: str | Path) -> None:
    """Save an (H, W, C) uint8 array as PNG (gray when C == 1)."""
    from PIL import Image

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    image.save(path)


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_scatter(
    samples: Tensor,
    real: Tensor,
    path: str | Path,
    title: str = "",
    discriminator: Callable[[Tensor], Tensor] | None = None,
) -> None:
    """Generated vs real points: a histogram for 1-D data, a scatter plot for 2-D.

    With `discriminator` (points (n, D) -> probabilities (n,)), D(x) is drawn too: a curve
    on a second axis in 1-D, a heat map under the points in 2-D.
    """
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 5))
    fake_np, real_np = samples.detach().cpu().numpy(), real.cpu().numpy()
    both = np.concatenate([fake_np, real_np])
    low, high = both.min(0), both.max(0)
    pad = 0.1 * (high - low) + 1e-3
    if fake_np.shape[1] == 1:
        bins = np.linspace(low[0], high[0], 60)
        if len(real_np):
            ax.hist(real_np[:, 0], bins=bins, alpha=0.5, density=True, label="data")
        ax.hist(fake_np[:, 0], bins=bins, alpha=0.5, density=True, label="generator")
        if discriminator is not None:
            xs = np.linspace(low[0] - pad[0], high[0] + pad[0], 300, dtype=np.float32)
            d = discriminator(torch.from_numpy(xs)[:, None]).cpu().numpy()
            twin = ax.twinx()
            twin.plot(xs, d, "b--", label="D(x)")
            twin.axhline(0.5, color="gray", lw=0.8)
            twin.set_ylim(0, 1)
            twin.set_ylabel("D(x)")
    else:
        if discriminator is not None:
            gx, gy = np.meshgrid(
                np.linspace(low[0] - pad[0], high[0] + pad[0], 120, dtype=np.float32),
                np.linspace(low[1] - pad[1], high[1] + pad[1], 120, dtype=np.float32),
            )
            grid = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1))
            d = discriminator(grid).cpu().numpy().reshape(gx.shape)
            mesh = ax.pcolormesh(gx, gy, d, cmap="RdBu_r", vmin=0, vmax=1, shading="auto")
            fig.colorbar(mesh, ax=ax, fraction=0.046, label="D(x)")
        if len(real_np):
            ax.scatter(real_np[:, 0], real_np[:, 1], s=2, alpha=0.3, c="k", label="data")
        ax.scatter(fake_np[:, 0], fake_np[:, 1], s=2, alpha=0.6, c="tab:green", label="generator")
        ax.set_aspect("equal")
    ax.legend(loc="upper left")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_loss_curves(records: Sequence[dict[str, Any]], path: str | Path) -> None:
    """Two panels over steps: loss/d and loss/g; mean D output on real and on fake samples
    (the raw scores `logit/real`, `logit/fake` for losses whose D gives no probability)."""
    plt = _figure()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    records = [r for r in records if "loss/d" in r]  # evaluation records have their own keys
    steps = [r["step"] for r in records]
    scores = any("logit/real" in r for r in records)
    real, fake = ("logit/real", "logit/fake") if scores else ("d/real", "d/fake")
    for key, axis in (("loss/d", top), ("loss/g", top), (real, bottom), (fake, bottom)):
        axis.plot(steps, [r.get(key, float("nan")) for r in records], label=key)
    if not scores:
        bottom.axhline(0.5, color="gray", lw=0.8, ls="--", label="D = 1/2")
    top.set_ylabel("loss")
    bottom.set_ylabel("mean D score" if scores else "mean D output")
    bottom.set_xlabel("step")
    top.legend()
    bottom.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
