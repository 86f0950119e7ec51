"""Small MLPs for the synthetic 1-D and 2-D densities."""

from __future__ import annotations

from torch import Tensor, nn


class ToyGenerator(nn.Module):
    """noise -> hidden ReLU -> hidden ReLU -> point in R^dim (linear output)."""

    def __init__(self, dim: int, noise_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(noise_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, dim),
        )

    def forward(self, noise: Tensor) -> Tensor:
        return self.net(noise)  # (N, dim)


class ToyDiscriminator(nn.Module):
    """point in R^dim -> hidden LeakyReLU -> hidden LeakyReLU -> logit."""

    def __init__(self, dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)  # (N,)


def build(shape: tuple[int, ...], noise_dim: int) -> tuple[nn.Module, nn.Module]:
    return ToyGenerator(shape[0], noise_dim), ToyDiscriminator(shape[0])
