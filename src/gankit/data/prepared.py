"""Prepared datasets: images decoded, resized and centre-cropped once into one uint8 array.

`gankit dataset prepare SRC DEST --size N` writes DEST/images.npy (N, C, size, size),
DEST/labels.npy where SRC's sub-folders name classes, and DEST/dataset.json, a manifest with
the count, size, channels, class names and the SHA-256 of images.npy (the way StyleGAN2-ADA's
`dataset_tool` prepares a set once). Training reads it as `folder:DEST` without decoding:
the array is memory-mapped, so a large set is paged in as batches touch it. Arrays are read
with `allow_pickle=False`; the manifest is checked against the array before use.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.data.base import ImageData
from gankit.data.download import sha256_file
from gankit.data.folder import MANIFEST, ArrayReader, FileReader, list_images, probe_channels, streams
from gankit.errors import GankitError
from gankit.outputs.files import atomic_write_json, read_json

__all__ = ["FORMAT", "load_prepared", "prepare_dataset"]

FORMAT = "gankit-prepared-images"
VERSION = 1


def prepare_dataset(
    source: str, dest: str, size: int, channels: int | None = None, overwrite: bool = False
) -> dict[str, Any]:
    """Decode every image of `source` (folder or zip) at `size` px into a prepared dataset at `dest`.

    Unreadable files are skipped with one warning that counts them. The dataset is written into
    a temporary folder beside `dest` and renamed into place, so `dest` is whole or absent.
    Returns the manifest.
    """
    if size < 4 or size & (size - 1):
        raise GankitError(f"--size must be a power of two >= 4, got {size}")
    target = Path(dest)
    if target.exists():
        if not (target / MANIFEST).is_file():
            raise GankitError(f"{dest} already exists and is not a prepared dataset; choose another DEST")
        if not overwrite:
            raise GankitError(f"{dest} already holds a prepared dataset; give --overwrite to replace it")
    files = list_images(source)
    channels = channels or probe_channels(files)
    reader = FileReader(files, channels, size)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        array = np.lib.format.open_memmap(
            tmp / "images.npy", mode="w+", dtype=np.uint8, shape=(len(reader), channels, size, size)
        )
        kept, bad = [], []
        for index in range(len(reader)):
            try:
                array[len(kept)] = reader.load(index)
                kept.append(index)
            except (OSError, ValueError):
                bad.append(files.names[index])
        if not kept:
            raise GankitError(f"no readable images in {source}")
        if bad:
            warnings.warn(
                f"skipped {len(bad)} of {len(files.names)} files in {source} that are not readable "
                f"images (first: {bad[0]})",
                stacklevel=2,
            )
            whole = np.lib.format.open_memmap(
                tmp / "images-kept.npy", mode="w+", dtype=np.uint8, shape=(len(kept), channels, size, size)
            )
            for start in range(0, len(kept), 1024):
                stop = min(start + 1024, len(kept))
                whole[start:stop] = array[start:stop]
            whole.flush()
            del array, whole
            os.replace(tmp / "images-kept.npy", tmp / "images.npy")
        else:
            array.flush()
            del array
        labels = None
        if files.classes:
            labels = np.asarray([files.labels[i] for i in kept], dtype=np.int64)
            np.save(tmp / "labels.npy", labels, allow_pickle=False)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "count": len(kept),
            "size": size,
            "channels": channels,
            "classes": list(files.classes),
            "label_counts": np.bincount(labels, minlength=len(files.classes)).tolist()
            if labels is not None
            else [],
            "source": str(source),
            "skipped": len(bad),
            "images": "images.npy",
            "labels": "labels.npy" if labels is not None else None,
            "sha256": sha256_file(tmp / "images.npy"),
        }
        atomic_write_json(tmp / MANIFEST, manifest)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The manifest of prepared dataset `root`, checked field by field."""
    path = Path(root) / MANIFEST
    manifest = read_json(path)
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise GankitError(f"{path} is not a gankit prepared dataset (format {FORMAT}, version {VERSION})")
    for key in ("count", "size", "channels"):
        value = manifest.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise GankitError(f"{path} is damaged: {key} {value!r}")
    classes = manifest.get("classes")
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise GankitError(f"{path} is damaged: classes {classes!r}")
    if not isinstance(manifest.get("sha256"), str):
        raise GankitError(f"{path} is damaged: sha256 {manifest.get('sha256')!r}")
    return manifest


def load_prepared(root: str, image_size: int | None, channels: int | None, loader: str = "auto") -> ImageData:
    """The prepared dataset `root`, memory-mapped; streamed through `ArrayReader` where `loader`
    asks for it or (`auto`) where its float32 copy would pass the memory budget."""
    manifest = read_manifest(root)
    size, count, depth = manifest["size"], manifest["count"], manifest["channels"]
    if image_size is not None and image_size != size:
        raise GankitError(
            f"{root} was prepared at {size} px; leave --image-size out or prepare it again "
            f"with --size {image_size}"
        )
    if channels is not None and channels != depth:
        raise GankitError(
            f"{root} was prepared with {depth} channel(s); leave --channels out or prepare it again"
        )
    images_path = Path(root) / "images.npy"
    try:
        array = np.load(images_path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise GankitError(f"{images_path} is not readable ({err}); prepare the dataset again") from None
    if array.dtype != np.uint8 or array.shape != (count, depth, size, size):
        raise GankitError(
            f"{images_path} holds {array.dtype} {tuple(array.shape)}, not the manifest's uint8 "
            f"{(count, depth, size, size)}; prepare the dataset again"
        )
    labels: dict[str, torch.Tensor] = {}
    if manifest.get("labels"):
        try:
            y = np.load(Path(root) / "labels.npy", allow_pickle=False)
        except (OSError, ValueError) as err:
            raise GankitError(
                f"{root}/labels.npy is not readable ({err}); prepare the dataset again"
            ) from None
        if (
            y.shape != (count,)
            or y.dtype.kind not in "iu"
            or (count and not 0 <= y.min() <= y.max() < len(manifest["classes"]))
        ):
            raise GankitError(f"{root}/labels.npy does not match the manifest; prepare the dataset again")
        labels = {"train": torch.from_numpy(y.astype(np.int64))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a read-only memory map: never written here
        train = torch.from_numpy(array)
    stream = None
    if streams(loader, count, (depth, size, size)):
        stream = ArrayReader(str(images_path), (depth, size, size), count)
    return ImageData(
        name=f"folder:{root}",
        splits={"train": train},
        labels=labels,
        home=str(root),
        classes=tuple(manifest["classes"]),
        stream=stream,
        fingerprint=manifest["sha256"],
    )
