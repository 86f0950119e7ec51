"""Pieces that wrap any registered model: conditioning, packing, minibatch features and projection.

Every registered discriminator keeps its layers in `net`, an `nn.Sequential` whose last
layer maps features to one logit; `ComposedDiscriminator` splits it there into a body
and a head, so the options below apply to every model alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ComposedDiscriminator",
    "ConditionalGenerator",
    "MinibatchDiscrimination",
    "eval_mode",
    "factor_labels",
    "minibatch_std",
    "pack_samples",
]


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """`module` in eval mode (BatchNorm's running statistics, no dropout), its own mode put back after."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def factor_labels(labels: Tensor, factors: tuple[int, ...]) -> Tensor:
    """(N,) labels of the product of `factors` classes -> (N, len(factors)) one class per factor.

    Label y stands for the tuple (y_1, ..., y_F) with y = ((y_1 * K_2) + y_2) * K_3 + ...:
    the first factor varies slowest, as in `numpy.ravel_multi_index`.
    """
    digits = []
    for size in reversed(factors):
        digits.append(labels % size)
        labels = torch.div(labels, size, rounding_mode="floor")
    return torch.stack(digits[::-1], dim=1)


def label_width(n_classes: int, factors: tuple[int, ...] = ()) -> int:
    """How many one-hot inputs (or embedding rows) a label takes: K, or K_1 + ... + K_F with factors."""
    return sum(factors) if factors else n_classes


def _check_factors(n_classes: int, factors: tuple[int, ...]) -> None:
    if factors and math.prod(factors) != n_classes:
        raise ValueError(f"label factors {factors} make {math.prod(factors)} classes, not {n_classes}")


class ConditionalGenerator(nn.Module):
    """G(z, y) = base([z, onehot(y)]): the conditional generator of Mirza & Osindero 2014.

    With `factors` (K_1, ..., K_F) a label is a tuple of F classes (`factor_labels`) and G sees
    one one-hot per factor side by side, K_1 + ... + K_F inputs instead of K_1 * ... * K_F.
    Called without labels it draws classes 0, 1, ..., K-1 in turn (a balanced draw), so
    every tool that calls G(noise) gets an even mix of classes.
    """

    def __init__(self, base: nn.Module, n_classes: int, factors: tuple[int, ...] = ()) -> None:
        super().__init__()
        _check_factors(n_classes, tuple(factors))
        self.base, self.n_classes, self.factors = base, n_classes, tuple(factors)

    def forward(self, noise: Tensor, labels: Tensor | None = None) -> Tensor:
        if labels is None:
            labels = torch.arange(len(noise), device=noise.device) % self.n_classes
        if self.factors:
            parts = factor_labels(labels, self.factors)  # (N, F)
            onehot = torch.cat(
                [F.one_hot(parts[:, i], size) for i, size in enumerate(self.factors)], dim=1
            ).to(noise.dtype)  # (N, K_1 + ... + K_F)
        else:
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


def _append_maps(features: Tensor, extra: Tensor) -> Tensor:
    """Concatenate (N, E) `extra` to (N, C, ...) `features` along dim 1, constant over space."""
    shape = (*extra.shape, *([1] * (features.dim() - 2)))
    return torch.cat(
        [features, extra.view(shape).expand(*extra.shape, *features.shape[2:]).to(features.dtype)], dim=1
    )


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
    return _append_maps(features, per_group.view(n, 1))


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination (Salimans et al. 2016, Sec. 3.2): how close each sample is to
    the others of its batch, as `kernels` more features.

    Each sample's features f (flattened) map to M = f T, `kernels` rows of `kernel_dim`; for
    kernel b, o_b(x_i) = sum over j != i of exp(-||M_i,b - M_j,b||_1). A batch that makes
    one kind of sample too often has samples with more close neighbours than a real batch,
    so D can see how often G makes a kind of sample, not only how each sample looks.
    Real and fake batches must go through D apart (the default; not with --d-concat).
    """

    def __init__(self, in_features: int, kernels: int, kernel_dim: int = 5) -> None:
        super().__init__()
        if kernels < 1 or kernel_dim < 1:
            raise ValueError(
                f"minibatch discrimination needs kernels and kernel_dim >= 1, got {kernels}, {kernel_dim}"
            )
        self.kernels, self.kernel_dim = kernels, kernel_dim
        scale = in_features**-0.5  # M's rows start at the features' own scale
        self.weight = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * scale)

    def forward(self, features: Tensor) -> Tensor:
        """(N, ...) features -> (N, kernels) closeness to the batch's other samples."""
        n = len(features)
        rows = (features.flatten(1) @ self.weight.to(features.dtype)).view(n, self.kernels, self.kernel_dim)
        # |M_i - M_j| summed over kernel_dim: (N, N, kernels). Written out rather than with
        # torch.cdist, whose backward has no derivative of its own (R1 and GP need one); it
        # holds N^2 * kernels * kernel_dim numbers (64 MB at batch 256 with 100 kernels of 5).
        distances = (rows.unsqueeze(0) - rows.unsqueeze(1)).abs().sum(dim=3)
        return torch.exp(-distances).sum(dim=1) - 1.0  # exp(0) = 1 is the sample itself


def _widen(layer: nn.Module, extra: int) -> nn.Module:
    """A fresh copy of the head layer with `extra` more input features (channels)."""
    if isinstance(layer, nn.Linear):
        return nn.Linear(layer.in_features + extra, layer.out_features, bias=layer.bias is not None)
    if isinstance(layer, nn.Conv2d):
        return type(layer)(
            layer.in_channels + extra,
            layer.out_channels,
            layer.kernel_size,
            layer.stride,
            layer.padding,
            bias=layer.bias is not None,
        )
    raise TypeError(f"cannot add minibatch features to a {type(layer).__name__} head")


class ComposedDiscriminator(nn.Module):
    """pack -> body -> [minibatch std] [minibatch discrimination] -> head, plus a projection
    term when conditional.

    The projection discriminator (Miyato & Koyama 2018, eq. (3)):
    D(x, y) = head(phi(x)) + embed(y) . phi(x), with phi the body's features (and the
    minibatch features, when on).
    """

    def __init__(
        self,
        base: nn.Module,
        input_shape: tuple[int, ...],
        pack: int = 1,
        use_minibatch_std: bool = False,
        n_classes: int = 0,
        minibatch_kernels: int = 0,
        label_factors: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        _check_factors(n_classes, tuple(label_factors))
        self.label_factors = tuple(label_factors)
        layers = list(base.net)
        self.body = nn.Sequential(*layers[:-1])
        self.pack, self.use_minibatch_std = pack, use_minibatch_std
        extra = int(use_minibatch_std) + minibatch_kernels
        self.head = _widen(layers[-1], extra) if extra else layers[-1]
        self.embed: nn.Embedding | None = None
        self.minibatch_disc: MinibatchDiscrimination | None = None
        if minibatch_kernels:
            body_size = self._probe(input_shape, self._packed_body)
            self.minibatch_disc = MinibatchDiscrimination(body_size, minibatch_kernels)
        if n_classes:  # with label factors, one embedding row per class of each factor, summed
            rows = label_width(n_classes, self.label_factors)
            self.embed = nn.Embedding(rows, self._probe(input_shape, self._features))
            nn.init.xavier_uniform_(self.embed.weight)

    @torch.no_grad()
    def _probe(self, input_shape: tuple[int, ...], stage: Callable[[Tensor], Tensor]) -> int:
        """The number of features per sample that `stage` gives (two zero samples, eval mode)."""
        with eval_mode(self):
            return stage(torch.zeros(2 * self.pack, *input_shape))[0].numel()

    def _packed_body(self, x: Tensor) -> Tensor:
        return self.body(pack_samples(x, self.pack) if self.pack > 1 else x)

    def _features(self, x: Tensor) -> Tensor:
        body = self._packed_body(x)
        features = minibatch_std(body) if self.use_minibatch_std else body
        if self.minibatch_disc is not None:
            features = _append_maps(features, self.minibatch_disc(body))
        return features

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        features = self._features(x)
        logits = self.head(features).reshape(len(features))  # (N / pack,)
        if labels is not None and self.embed is not None:
            logits = logits + (self._embedding(labels) * features.flatten(1)).sum(dim=1)
        return logits

    def _embedding(self, labels: Tensor) -> Tensor:
        """(N, F) projection vectors of `labels`: one row of `embed`, or with label factors the
        sum of one row per factor (rows K_1 + ... + K_{i-1} onwards belong to factor i)."""
        assert self.embed is not None
        if not self.label_factors:
            return self.embed(labels)
        offsets = torch.tensor([0, *self.label_factors[:-1]], device=labels.device).cumsum(0)
        return self.embed(factor_labels(labels, self.label_factors) + offsets).sum(dim=1)
