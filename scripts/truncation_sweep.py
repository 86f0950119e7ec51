"""Score one run's generator with its noise pulled toward the prior's mean: z -> psi * z.

    .venv/bin/python scripts/truncation_sweep.py RUN_DIR [--psi 1.0,0.9,0.8,0.7,0.6] [--seed 0]

The truncation trick trades recall for precision (Kynkäänniemi et al. 2019; for a normal prior
this is StyleGAN's psi in z, for the uniform prior it narrows the box to [-psi, psi]^dim).
Each row is gankit's classifier metric, the function `gankit eval` runs (10,000 samples against
the test split, precision and recall with k = 3), on the run's EMA generator where it has one,
with the same noise draw for every psi, so the rows differ only in psi.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from gankit.data import DataOptions, load_dataset
from gankit.errors import GankitError
from gankit.metrics.classifier_scores import classifier_metric
from gankit.metrics.context import EvalContext, has_class_labels
from gankit.sampling.generator import GeneratorInfo, load_generator


class _Truncated(nn.Module):
    """G with its noise multiplied by `psi` on the way in."""

    def __init__(self, generator: nn.Module, psi: float) -> None:
        super().__init__()
        self.generator, self.psi = generator, psi

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z * self.psi)


def sweep(
    run_dir: str | Path, psis: list[float], seed: int = 0, n: int = 10_000
) -> tuple[GeneratorInfo, list[dict[str, float]]]:
    """The run's generator info, and one row per psi: the classifier metric's distance,
    precision, recall and smallest class share (%) of `n` samples whose noise (drawn under
    `seed`, the same for every psi) is multiplied by psi; `gankit eval`'s own metric function,
    given G behind the scaling."""
    if not psis or not all(0 < p <= 1 for p in psis):
        raise GankitError(f"truncation factors must be in (0, 1], got {psis}")
    generator, info = load_generator(run_dir)
    if info.n_classes:
        raise GankitError(f"{run_dir}: a conditional generator; this sweep draws unlabelled samples")
    data = load_dataset(info.dataset, DataOptions())
    if not has_class_labels(data):
        raise GankitError(f"{run_dir}: {info.dataset} has no labelled test split for the classifier metric")
    rows = []
    for psi in psis:
        scores = classifier_metric(EvalContext(_Truncated(generator, psi).eval(), info, data, seed, n))
        histogram = scores["class_coverage"]["histogram"]
        rows.append(
            {
                "psi": psi,
                "frechet_distance": scores["frechet_distance"],
                "precision": scores["precision"],
                "recall": scores["recall"],
                "smallest_class_pct": 100 * min(histogram) / sum(histogram),
            }
        )
    return info, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--psi", default="1.0,0.9,0.8,0.7,0.6", help="comma-separated factors in (0, 1]")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    args = parser.parse_args()
    try:
        psis = [float(x) for x in args.psi.split(",")]
        info, rows = sweep(args.run_dir, psis, args.seed)
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
