"""A user's own images: a folder (searched recursively), a zip archive of images, or a dataset
that `gankit dataset prepare` wrote, all named `folder:PATH`.

Images are converted to 1 or 3 channels, resized so the shorter side is the image size and
centre-cropped square. Where every image lies in a first-level sub-folder and there are at
least two of them, the sub-folder names are the class labels (so `--conditional` works).
A set whose training split fits the memory budget is decoded once into memory; a larger one
(or any with `--loader stream`) is read on the fly (`gankit.data.stream`), decoding in
worker processes. Files that are not readable images are skipped with one warning that
counts them; a source without any image is an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.data.base import ImageData
from gankit.errors import GankitError

__all__ = [
    "MANIFEST",
    "MEMORY_BUDGET",
    "SUFFIXES",
    "ArrayReader",
    "FileReader",
    "ImageFiles",
    "list_images",
    "load_folder",
    "probe_channels",
    "streams",
]

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
MANIFEST = "dataset.json"  # marks a prepared dataset
DEFAULT_SIZE = 64
MEMORY_BUDGET = 2 * 1024**3  # float32 bytes of a training split above which `auto` streams it
CHANNEL_PROBE = 256  # files whose mode decides the default channel count
GRAY_MODES = ("L", "LA", "1", "I", "I;16", "P;L")


@dataclass(frozen=True)
class ImageFiles:
    """The image files of a folder or zip archive, in sorted order, with sub-folder labels."""

    root: str
    names: tuple[str, ...]  # paths relative to root (posix), or members of the archive
    archive: bool
    classes: tuple[str, ...] = ()  # sorted first-level sub-folder names; () when unlabelled
    labels: tuple[int, ...] = ()  # each file's class index

    def read(self, index: int, archive: zipfile.ZipFile | None = None) -> bytes:
        """The bytes of file `index` (from `archive`, an open handle on the zip, where given)."""
        if not self.archive:
            return (Path(self.root) / self.names[index]).read_bytes()
        if archive is not None:
            return archive.read(self.names[index])
        with zipfile.ZipFile(self.root) as handle:
            return handle.read(self.names[index])

    @contextlib.contextmanager
    def opened(self) -> Iterator[zipfile.ZipFile | None]:
        """The archive opened once for many reads (None for a folder)."""
        if not self.archive:
            yield None
            return
        with zipfile.ZipFile(self.root) as handle:
            yield handle

    def fingerprint(self) -> str:
        """SHA-256 of the file list with each file's size: changes when files are added or replaced."""
        digest = hashlib.sha256()
        if self.archive:
            with zipfile.ZipFile(self.root) as handle:
                sizes = [handle.getinfo(name).file_size for name in self.names]
        else:
            sizes = [(Path(self.root) / name).stat().st_size for name in self.names]
        for name, size in zip(self.names, sizes, strict=True):
            digest.update(f"{name}\0{size}\n".encode())
        return digest.hexdigest()


