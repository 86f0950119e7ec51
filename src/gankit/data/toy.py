"""Synthetic densities: the paper's 1-D Gaussian and the ring/grid mode-collapse benchmarks."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gankit.data.base import ToyData


def gaussian_1d(mean: float = 4.0, std: float = 0.5) -> ToyData:
    """x ~ N(mean, std^2): the data density of Figure 1 of Goodfellow et al. 2014."""

    def sample(n: int, generator: torch.Generator) -> Tensor:
        return mean + std * torch.randn(n, 1, generator=generator)  # (n, 1)

    return ToyData(name="gaussian-1d", dim=1, sampler=sample, sigma=std)


def mixture(name: str, centers: Tensor, sigma: float) -> ToyData:
    """An equal-weight mixture of isotropic Gaussians with the given centres (K, D)."""

    def sample(n: int, generator: torch.Generator) -> Tensor:
        which = torch.randint(len(centers), (n,), generator=generator)
        noise = torch.randn(n, centers.shape[1], generator=generator)
        return centers[which] + sigma * noise  # (n, D)

    return ToyData(name=name, dim=centers.shape[1], sampler=sample, centers=centers, sigma=sigma)


def ring8() -> ToyData:
    """8 Gaussians at angles 2*pi*i/8 on the unit circle, sigma = 0.01."""
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    centers = torch.stack([angles.cos(), angles.sin()], dim=1).float()  # (8, 2)
    return mixture("ring8", centers, 0.01)


def grid25() -> ToyData:
    """25 Gaussians at {-4, -2, 0, 2, 4}^2, sigma = 0.05."""
    axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    centers = torch.cartesian_prod(axis, axis)  # (25, 2)
    return mixture("grid25", centers, 0.05)
