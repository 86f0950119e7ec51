"""The MNIST model of Goodfellow et al. 2014: a ReLU MLP generator and a maxout discriminator."""

from __future__ import annotations

import math

from torch import Tensor, nn


class Maxout(nn.Module):
    """Maxout layer (Goodfellow et al. 2013): the max over `pieces` affine maps per unit."""

    def __init__(self, in_features: int, units: int, pieces: int) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: Tensor) -> Tensor:
        y = self.linear(x).view(x.shape[0], self.units, self.pieces)  # (N, units, pieces)
        return y.amax(dim=2)  # (N, units)


class MLPGenerator(nn.Module):
    """noise -> 1200 ReLU -> 1200 ReLU -> prod(shape) sigmoid, reshaped to `shape`."""

    def __init__(self, shape: tuple[int, ...], noise_dim: int = 100, hidden: int = 1200) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.net = nn.Sequential(
            nn.Linear(noise_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, math.prod(shape)),
            nn.Sigmoid(),
        )

    def forward(self, noise: Tensor) -> Tensor:
        return self.net(noise).view(noise.shape[0], *self.shape)  # (N, *shape)


class MaxoutDiscriminator(nn.Module):
    """Two maxout layers (240 units x 5 pieces) with dropout (0.2 on input, 0.5 hidden) -> 1 logit."""

    def __init__(self, shape: tuple[int, ...], units: int = 240, pieces: int = 5) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.2),
            Maxout(math.prod(shape), units, pieces),
            nn.Dropout(0.5),
            Maxout(units, units, pieces),
            nn.Dropout(0.5),
            nn.Linear(units, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)  # (N,)


def build(shape: tuple[int, ...], noise_dim: int) -> tuple[nn.Module, nn.Module]:
    return MLPGenerator(shape, noise_dim), MaxoutDiscriminator(shape)


def uniform_init(module: nn.Module, irange: float) -> nn.Module:
    """Every weight ~ U(-irange, irange), every bias 0: pylearn2's `irange` initialisation."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.uniform_(layer.weight, -irange, irange)
            nn.init.zeros_(layer.bias)
    return module


def build_2014(shape: tuple[int, ...], noise_dim: int) -> tuple[nn.Module, nn.Module]:
    """The same networks initialised as the paper's released code (its mnist.yaml) does:
    G's weights ~ U(-0.05, 0.05), D's ~ U(-0.005, 0.005), biases 0. (Its G also starts its output
    biases at the logits of the data's pixel means, which a builder given only a shape cannot.)"""
    generator, discriminator = build(shape, noise_dim)
    return uniform_init(generator, 0.05), uniform_init(discriminator, 0.005)
