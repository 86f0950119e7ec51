"""Stacked MNIST (VEEGAN/PacGAN): three random digits as the R, G and B channels of one image.

With 10 classes per channel the set has 1,000 modes; a generator's mode coverage is
counted by classifying each channel with a single-digit classifier.
"""

from __future__ import annotations

import torch

from gankit.data.base import ImageData
from gankit.errors import GankitError

STACK_SOURCES = ("mnist-5k", "mnist", "fashion-mnist", "digits")


def stack_digits(source: ImageData, train_size: int, seed: int = 0) -> ImageData:
    """Stack three independently drawn images of each split of `source` into one 3-channel image.

    The train split gets `train_size` images; the other splits as many as the source split
    has. The label of a stacked image is 100 * label(R) + 10 * label(G) + label(B).
    """
    if source.shape[0] != 1:
        raise GankitError(f"stacked-mnist needs a one-channel source, {source.name} has {source.shape[0]}")
    if "train" not in source.labels:
        raise GankitError(f"stacked-mnist needs a labelled source; {source.name} has no labels")
    gen = torch.Generator().manual_seed(seed)
    splits, labels = {}, {}
    for split, images in source.splits.items():
        n = train_size if split == "train" else len(images)
        idx = torch.randint(0, len(images), (n, 3), generator=gen)  # (n, 3): one source image per channel
        splits[split] = images[idx, 0]  # (n, 3, H, W)
        digit = source.labels[split][idx]  # (n, 3)
        labels[split] = digit[:, 0] * 100 + digit[:, 1] * 10 + digit[:, 2]
    return ImageData(f"stacked-mnist({source.name})", splits, labels)


def channel_digits(labels: torch.Tensor) -> torch.Tensor:
    """Stacked labels (n,) -> per-channel digits (n, 3)."""
    return torch.stack([labels // 100, labels // 10 % 10, labels % 10], dim=1)
