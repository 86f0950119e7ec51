"""Images per second the data pipeline delivers, beside images per second `dcgan` training consumes.

    .venv/bin/python benchmarks/data_throughput.py [--sizes 64,128,256] [--workers 0,1,2]

The source is a folder of JPEG photographs: random crops (300-420 px) of the two sample
photographs scikit-learn ships, written once into a temporary folder; the same images are
then prepared with `gankit dataset prepare` at each size. For each size it times the
streamed pipeline (`StreamBatches`, batch 64) reading the folder (JPEG decode, resize,
centre-crop in the workers) and the prepared dataset (a memory-mapped uint8 array), with
each worker count; then one `dcgan` training step of batch 64 at that size (G and D at the
default widths, k = 1, which draws 64 real images per step). A pipeline faster than training
does not limit it on this machine; a slower one does.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gankit.config import TrainConfig
from gankit.data import DataOptions, load_dataset
from gankit.data.prepared import prepare_dataset
from gankit.data.stream import StreamBatches
from gankit.training.trainer import Trainer

BATCH = 64


def photo_folder(root: Path, n: int) -> Path:
    """`n` JPEG crops of scikit-learn's sample photographs (427 x 640) in `root`."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    rng = np.random.default_rng(0)
    for i in range(n):
        photo = photos[i % len(photos)]
        side = int(rng.integers(300, 421))
        top, left = rng.integers(0, photo.shape[0] - side + 1), rng.integers(0, photo.shape[1] - side + 1)
        Image.fromarray(photo[top : top + side, left : left + side]).save(root / f"{i:05d}.jpg", quality=90)
    return root


def pipeline_rate(source: str, size: int, workers: int, batches: int) -> float:
    """Images/s `StreamBatches` hands the training loop, after one warm-up batch."""
    data = load_dataset(f"folder:{source}", DataOptions(image_size=size, channels=3, loader="stream"))
    assert data.stream is not None
    stream = StreamBatches(data.stream, BATCH, 0, "tanh", torch.device("cpu"), workers=workers)
    stream.next()  # starts the workers
    start = time.perf_counter()
    for _ in range(batches):
        stream.next()
    return batches * BATCH / (time.perf_counter() - start)


def training_rate(source: str, size: int, steps: int, out: str) -> float:
    """Real images/s one `dcgan` run consumes (k = 1: 64 per step), after one warm-up step."""
    config = TrainConfig(dataset=f"folder:{source}", model="dcgan", batch_size=BATCH, steps=10**9,
                         out=out, device="cpu", tensorboard=False)  # fmt: skip
    trainer = Trainer(config, progress=False, callbacks=[])
    trainer.run_steps(1)
    start = time.perf_counter()
    trainer.run_steps(steps)
    return steps * BATCH / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,128,256", help="image sizes (default: 64,128,256)")
    parser.add_argument("--workers", default="0,1,2", help="worker counts (default: 0,1,2)")
    parser.add_argument("--images", type=int, default=512, help="photographs in the folder (default: 512)")
    parser.add_argument("--batches", type=int, default=6, help="timed batches per pipeline (default: 6)")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per size (default: 3)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, {threads} threads; batch {BATCH}")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "photos").mkdir()
        folder = photo_folder(Path(tmp) / "photos", args.images)
        columns = " | ".join(f"{w} workers" for w in worker_counts)
        print(f"| size | source | {columns} | dcgan training |")
        print("|" + "---|" * (3 + len(worker_counts)))
        for size in sizes:
            prepared = Path(tmp) / f"prepared-{size}"
            start = time.perf_counter()
            prepare_dataset(str(folder), str(prepared), size, channels=3)
            prepare_s = time.perf_counter() - start
            train = training_rate(str(prepared), size, args.steps, str(Path(tmp) / f"run-{size}"))
            for name, source in (("folder (JPEG)", folder), ("prepared", prepared)):
                rates = [pipeline_rate(str(source), size, w, args.batches) for w in worker_counts]
                cells = " | ".join(f"{r:,.0f} img/s" for r in rates)
                print(f"| {size} | {name} | {cells} | {train:,.1f} img/s |", flush=True)
            print(f"(prepare at {size} px: {args.images} images in {prepare_s:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
