"""Pieces that wrap any registered model: conditioning, packing, minibatch std and projection.

Every registered discriminator keeps its layers in `net`, an `nn.Sequential` whose last
layer maps features to one logit; `ComposedDiscriminator` splits it there into a body
and a head, so the options below apply to every model alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ComposedDiscriminator", "ConditionalGenerator", "eval_mode", "minibatch_std", "pack_samples"]


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """`module` in eval mode (BatchNorm's running statistics, no dropout), its own mode put back after."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


class ConditionalGenerator(nn.Module):
    """G(z, y) = base([z, onehot(y)]): the conditional generator of Mirza & Osindero 2014.

    Called without labels it draws classes 0, 1, ..., K-1 in turn (a balanced draw), so
    every tool that calls G(noise) gets an even mix of classes.
    """

    def __init__(self, base: nn.Module, n_classes: int) -> None:
        super().__init__()
        self.base, self.n_classes = base, n_classes

    def forward(self, noise: Tensor, labels: Tensor | None = None) -> Tensor:
        if labels is None:
            labels = torch.arange(len(noise), device=noise.device) % self.n_classes
        onehot = F.one_hot(labels, self.n_classes).to(noise.dtype)  # (N, K)
        return self.base(torch.cat([noise, onehot], dim=1))


def pack_samples(x: Tensor, pack: int) -> Tensor:
    """(N, C, ...) -> (N / pack, pack * C, ...): `pack` consecutive samples as one.

    PacGAN (Lin et al. 2018): a D that judges several samples jointly sees how alike
    they are, which penalizes a generator that drops modes.
    """
    if len(x) % pack:
        raise ValueError(f"--pack {pack}: a batch of {len(x)} samples does not split into packs of {pack}")
    return x.reshape(len(x) // pack, pack * x.shape[1], *x.shape[2:])


def minibatch_std(features: Tensor, group_size: int = 4) -> Tensor:
    """Append the mean standard deviation over groups of samples as one more feature (map).

    The minibatch standard deviation layer of Karras et al. 2018 (Sec. 3): D sees how much
    the samples of a group differ, so a collapsed batch of fakes is easy to reject.
    """
    n = len(features)
    group = min(group_size, n) if n % min(group_size, n) == 0 else n
    grouped = features.reshape(group, n // group, *features.shape[1:])  # sample i -> (i // (n/g), i % (n/g))
    std = (grouped.var(dim=0, unbiased=False) + 1e-8).sqrt()  # (n/g, ...)
    per_group = std.flatten(1).mean(dim=1).repeat(group)  # (n,)
    extra = per_group.view(n, *([1] * (features.dim() - 1))).expand(n, 1, *features.shape[2:])
    return torch.cat([features, extra.to(features.dtype)], dim=1)


def _widen(layer: nn.Module) -> nn.Module:
    """A fresh copy of the head layer with one more input feature (channel) for minibatch std."""
    if isinstance(layer, nn.Linear):
        return nn.Linear(layer.in_features + 1, layer.out_features, bias=layer.bias is not None)
    if isinstance(layer, nn.Conv2d):
        return type(layer)(
            layer.in_channels + 1,
            layer.out_channels,
            layer.kernel_size,
            layer.stride,
            layer.padding,
            bias=layer.bias is not None,
        )
    raise TypeError(f"cannot add a minibatch-std input to a {type(layer).__name__} head")


class ComposedDiscriminator(nn.Module):
    """pack -> body -> [minibatch std] -> head, plus a projection term when conditional.

    The projection discriminator (Miyato & Koyama 2018, eq. (3)):
    D(x, y) = head(phi(x)) + embed(y) . phi(x), with phi the body's features.
    """

    def __init__(
        self,
        base: nn.Module,
        input_shape: tuple[int, ...],
        pack: int = 1,
        use_minibatch_std: bool = False,
        n_classes: int = 0,
    ) -> None:
        super().__init__()
        layers = list(base.net)
        self.body = nn.Sequential(*layers[:-1])
        self.head = _widen(layers[-1]) if use_minibatch_std else layers[-1]
        self.pack, self.use_minibatch_std = pack, use_minibatch_std
        self.embed: nn.Embedding | None = None
        if n_classes:
            self.embed = nn.Embedding(n_classes, self._feature_size(input_shape))
            nn.init.xavier_uniform_(self.embed.weight)

    @torch.no_grad()
    def _feature_size(self, input_shape: tuple[int, ...]) -> int:
        with eval_mode(self.body):
            return self._features(torch.zeros(2 * self.pack, *input_shape))[0].numel()

    def _features(self, x: Tensor) -> Tensor:
        if self.pack > 1:
            x = pack_samples(x, self.pack)
        features = self.body(x)
        return minibatch_std(features) if self.use_minibatch_std else features

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        features = self._features(x)
        logits = self.head(features).reshape(len(features))  # (N / pack,)
        if labels is not None and self.embed is not None:
            logits = logits + (self.embed(labels) * features.flatten(1)).sum(dim=1)
        return logits
