"""Datasets by name. Images come as uint8 tensors, scaled for the generator on access.

`load_dataset(name, options)` knows: mnist-5k (offline default), mnist, fashion-mnist,
digits, stacked-mnist, gaussian-1d, ring8, grid25, and folder:PATH.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
from torch import Tensor

from gankit.data import mnist, toy
from gankit.data.base import (
    DataOptions,
    Dataset,
    ImageData,
    ToyData,
    resize_images,
    scale_images,
    to_uint8,
)
from gankit.data.folder import load_folder
from gankit.data.stacked import STACK_SOURCES, stack_digits
from gankit.errors import GankitError
from gankit.registry import adopt_reference, note_origin

DATASETS = (
    "mnist-5k",
    "mnist",
    "fashion-mnist",
    "digits",
    "stacked-mnist",
    "gaussian-1d",
    "ring8",
    "grid25",
)
# The built-in sets of points rather than images (`ToyData`).
VECTOR_DATASETS = frozenset({"gaussian-1d", "ring8", "grid25"})

__all__ = [
    "DATASETS",
    "VECTOR_DATASETS",
    "DataOptions",
    "Dataset",
    "ImageData",
    "ToyData",
    "load_dataset",
    "register_dataset",
    "scale_images",
    "to_uint8",
]


Loader = Callable[[DataOptions], Dataset]
REGISTERED: dict[str, Loader] = {}  # datasets registered from Python or named package.module:name


def register_dataset(name: str, loader: Loader | None = None) -> Loader | Callable[[Loader], Loader]:
    """Register `loader(options) -> Dataset` (an `ImageData` with uint8 splits, or `ToyData`) as
    dataset `name`; as a call or as a decorator (`@register_dataset("mine")`)."""

    def register(function: Loader) -> Loader:
        REGISTERED[name] = function
        note_origin("dataset", name, function)
        return function

    return register if loader is None else register(loader)


def _load_raw(name: str, options: DataOptions) -> Dataset:
    if name.startswith("folder:"):
        return load_folder(name[len("folder:") :], options.image_size, options.channels, options.loader)
    adopt_reference(REGISTERED, name, "dataset")
    if name in REGISTERED:
        data = REGISTERED[name](options)
        if not isinstance(data, ImageData | ToyData):
            raise GankitError(f"dataset {name!r}: its loader returned {type(data).__name__}, not a Dataset")
        return data
    if name == "mnist-5k":
        return mnist.load_mnist_5k()
    if name in ("mnist", "fashion-mnist"):
        return mnist.load_idx_dataset(name, options.data_dir)
    if name == "digits":
        return mnist.load_digits()
    if name == "stacked-mnist":
        if options.stack_source not in STACK_SOURCES:
            raise GankitError(
                f"unknown --stack-source {options.stack_source!r}; choose one of: {', '.join(STACK_SOURCES)}"
            )
        return stack_digits(_load_raw(options.stack_source, options), options.stack_size)
    if name == "gaussian-1d":
        return toy.gaussian_1d(options.gaussian_mean, options.gaussian_std)
    if name == "ring8":
        return toy.ring8()
    if name == "grid25":
        return toy.grid25()
    names = ", ".join([*DATASETS, *REGISTERED])
    raise GankitError(
        f"unknown dataset {name!r}; choose one of: {names}, folder:PATH "
        "(a dataset of your own: gankit.register_dataset, or name it as package.module:loader)"
    )


def load_dataset(name: str, options: DataOptions | None = None) -> Dataset:
    """The dataset called `name`, resized to `options.image_size` if one is given."""
    options = options or DataOptions()
    data = _load_raw(name, options)
    if isinstance(data, ImageData) and data.stream is not None:
        return data  # read at its own size and channels
    if isinstance(data, ImageData) and options.image_size and data.shape[-1] != options.image_size:
        data = replace(data, splits={k: resize_images(v, options.image_size) for k, v in data.splits.items()})
    if isinstance(data, ImageData) and options.channels and data.shape[0] != options.channels:
        converted = {k: _convert_channels(v, options.channels) for k, v in data.splits.items()}
        data = replace(data, splits=converted)
    return data


def _convert_channels(images: Tensor, channels: int) -> Tensor:
    """Gray (N, 1, H, W) <-> RGB (N, 3, H, W), ITU-R 601 luma for RGB -> gray."""
    if channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
