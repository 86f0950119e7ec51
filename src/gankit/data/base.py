"""The two kinds of dataset: images held in memory, and synthetic densities sampled on the fly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.errors import GankitError

VALUE_RANGES = ("tanh", "sigmoid", "linear")


@dataclass(frozen=True)
class DataOptions:
    """Dataset settings that come from the training config."""

    image_size: int | None = None
    channels: int | None = None
    data_dir: str | None = None
    gaussian_mean: float = 4.0
    gaussian_std: float = 0.5
    stack_source: str = "mnist-5k"
    stack_size: int = 50_000
    loader: str = "auto"  # folder: sets: memory, stream, or auto (stream above the memory budget)


def scale_images(images: Tensor, value_range: str) -> Tensor:
    """uint8 pixels -> floats for a generator with a tanh ([-1, 1]) or sigmoid ([0, 1]) output."""
    x = images.float() / 255.0
    if value_range == "tanh":
        return x * 2 - 1
    if value_range in ("sigmoid", "linear"):
        return x
    raise GankitError(f"unknown value range {value_range!r}; choose one of {VALUE_RANGES}")


def to_uint8(x: Tensor, value_range: str) -> Tensor:
    """Inverse of `scale_images`: generator output -> uint8 pixels (clamped)."""
    if value_range == "tanh":
        x = (x + 1) / 2
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


class ImageReader(Protocol):
    """Images read on access: `reader[i]` is a uint8 array (C, H, W)."""

    shape: tuple[int, int, int]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> np.ndarray: ...


@dataclass(frozen=True)
class ImageData:
    """Images as uint8 tensors (N, C, H, W) per split, with labels where the set has them.

    A set too large to hold decoded has `stream`, which reads its training images on access
    (`gankit.data.stream` batches it), and no decoded `train` split; `count` and `images`
    work for both.
    """

    name: str
    splits: dict[str, Tensor]
    labels: dict[str, Tensor] = field(default_factory=dict)
    kind: str = "image"
    home: str | None = None  # a prepared dataset's folder, where caches of it are kept
    classes: tuple[str, ...] = ()  # class names where labels come from sub-folder names
    stream: ImageReader | None = None  # the training images, read on access
    fingerprint: str | None = None  # SHA-256 of the source (a prepared set's manifest, a folder's listing)

    @property
    def shape(self) -> tuple[int, ...]:
        if "train" not in self.splits and self.stream is not None:
            return tuple(self.stream.shape)
        return tuple(self.splits["train"].shape[1:])

    def count(self, split: str = "train") -> int:
        """The number of images in `split`."""
        if split == "train" and "train" not in self.splits and self.stream is not None:
            return len(self.stream)
        if split not in self.splits:
            raise GankitError(f"dataset {self.name} has no split {split!r}")
        return len(self.splits[split])

    def images(self, split: str = "train", index: Tensor | None = None) -> Tensor:
        """uint8 images (n, C, H, W) of `split` at `index` (all where None), decoded where streamed."""
        if split == "train" and "train" not in self.splits and self.stream is not None:
            rows = range(len(self.stream)) if index is None else index.tolist()
            return torch.from_numpy(np.stack([self.stream[i] for i in rows]))
        if split not in self.splits:
            raise GankitError(f"dataset {self.name} has no split {split!r}")
        return self.splits[split] if index is None else self.splits[split][index]

    def tensor(self, split: str = "train", value_range: str = "tanh") -> Tensor:
        """The split as floats scaled for the generator's output range (decoded where streamed)."""
        return scale_images(self.images(split), value_range)


@dataclass(frozen=True)
class ToyData:
    """A synthetic density: `sample(n, generator)` draws fresh points (N, D) on the fly."""

    name: str
    dim: int
    sampler: Callable[[int, torch.Generator], Tensor]
    centers: Tensor | None = None
    sigma: float | None = None
    kind: str = "vector"

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.dim,)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.sampler(n, generator)

    def tensor(self, split: str = "train", value_range: str = "linear", n: int = 10_000) -> Tensor:
        """A fixed, reproducible sample standing in for a split (seed depends on the split)."""
        seeds = {"train": 1, "validation": 2, "test": 3}
        if split not in seeds:
            raise GankitError(f"dataset {self.name} has no split {split!r}")
        return self.sample(n, torch.Generator().manual_seed(seeds[split]))


Dataset = ImageData | ToyData


def resize_images(images: Tensor, size: int) -> Tensor:
    """Resize uint8 (N, C, H, W) to (N, C, size, size) with antialiased bilinear filtering."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True)
    return out.round().clamp(0, 255).to(torch.uint8)
