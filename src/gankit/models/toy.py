"""Small MLPs for the synthetic 1-D and 2-D densities."""

from __future__ import annotations

from torch import Tensor, nn

from gankit.models.mlp import Maxout


class ToyGenerator(nn.Module):
    """noise -> `depth` hidden ReLU layers of `hidden` units -> point in R^dim (linear output)."""

    def __init__(self, dim: int, noise_dim: int, hidden: int = 128, depth: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = noise_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, dim))

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


def build_deep(shape: tuple[int, ...], noise_dim: int) -> tuple[nn.Module, nn.Module]:
    """`build` with a deeper, wider G (three ReLU layers of 256) and the same D.

    A ReLU network is piecewise linear; more layers give it many more pieces, so G can
    jump more steeply between separate modes and put less mass on the bridges between them.
    """
    return ToyGenerator(shape[0], noise_dim, hidden=256, depth=3), ToyDiscriminator(shape[0])


class PacGANGenerator(nn.Module):
    """noise -> four ReLU layers of 400 units with BatchNorm -> point (linear output).

    The generator of PacGAN's 2-D experiments (Lin et al. 2018, appendix).
    """

    def __init__(self, dim: int, noise_dim: int, hidden: int = 400, depth: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = noise_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(hidden, dim))

    def forward(self, noise: Tensor) -> Tensor:
        return self.net(noise)  # (N, dim)


class PacGANDiscriminator(nn.Module):
    """point -> three maxout layers of 200 units (5 pieces) -> logit (Lin et al. 2018, appendix)."""

    def __init__(self, dim: int, hidden: int = 200, depth: int = 3, pieces: int = 5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = dim
        for _ in range(depth):
            layers.append(Maxout(width, hidden, pieces))
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(hidden, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)  # (N,)


def build_pacgan(shape: tuple[int, ...], noise_dim: int) -> tuple[nn.Module, nn.Module]:
    return PacGANGenerator(shape[0], noise_dim), PacGANDiscriminator(shape[0])
