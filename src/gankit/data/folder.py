"""A user's own images: every PNG/JPEG below a folder, as one image dataset."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from gankit.data.base import ImageData
from gankit.errors import GankitError

SUFFIXES = (".png", ".jpg", ".jpeg")


def _load_one(path: Path, mode: str, size: int) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        image = image.convert(mode)
        image = ImageOps.fit(image, (size, size), method=Image.Resampling.BILINEAR)  # resize + crop
        array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)  # (C, H, W)


def load_folder(root: str, image_size: int | None, channels: int | None) -> ImageData:
    """Images below `root`, converted to `channels` (1 gray, 3 RGB; default: 3 if any is colour).

    Each is resized so its shorter side is `image_size` and centre-cropped square.
    Unreadable files are listed in one warning and skipped; no readable image is an error.
    """
    from PIL import Image

    folder = Path(root)
    if not folder.is_dir():
        raise GankitError(f"dataset folder not found: {root}")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    size = image_size or 64
    if channels is None:
        channels = 1
        for p in paths:
            try:
                with Image.open(p) as image:
                    if image.mode not in ("L", "LA", "1", "I", "I;16"):
                        channels = 3
                        break
            except OSError:
                continue
    mode = "L" if channels == 1 else "RGB"
    images, bad = [], []
    for p in paths:
        try:
            images.append(_load_one(p, mode, size))
        except (OSError, ValueError):
            bad.append(str(p))
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable image(s): {', '.join(bad)}", stacklevel=2)
    if not images:
        raise GankitError(f"no readable PNG/JPEG images in {root}")
    tensor = torch.from_numpy(np.stack(images))  # (N, C, size, size)
    return ImageData(name=f"folder:{root}", splits={"train": tensor})
