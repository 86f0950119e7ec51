"""Write a grid of real images from a dataset's split, to set beside a generator's grid.

    .venv/bin/python scripts/real_grid.py --dataset mnist-5k --split test --n 64 --out docs/images/real.png

The images are `--n` drawn without replacement from the split with `--seed` (the first `--n`
with `--first`), in the layout `gankit sample --n 64` uses (8 per row for 64).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from gankit.data import load_dataset
from gankit.data.base import ImageData
from gankit.errors import GankitError
from gankit.outputs.viz import make_grid, save_png


def real_grid(dataset: str, split: str, n: int, seed: int, first: bool, out: Path) -> Path:
    """Save `n` images of `dataset`'s `split` as one PNG grid at `out`; returns `out`."""
    data = load_dataset(dataset)
    if not isinstance(data, ImageData):
        raise GankitError(f"{dataset} is not an image dataset")
    count = data.count(split)
    if not 1 <= n <= count:
        raise GankitError(f"--n must be in 1..{count} (the images of {dataset}'s {split} split), got {n}")
    draw = torch.Generator().manual_seed(seed)
    index = torch.arange(n) if first else torch.randperm(count, generator=draw)[:n]
    images = data.images(split, index)  # uint8 (N, C, H, W)
    save_png(make_grid(images, nrow=math.ceil(math.sqrt(n))), out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist-5k")
    parser.add_argument("--split", default="test")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", action="store_true", help="the first N images, not a random draw")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    try:
        print(f"wrote {real_grid(args.dataset, args.split, args.n, args.seed, args.first, args.out)}")
    except GankitError as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
