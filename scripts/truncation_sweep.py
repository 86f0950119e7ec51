"""Score one run's generator with its noise pulled toward the prior's mean: z -> psi * z.

    .venv/bin/python scripts/truncation_sweep.py RUN_DIR [--psi 1.0,0.9,0.8,0.7,0.6] [--seed 0]

The truncation trick trades recall for precision (Kynkäänniemi et al. 2019; for a normal prior
this is StyleGAN's psi in z, for the uniform prior it narrows the box to [-psi, psi]^dim).
Each row is gankit's classifier metric as `gankit eval` computes it (10,000 samples against the
test split, precision and recall with k = 3), on the run's EMA generator where it has one, with
the same noise draw for every psi, so the rows differ only in psi.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from gankit.data import DataOptions, ImageData, load_dataset, scale_images
from gankit.errors import GankitError
from gankit.metrics.classifier import load_or_train_classifier
from gankit.metrics.context import classify, unit_images
from gankit.metrics.features import class_coverage, frechet_distance, precision_recall
from gankit.noise import sample_noise
from gankit.sampling.generator import load_generator


def sweep(run_dir: str | Path, psis: list[float], seed: int = 0, n: int = 10_000) -> list[dict[str, float]]:
    """One row per psi: the classifier metric's distance, precision, recall and smallest class
    share (%) of `n` samples whose noise (drawn once, under `seed`) is multiplied by psi."""
    if not psis or not all(0 < p <= 1 for p in psis):
        raise GankitError(f"truncation factors must be in (0, 1], got {psis}")
    generator, info = load_generator(run_dir)
    if info.n_classes:
        raise GankitError(f"{run_dir}: a conditional generator; this sweep draws unlabelled samples")
    data = load_dataset(info.dataset, DataOptions())
    if not isinstance(data, ImageData) or "test" not in data.labels:
        raise GankitError(f"{run_dir}: {info.dataset} has no labelled test split for the classifier metric")
    model, _ = load_or_train_classifier(data)
    real_feats, _ = classify(model, scale_images(data.splits["test"], "sigmoid"))
    noise = sample_noise(info.noise, n, info.noise_dim, torch.Generator().manual_seed(seed))  # (n, dim)
    rows = []
    for psi in psis:
        with torch.no_grad():
            fake = torch.cat([generator(z) for z in (noise * psi).split(500)])
        feats, probs = classify(model, unit_images(fake, info.output))
        m = min(len(feats), len(real_feats))
        precision, recall = precision_recall(real_feats[:m], feats[:m], k=3)
        histogram = class_coverage(probs)["histogram"]
        rows.append(
            {
                "psi": psi,
                "frechet_distance": frechet_distance(feats.numpy(), real_feats.numpy()),
                "precision": precision,
                "recall": recall,
                "smallest_class_pct": 100 * min(histogram) / sum(histogram),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--psi", default="1.0,0.9,0.8,0.7,0.6", help="comma-separated factors in (0, 1]")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    args = parser.parse_args()
    try:
        psis = [float(x) for x in args.psi.split(",")]
        _, info = load_generator(args.run_dir)
        rows = sweep(args.run_dir, psis, args.seed)
    except (GankitError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"{args.run_dir}: {info.model} on {info.dataset}, {info.noise} prior, step {info.step}")
    print("| psi | Fréchet distance | precision | recall | smallest class % |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['psi']:g} | {r['frechet_distance']:.1f} | {r['precision']:.3f} | {r['recall']:.3f} "
            f"| {r['smallest_class_pct']:.2f} |"
        )


if __name__ == "__main__":
    main()
