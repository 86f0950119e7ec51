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

import torch

from gankit.data import DataOptions, load_dataset, scale_images
from gankit.metrics.classifier import load_or_train_classifier
from gankit.metrics.context import classify, unit_images
from gankit.metrics.features import class_coverage, frechet_distance, precision_recall
from gankit.noise import sample_noise
from gankit.sampling.generator import load_generator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--psi", default="1.0,0.9,0.8,0.7,0.6", help="comma-separated factors in (0, 1]")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    args = parser.parse_args()
    psis = [float(x) for x in args.psi.split(",")]
    if not all(0 < p <= 1 for p in psis):
        parser.error(f"--psi: every factor must be in (0, 1], got {args.psi}")
    generator, info = load_generator(args.run_dir)
    if info.n_classes:
        parser.error(f"{args.run_dir}: a conditional generator; this sweep draws unlabelled samples")
    data = load_dataset(info.dataset, DataOptions())
    model, _ = load_or_train_classifier(data)
    real_feats, _ = classify(model, scale_images(data.splits["test"], "sigmoid"))
    noise = sample_noise(info.noise, 10_000, info.noise_dim, torch.Generator().manual_seed(args.seed))
    print(f"{args.run_dir}: {info.model} on {info.dataset}, {info.noise} prior, step {info.step}")
    print("| psi | Fréchet distance | precision | recall | smallest class % |")
    print("|---|---|---|---|---|")
    for psi in psis:
        with torch.no_grad():
            fake = torch.cat([generator(z) for z in (noise * psi).split(500)])
        feats, probs = classify(model, unit_images(fake, info.output))
        m = min(len(feats), len(real_feats))
        precision, recall = precision_recall(real_feats[:m], feats[:m], k=3)
        histogram = class_coverage(probs)["histogram"]
        smallest = 100 * min(histogram) / sum(histogram)
        fd = frechet_distance(feats.numpy(), real_feats.numpy())
        print(f"| {psi:g} | {fd:.1f} | {precision:.3f} | {recall:.3f} | {smallest:.2f} |", flush=True)


if __name__ == "__main__":
    main()