def _labels(names: list[str]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Classes from first-level sub-folder names, where every file has one and there are >= 2."""
    parts = [name.split("/") for name in names]
    if any(len(p) < 2 for p in parts):
        return (), ()
    classes = tuple(sorted({p[0] for p in parts}))
    if len(classes) < 2:
        return (), ()
    index = {c: i for i, c in enumerate(classes)}
    return classes, tuple(index[p[0]] for p in parts)


def list_images(path: str) -> ImageFiles:
    """The image files (by suffix) below folder `path`, or in zip archive `path`."""
    source = Path(path)
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as handle:
            names = sorted(
                info.filename
                for info in handle.infolist()
                if not info.is_dir() and Path(info.filename).suffix.lower() in SUFFIXES
            )
        archive = True
    elif source.is_dir():
        names = sorted(
            p.relative_to(source).as_posix()
            for p in source.rglob("*")
            if p.suffix.lower() in SUFFIXES and p.is_file()
        )
        archive = False
    elif source.exists():
        raise GankitError(f"dataset source {path} is neither a folder nor a zip archive of images")
    else:
        raise GankitError(f"dataset folder not found: {path}")
    if not names:
        raise GankitError(f"no readable images ({', '.join(SUFFIXES)}) in {path}")
    classes, labels = _labels(names)
    return ImageFiles(str(source), tuple(names), archive, classes, labels)


def decode(data: bytes, channels: int, size: int) -> np.ndarray:
    """Image bytes -> uint8 (C, size, size): converted, resized (shorter side) and centre-cropped.
    Raises OSError or ValueError where the bytes are not a readable image."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as image:
        image = image.convert("L" if channels == 1 else "RGB")
        image = ImageOps.fit(image, (size, size), method=Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def probe_channels(files: ImageFiles) -> int:
    """3 if any of the first `CHANNEL_PROBE` readable files is in colour, else 1."""
    from PIL import Image

    with files.opened() as archive:
        for index in range(min(len(files.names), CHANNEL_PROBE)):
            try:
                with Image.open(io.BytesIO(files.read(index, archive))) as image:
                    if image.mode not in GRAY_MODES:
                        return 3
            except (OSError, ValueError):
                continue
    return 1


class FileReader:
    """Decodes image `i` of `files` on access (picklable: each worker process opens its own zip)."""

    def __init__(self, files: ImageFiles, channels: int, size: int) -> None:
        self.files, self.channels, self.size = files, channels, size
        self._archive: zipfile.ZipFile | None = None

    def __len__(self) -> int:
        return len(self.files.names)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_archive": None}

    def load(self, index: int) -> np.ndarray:
        """Image `index` decoded; raises OSError or ValueError for a file that is not an image."""
        if self.files.archive and self._archive is None:
            self._archive = zipfile.ZipFile(self.files.root)
        return decode(self.files.read(index, self._archive), self.channels, self.size)

    def __getitem__(self, index: int) -> np.ndarray:
        """Image `index`; an unreadable file gives the next readable one in its place (streaming
        cannot drop it from a batch of fixed size)."""
        for offset in range(len(self)):
            try:
                return self.load((index + offset) % len(self))
            except (OSError, ValueError):
                continue
        raise GankitError(f"no readable images in {self.files.root}")


class ArrayReader:
    """The images of a prepared dataset, memory-mapped on first access in each process."""

    def __init__(self, path: str, shape: tuple[int, int, int], count: int) -> None:
        self.path, self.shape, self.count = path, shape, count
        self._array: np.ndarray | None = None

    def __len__(self) -> int:
        return self.count

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_array": None}

    def __getitem__(self, index: int) -> np.ndarray:
        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        return np.array(self._array[index])


def _warn_skipped(bad: list[str], total: int, root: str) -> None:
    if bad:
        warnings.warn(
            f"skipped {len(bad)} of {total} files in {root} that are not readable images (first: {bad[0]})",
            stacklevel=3,
        )


def _with_readable_headers(files: ImageFiles) -> tuple[ImageFiles, list[str]]:
    """`files` without those whose header Pillow cannot read (a streamed set is not decoded up
    front; a file that fails later, truncated past its header, is replaced by the next one)."""
    from PIL import Image

    keep, bad = [], []
    with files.opened() as archive:
        for index, name in enumerate(files.names):
            try:
                source = io.BytesIO(files.read(index, archive)) if archive else Path(files.root) / name
                with Image.open(source):
                    keep.append(index)
            except (OSError, ValueError):
                bad.append(name)
    if not keep:
        raise GankitError(f"no readable images ({', '.join(SUFFIXES)}) in {files.root}")
    names = tuple(files.names[i] for i in keep)
    labels = tuple(files.labels[i] for i in keep) if files.classes else ()
    # the classes stay those of the whole listing, as where the set is decoded into memory
    return ImageFiles(files.root, names, files.archive, files.classes, labels), bad


def streams(loader: str, count: int, shape: tuple[int, int, int]) -> bool:
    """Whether a set of `count` images of `shape` is read on the fly: asked for (`stream`), or
    (`auto`) where its float32 training split would pass `MEMORY_BUDGET`."""
    return loader == "stream" or (loader == "auto" and count * math.prod(shape) * 4 > MEMORY_BUDGET)


def load_folder(root: str, image_size: int | None, channels: int | None, loader: str = "auto") -> ImageData:
    """The images of `root` (a folder, a zip archive, or a prepared dataset) as one image dataset.

    `loader`: `memory` decodes every image now; `stream` reads them on the fly; `auto` streams
    a set whose float32 training split would pass `MEMORY_BUDGET`.
    """
    if (Path(root) / MANIFEST).is_file():
        from gankit.data.prepared import load_prepared

        return load_prepared(root, image_size, channels, loader)
    files = list_images(root)
    size = image_size or DEFAULT_SIZE
    channels = channels or probe_channels(files)
    common: dict[str, Any] = {"classes": files.classes, "fingerprint": files.fingerprint()}
    name = f"folder:{root}"
    if streams(loader, len(files.names), (channels, size, size)):
        readable, bad = _with_readable_headers(files)
        _warn_skipped(bad, len(files.names), root)
        labels = {"train": torch.tensor(readable.labels)} if files.classes else {}
        reader = FileReader(readable, channels, size)
        return ImageData(name=name, splits={}, labels=labels, stream=reader, **common)
    reader = FileReader(files, channels, size)
    labels = {"train": torch.tensor(files.labels)} if files.classes else {}
    images, kept, bad = [], [], []
    for index in range(len(reader)):
        try:
            images.append(reader.load(index))
            kept.append(index)
        except (OSError, ValueError):
            bad.append(files.names[index])
    _warn_skipped(bad, len(files.names), root)
    if not images:
        raise GankitError(f"no readable images ({', '.join(SUFFIXES)}) in {root}")
    if labels:
        labels = {"train": labels["train"][kept]}
    tensor = torch.from_numpy(np.stack(images))  # (N, C, size, size)
    return ImageData(name=name, splits={"train": tensor}, labels=labels, **common)


def default_workers(device: torch.device) -> int:
    """Worker processes for streaming: none when training on the CPU (workers would take its cores
    from training, and their hand-over costs more than reading in place: docs/performance.md);
    for an accelerator up to 2, fewer on a machine with fewer cores."""
    if device.type == "cpu":
        return 0
    return max(0, min(2, (os.cpu_count() or 1) - 1))
