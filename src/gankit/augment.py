"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for images in [-1, 1] or [0, 1].

The same random transformations are applied to real and fake batches before D sees them,
in D's step and in G's step alike; every operation is differentiable in the pixels, so G
learns through them. Randomness comes from a `torch.Generator` the caller owns (and
checkpoints), so a resumed run draws the same augmentations.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["AUGMENTATIONS", "diff_augment", "parse_policy"]


def _uniform(x: Tensor, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    return torch.rand(shape, generator=generator, device=generator.device).to(x.device, x.dtype)


def color(x: Tensor, generator: torch.Generator) -> Tensor:
    """Random brightness (+[-0.5, 0.5]), saturation (x[0, 2]) and contrast (x[0.5, 1.5]) per image."""
    n = len(x)
    x = x + (_uniform(x, (n, 1, 1, 1), generator) - 0.5)
    mean = x.mean(dim=1, keepdim=True)  # (N, 1, H, W)
    x = (x - mean) * (_uniform(x, (n, 1, 1, 1), generator) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (N, 1, 1, 1)
    return (x - mean) * (_uniform(x, (n, 1, 1, 1), generator) + 0.5) + mean


def translation(x: Tensor, generator: torch.Generator, ratio: float = 0.125) -> Tensor:
    """Shift each image by up to `ratio` of its size in each direction, filling with zeros."""
    n, _, h, w = x.shape
    limit_h, limit_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    shift_h = (_uniform(x, (n, 1, 1), generator) * (2 * limit_h + 1)).long() - limit_h
    shift_w = (_uniform(x, (n, 1, 1), generator) * (2 * limit_w + 1)).long() - limit_w
    rows = torch.arange(h, device=x.device)[None, :, None] - shift_h  # (N, H, 1)
    cols = torch.arange(w, device=x.device)[None, None, :] - shift_w  # (N, 1, W)
    inside = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).to(x.dtype)  # (N, H, W)
    batch = torch.arange(n, device=x.device)[:, None, None]
    moved = x.permute(0, 2, 3, 1)[batch, rows.clamp(0, h - 1), cols.clamp(0, w - 1)]  # (N, H, W, C)
    return moved.permute(0, 3, 1, 2) * inside[:, None]


def cutout(x: Tensor, generator: torch.Generator, ratio: float = 0.5) -> Tensor:
    """Zero a square of `ratio` times the image size at a random place in each image."""
    n, _, h, w = x.shape
    size_h, size_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = (_uniform(x, (n, 1, 1), generator) * (h + 1 - size_h % 2)).long() - size_h // 2
    left = (_uniform(x, (n, 1, 1), generator) * (w + 1 - size_w % 2)).long() - size_w // 2
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    hole = (rows >= top) & (rows < top + size_h) & (cols >= left) & (cols < left + size_w)  # (N, H, W)
    return x * (~hole).to(x.dtype)[:, None]


AUGMENTATIONS: dict[str, Callable[[Tensor, torch.Generator], Tensor]] = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
}


def parse_policy(policy: str) -> tuple[str, ...]:
    """'color,translation,cutout' -> the names, checked; a ValueError names an unknown one."""
    names = tuple(name.strip() for name in policy.split(",") if name.strip())
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown or not names:
        named = ", ".join(unknown) or repr(policy)
        raise ValueError(f"unknown augmentation {named}; choose from: {', '.join(AUGMENTATIONS)}")
    return names


def diff_augment(x: Tensor, policy: tuple[str, ...], generator: torch.Generator) -> Tensor:
    """Apply the augmentations of `policy` in order to a batch (N, C, H, W)."""
    if x.dim() != 4:
        raise ValueError(f"DiffAugment needs image batches (N, C, H, W), got shape {tuple(x.shape)}")
    for name in policy:
        x = AUGMENTATIONS[name](x, generator)
    return x
