"""Print docs/metrics.md's table: every default metric on real held-out data (the ceiling), on an
untrained generator (the floor), and on trained runs, with the same sample count for each.

    .venv/bin/python scripts/metrics_baselines.py --dataset mnist-5k --runs runs/demo --n 500
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from gankit.config import TrainConfig
from gankit.data import ImageData, load_dataset, scale_images
from gankit.metrics import evaluate_generator, select_metrics
from gankit.models import build_generator, get_model
from gankit.sampling.generator import GeneratorInfo, load_generator


class ReplayGenerator(torch.nn.Module):
    """Hands out real images in order, whatever the noise: the data itself as a 'generator'."""

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.images, self.cursor = images, 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.cursor + len(z) > len(self.images):
            raise ValueError(f"only {len(self.images)} held-out images; ask for fewer with --n")
        out = self.images[self.cursor : self.cursor + len(z)]
        self.cursor += len(z)
        return out


ROWS = [
    ("parzen", "log_likelihood", "Parzen log-likelihood (nats)"),
    ("classifier", "frechet_distance", "Fréchet distance (classifier features)"),
    ("classifier", "inception_score", "Inception-Score analogue"),
    ("classifier", "class_coverage", "KL(predicted classes ‖ uniform)"),
    ("classifier", "precision", "precision (k = 3)"),
    ("classifier", "recall", "recall (k = 3)"),
]


def _cell(results: dict, metric: str, key: str) -> str:
    value = results.get(metric, {}).get(key)
    if isinstance(value, dict):
        value = value["kl_to_uniform"]
    if value is None:
        return "–"
    if metric == "parzen" and key == "log_likelihood":
        return f"{value:.1f} ± {results[metric]['stderr']:.1f}"
    return f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist-5k")
    parser.add_argument("--model", default="dcgan", help="architecture of the untrained floor")
    parser.add_argument("--runs", nargs="*", default=[], help="trained run directories")
    parser.add_argument("--n", type=int, default=500, help="samples per metric (<= validation size)")
    args = parser.parse_args()

    config = TrainConfig(dataset=args.dataset, model=args.model)
    dataset = load_dataset(args.dataset, config.data_options())
    assert isinstance(dataset, ImageData)
    names = [m for m in select_metrics(None, dataset, args.dataset) if m in ("parzen", "classifier")]
    output = get_model(args.model).output
    info = GeneratorInfo(args.model, dataset.shape, "uniform", 100, output, "image", args.dataset, 0)
    # The validation split picks Parzen's sigma, so it cannot also be the kernel centres: the
    # Parzen ceiling is the metric's own score with real training images as centres.
    held_out = scale_images(dataset.splits["validation"], output)
    ceiling = evaluate_generator(
        ReplayGenerator(held_out), info, dataset, [m for m in names if m != "parzen"], n=args.n
    )
    torch.manual_seed(0)
    untrained = build_generator(args.model, dataset.shape, 100)
    floor = evaluate_generator(untrained, info, dataset, names, n=args.n)
    if "parzen" in floor:
        ceiling["parzen"] = floor["parzen"]["real_centres"]
    columns = {"real data (ceiling)": ceiling, f"untrained {args.model} (floor)": floor}
    for run in args.runs:
        generator, run_info = load_generator(run)
        columns[f"{Path(run).name} (step {run_info.step})"] = evaluate_generator(
            generator, run_info, dataset, names, n=args.n
        )
    accuracy = columns[next(iter(columns))]["classifier"]["settings"]["classifier"]["test_accuracy"]
    print(f"dataset {args.dataset}; {args.n} samples per column; classifier test accuracy {accuracy:.4f}")
    print("| metric | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for metric, key, label in ROWS:
        print(f"| {label} | " + " | ".join(_cell(r, metric, key) for r in columns.values()) + " |")
    print(json.dumps({c: {m: r.get("wall_time_s") for m, r in res.items()} for c, res in columns.items()}))


if __name__ == "__main__":
    main()
