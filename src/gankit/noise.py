"""The noise prior p_z."""

from __future__ import annotations

import torch
from torch import Tensor

from gankit.errors import GankitError

NOISE_PRIORS = ("uniform", "normal")


def sample_noise(
    prior: str, n: int, dim: int, generator: torch.Generator, device: torch.device | str = "cpu"
) -> Tensor:
    """n draws from p_z: `uniform` on [-1, 1]^dim (the paper, the Keras document) or `normal`."""
    if prior == "uniform":
        return torch.rand(n, dim, generator=generator, device=device) * 2 - 1  # (n, dim)
    if prior == "normal":
        return torch.randn(n, dim, generator=generator, device=device)  # (n, dim)
    raise GankitError(f"unknown noise prior {prior!r}; choose one of: {', '.join(NOISE_PRIORS)}")
