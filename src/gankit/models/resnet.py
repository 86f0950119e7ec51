"""ResNet generator and discriminator in the style of SNGAN (Miyato et al. 2018, Appendix B.4).

G: a linear map to a 4x4 feature map, residual up-blocks (BatchNorm, ReLU, nearest x2,
3x3 convolutions; 1x1 convolution on the shortcut), then BatchNorm, ReLU, 3x3 conv, tanh.
D: an "optimized" first down-block, residual down-blocks (ReLU, 3x3 convs, average pooling),
two blocks at the last resolution, ReLU, global sum pooling, and a linear layer to one logit.
No BatchNorm in D, which suits spectral normalization (`--spectral-norm`) and gradient
penalties. The width is 64 channels throughout (the paper uses 256 in G and 128 in D for
CIFAR-10) so that it trains on a CPU; `width` sets it.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from gankit.models.keras_mnist import keras_init

SIZES = (32, 64, 128, 256)  # every power of two: log2(size/4) up-blocks in G, log2(size/8) down in D


class UpBlock(nn.Module):
    """x -> BN, ReLU, up x2, conv3, BN, ReLU, conv3; plus shortcut up x2, conv1."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(channels_in), nn.BatchNorm2d(channels_out)
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, padding=1)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding=1)
        self.shortcut = nn.Conv2d(channels_in, channels_out, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))  # (N, C', 2H, 2W)


class DownBlock(nn.Module):
    """x -> [ReLU], conv3, ReLU, conv3, [avgpool 2]; plus shortcut conv1, [avgpool 2].

    The first block of D ("optimized") takes the image itself: no ReLU before its first
    convolution, and its shortcut pools before the 1x1 convolution.
    """

    def __init__(self, channels_in: int, channels_out: int, downsample: bool, first: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, padding=1)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding=1)
        self.shortcut = nn.Conv2d(channels_in, channels_out, 1)
        self.downsample, self.first = downsample, first

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        skip = F.avg_pool2d(x, 2) if self.first and self.downsample else x
        skip = self.shortcut(skip)
        if self.downsample and not self.first:
            skip = F.avg_pool2d(skip, 2)
        return h + skip


class SumPool(nn.Module):
    """Global sum pooling: (N, C, H, W) -> (N, C)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.sum(dim=(2, 3))


class ResNetGenerator(nn.Module):
    """noise (N, nz) -> linear -> (N, width, 4, 4) -> log2(size/4) up-blocks -> tanh image."""

    def __init__(self, shape: tuple[int, ...], noise_dim: int = 128, width: int = 64) -> None:
        super().__init__()
        channels, size = shape[0], shape[-1]
        self.width = width
        self.linear = nn.Linear(noise_dim, 4 * 4 * width)
        blocks = [UpBlock(width, width) for _ in range(int(math.log2(size // 4)))]
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Sequential(
            nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, channels, 3, padding=1), nn.Tanh()
        )
        self.apply(keras_init)  # SNGAN's initialisation: Xavier-uniform weights, zero biases

    def forward(self, noise: Tensor) -> Tensor:
        x = self.linear(noise).view(len(noise), self.width, 4, 4)  # (N, width, 4, 4)
        return self.out(self.blocks(x))  # (N, C, size, size)


class ResNetDiscriminator(nn.Module):
    """image -> optimized block (down) -> down-blocks to 8x8 -> 2 blocks at 8x8 -> ReLU, sum -> logit."""

    def __init__(self, shape: tuple[int, ...], width: int = 64) -> None:
        super().__init__()
        channels, size = shape[0], shape[-1]
        n_down = int(math.log2(size // 8))  # 32 px: 2 down-blocks, 64 px: 3, ..., 256 px: 6
        blocks: list[nn.Module] = [DownBlock(channels, width, downsample=True, first=True)]
        blocks += [DownBlock(width, width, downsample=True) for _ in range(n_down - 1)]
        blocks += [DownBlock(width, width, downsample=False) for _ in range(2)]
        self.net = nn.Sequential(*blocks, nn.ReLU(), SumPool(), nn.Linear(width, 1))
        self.apply(keras_init)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)  # (N,)


def build(
    shape: tuple[int, ...], noise_dim: int, g_width: int = 64, d_width: int = 64
) -> tuple[nn.Module, nn.Module]:
    """(G, D) with `g_width` and `d_width` channels in every block."""
    return ResNetGenerator(shape, noise_dim, g_width), ResNetDiscriminator(shape, d_width)
