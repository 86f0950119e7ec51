"""DCGAN (Radford et al. 2016) for 28 px images and every power of two from 32 to 256 px.

The guidelines: no pooling (strided convolutions in D, fractionally-strided in G),
BatchNorm in both (not on G's output nor D's input), ReLU in G with a tanh output,
LeakyReLU 0.2 in D, no hidden fully connected layers. At 64 px this is exactly the
network of PyTorch's DCGAN example: five transposed convolutions in G, five
convolutions in D, weights drawn from N(0, 0.02). G's first and D's last layer cover the
whole map and run as one matrix product each (`gankit.models.layers`): same parameters,
same outputs. One builder serves every size: each x2 stage halves the channel count, which
is capped at 8 times the base width (the example's widest layer), so 128 and 256 px add
stages at that width instead of doubling it again.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from gankit.models.layers import FullConv2d, FullConvTranspose2d

SIZES = (28, 32, 64, 128, 256)
MAX_WIDTH_FACTOR = 8  # the widest layer: 8 x the base width, as at 64 px in the DCGAN example


def _plan(size: int) -> tuple[int, int]:
    """(start resolution, number of x2 upsamplings) for an image of `size` pixels."""
    start = 7 if size == 28 else 4
    return start, int(math.log2(size // start))


def stage_widths(base: int, stages: int) -> list[int]:
    """Channel counts of G's feature maps from the smallest map up (D's, read backwards):
    base x 2^(stages-1), ..., base x 2, base, capped at `MAX_WIDTH_FACTOR` x base."""
    return [base * min(MAX_WIDTH_FACTOR, 2 ** (stages - 1 - i)) for i in range(stages)]


class DCGANGenerator(nn.Module):
    """noise (N, nz) -> ConvTranspose stack -> tanh image (N, C, size, size)."""

    def __init__(self, shape: tuple[int, ...], noise_dim: int = 100, ngf: int = 64) -> None:
        super().__init__()
        channels, size = shape[0], shape[-1]
        start, n_up = _plan(size)
        widths = stage_widths(ngf, n_up)
        layers: list[nn.Module] = [
            FullConvTranspose2d(noise_dim, widths[0], start, 1, 0, bias=False),  # one matrix product
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for width_in, width_out in zip(widths, widths[1:], strict=False):
            layers += [
                nn.ConvTranspose2d(width_in, width_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width_out),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
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
        widths = stage_widths(ndf, n_down)[::-1]  # ndf, 2 ndf, ... from the image down
        layers: list[nn.Module] = [
            nn.Conv2d(channels, widths[0], 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for width_in, width_out in zip(widths, widths[1:], strict=False):
            layers += [
                nn.Conv2d(width_in, width_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width_out),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        layers.append(FullConv2d(widths[-1], 1, start, 1, 0, bias=False))  # (N, 1, 1, 1), one matrix product
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
