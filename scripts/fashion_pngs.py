"""Write Fashion-MNIST training images as PNG files, one sub-folder per class: a folder of "your
own images" that anyone with the Debian package `dataset-fashion-mnist` can rebuild.

    .venv/bin/python scripts/fashion_pngs.py runs/own/fashion-png --per-class 600

Images are the first `--per-class` of each class in the training split, as 28x28 grayscale
PNGs named `<class>/<index>.png`; docs/own-data.md trains on them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from gankit.data import load_dataset

CLASSES = ("tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder to write (its class sub-folders are created)")
    parser.add_argument("--per-class", type=int, default=600, help="images per class (default: 600)")
    args = parser.parse_args()
    data = load_dataset("fashion-mnist")
    images, labels = data.splits["train"].numpy(), data.labels["train"].numpy()
    for label, name in enumerate(CLASSES):
        (args.out / name).mkdir(parents=True, exist_ok=True)
        for index in np.flatnonzero(labels == label)[: args.per_class]:
            Image.fromarray(images[index, 0]).save(args.out / name / f"{index:05d}.png")
    print(f"wrote {args.per_class} images of each of {len(CLASSES)} classes to {args.out}")


if __name__ == "__main__":
    main()
