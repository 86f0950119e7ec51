"""DCGAN (Radford et al. 2016) for 28, 32 and 64 px images.

The guidelines: no pooling (strided convolutions in D, fractionally-strided in G),
BatchNorm in both (not on G's output nor D's input), ReLU in G with a tanh output,
LeakyReLU 0.2 in D, no hidden fully connected layers. At 64 px this is exactly the
network of PyTorch's DCGAN example: five transposed convolutions in G, five
convolutions in D, weights drawn from N(0, 0.02). G's first and D's last layer cover the
whole map and run as one matrix product each (`gankit.models.layers`): same parameters,
same outputs.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from gankit.models.layers import FullConv2d, FullConvTranspose2d

SIZES = (28, 32, 64)


def _plan(size: int) -> tuple[int, int]:
    """(start resolution, number of x2 upsamplings) for an image of `size` pixels."""
    start = 7 if size == 28 else 4
    return start, int(math.log2(size // start))


class DCGANGenerator(nn.Module):
    """noise (N, nz) -> ConvTranspose stack -> tanh image (N, C, size, size)."""

    def __init__(self, shape: tuple[int, ...], noise_dim: int = 100, ngf: int = 64) -> None:
        super().__init__()
        channels, size = shape[0], shape[-1]
        start, n_up = _plan(size)
        width = ngf * 2 ** (n_up - 1)
        layers: list[nn.Module] = [
            FullConvTranspose2d(noise_dim, width, start, 1, 0, bias=False),  # one matrix product
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(n_up - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, noise: Tensor) -> Tensor:
        return self.net(noise[:, :, None, None])  # (N, nz, 1, 1) -> (N, C, H, W)


class DCGANDiscriminator(nn.Module):
    """image (N, C, size, size) -> strided Conv stack -> one logit per image (N,)."""

    def __init__(self, shape: tuple[int, ...], ndf: int = 64) -> None:
        super().__init__()
        channels, size = shape[0], shape[-1]
        start, n_down = _plan(size)
        layers: list[nn.Module] = [
            nn.Conv2d(channels, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        width = ndf
        for _ in range(n_down - 1):
            layers += [
                nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width * 2),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            width *= 2
        layers.append(FullConv2d(width, 1, start, 1, 0, bias=False))  # (N, 1, 1, 1), one matrix product
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).view(x.shape[0])  # (N,)


def dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's initialisation: conv weights ~ N(0, 0.02), BatchNorm gamma ~ N(1, 0.02)."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def build(
    shape: tuple[int, ...], noise_dim: int, g_width: int = 64, d_width: int = 64
) -> tuple[nn.Module, nn.Module]:
    """(G, D) with base widths `g_width` (ngf) and `d_width` (ndf), 64 as in the DCGAN example."""
    return DCGANGenerator(shape, noise_dim, g_width), DCGANDiscriminator(shape, d_width)
