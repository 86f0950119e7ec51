"""The Keras MNIST GAN of the reference document, layer for layer, in PyTorch.

Keras defaults are kept where they matter: Glorot-uniform weights with zero biases,
BatchNormalization with momentum 0.99 (PyTorch's 0.01) and epsilon 1e-3,
UpSampling2D as nearest-neighbour. D's sigmoid output is left to the loss (logits).
"""

from __future__ import annotations

from torch import Tensor, nn


class KerasGenerator(nn.Module):
    """Dense 1024 tanh -> Dense 128*7*7 + BN + tanh -> up x2 -> conv5 64 tanh -> up x2 -> conv5 C tanh.

    `hidden` replaces the three hidden tanh activations (the article's failure experiment uses
    ReLU there); the output stays tanh.
    """

    def __init__(
        self, shape: tuple[int, ...], noise_dim: int = 100, hidden: type[nn.Module] = nn.Tanh
    ) -> None:
        super().__init__()
        channels = shape[0]
        self.dense = nn.Sequential(
            nn.Linear(noise_dim, 1024),
            hidden(),
            nn.Linear(1024, 128 * 7 * 7),
            nn.BatchNorm1d(128 * 7 * 7, eps=1e-3, momentum=0.01),
            hidden(),
        )
        self.conv = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),  # (N, 128, 14, 14)
            nn.Conv2d(128, 64, 5, padding=2),
            hidden(),
            nn.Upsample(scale_factor=2, mode="nearest"),  # (N, 64, 28, 28)
            nn.Conv2d(64, channels, 5, padding=2),
            nn.Tanh(),
        )
        self.apply(keras_init)

    def forward(self, noise: Tensor) -> Tensor:
        x = self.dense(noise).view(noise.shape[0], 128, 7, 7)  # (N, 128, 7, 7)
        return self.conv(x)  # (N, C, 28, 28)


class KerasDiscriminator(nn.Module):
    """conv5 64 'same' tanh, maxpool, conv5 128 'valid' tanh, maxpool, dense 1024 tanh, dense 1."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        channels = shape[0]
        self.net = nn.Sequential(
            nn.Conv2d(channels, 64, 5, padding=2),  # (N, 64, 28, 28)
            nn.Tanh(),
            nn.MaxPool2d(2),  # (N, 64, 14, 14)
            nn.Conv2d(64, 128, 5),  # (N, 128, 10, 10)
            nn.Tanh(),
            nn.MaxPool2d(2),  # (N, 128, 5, 5)
            nn.Flatten(),
            nn.Linear(128 * 5 * 5, 1024),
            nn.Tanh(),
            nn.Linear(1024, 1),
        )
        self.apply(keras_init)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)  # (N,)


def keras_init(module: nn.Module) -> None:
    """Keras' defaults: kernel Glorot-uniform, bias zero."""
    if isinstance(module, nn.Linear | nn.Conv2d):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


def build(shape: tuple[int, ...], noise_dim: int) -> tuple[nn.Module, nn.Module]:
    return KerasGenerator(shape, noise_dim), KerasDiscriminator(shape)


def build_relu(shape: tuple[int, ...], noise_dim: int) -> tuple[nn.Module, nn.Module]:
    """The article's failure experiment: G's hidden activations ReLU instead of tanh."""
    return KerasGenerator(shape, noise_dim, hidden=nn.ReLU), KerasDiscriminator(shape)
