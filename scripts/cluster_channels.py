"""Stacked MNIST: how much of each channel's digit a self-conditioned run's clusters carry.

    .venv/bin/python scripts/cluster_channels.py RUN [--spaces discriminator,pixels] [--k K] [--seed 0]

A self-conditioned G (`--self-condition K`) draws a cluster label and makes an image of that
cluster; a channel whose digit the clusters do not determine is left to G alone, as in an
unconditional GAN, and keeps its digit imbalance. For the run's latest checkpoint this
prints, per channel, the mutual information (nats) between the training images' cluster
labels and that channel's digit (the data's own labels; the most is log 10 = 2.303). With
`--spaces` it also clusters the training images afresh (k-means++, the run's K or `--k`) in D's
features at that checkpoint, in pixel space, or in each channel's pixels (channels: K clusters
per channel; each channel's row is then the information its own clusters carry about its own
digit), for comparison. A clustering that ignores
the digits scores about (K - 1)(10 - 1) / 2N, not 0, from the finite sample; that figure
is printed too.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
from pathlib import Path

import torch
from torch import Tensor

from gankit.config import CLUSTER_SPACES, TrainConfig
from gankit.data.stacked import channel_digits
from gankit.errors import GankitError
from gankit.experiments.clustering import ClusterLabels, cluster_training_images
from gankit.models.parts import factor_labels
from gankit.outputs.checkpoint import latest_stem
from gankit.training.resume import resume


def mutual_information(a: Tensor, b: Tensor, n_a: int, n_b: int) -> float:
    """Mutual information (nats) between two labelings (N,) with values in [0, n_a) and
    [0, n_b), from their joint histogram."""
    joint = torch.zeros(n_a, n_b, dtype=torch.float64)
    joint.index_put_((a.long(), b.long()), torch.ones(len(a), dtype=torch.float64), accumulate=True)
    joint /= joint.sum()
    outer = joint.sum(1, keepdim=True) * joint.sum(0, keepdim=True)
    seen = joint > 0
    return float((joint[seen] * (joint[seen] / outer[seen]).log()).sum())


def chance_level(k: int, n: int, n_digits: int = 10) -> float:
    """The expected mutual information of a clustering independent of the digits, to first
    order in 1/n (the plug-in estimator's bias)."""
    return (k - 1) * (n_digits - 1) / (2 * n)


def channel_information(labels: Tensor, digits: Tensor, k: int) -> list[float]:
    """Mutual information of `labels` (N,) with each channel's digit, `digits` (N, 3); labels
    of shape (N, 3) hold one label of `k` values per channel (`--cluster-space channels`), and
    each channel's own label is scored against its digit."""
    if labels.dim() == 2:
        return [mutual_information(labels[:, c].cpu(), digits[:, c], k, 10) for c in range(digits.shape[1])]
    return [mutual_information(labels.cpu(), digits[:, c], k, 10) for c in range(digits.shape[1])]


def _latest_only(run: Path, copy: Path) -> Path:
    """`copy`, made a run directory holding `run`'s config and latest checkpoint, no other one."""
    stem = latest_stem(run / "checkpoint")
    (copy / "checkpoint").mkdir(parents=True)
    shutil.copy2(run / "config.json", copy / "config.json")
    for name in ("latest.json", f"{stem}.json", f"{stem}.safetensors"):
        shutil.copy2(run / "checkpoint" / name, copy / "checkpoint" / name)
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a --self-condition run on stacked-mnist")
    parser.add_argument(
        "--spaces", default="", help="also cluster afresh in these spaces: discriminator, pixels, channels"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fresh clusterings")
    parser.add_argument(
        "--k", type=int, default=None, help="clusters of the fresh clusterings (default: the run's)"
    )
    args = parser.parse_args()
    spaces = [s for s in args.spaces.split(",") if s]
    if args.k is not None and args.k < 2:
        raise SystemExit(f"error: --k must be at least 2 clusters, got {args.k}")
    for space in spaces:
        if space not in CLUSTER_SPACES:
            raise SystemExit(f"error: unknown space {space!r}; choose one of: {', '.join(CLUSTER_SPACES)}")
    try:
        config = TrainConfig.load(args.run / "config.json")
    except (GankitError, FileNotFoundError) as err:
        raise SystemExit(f"error: {err}") from err
    if not config.self_conditioning.self_condition:
        raise SystemExit(f"error: {args.run} is not a self-conditioned run with clusters")
    if config.data.dataset != "stacked-mnist":
        raise SystemExit(f"error: {args.run} trained on {config.data.dataset}, not stacked-mnist")
    with tempfile.TemporaryDirectory() as tmp:  # resume writes into the run: work on a copy
        try:
            trainer = resume(_latest_only(args.run, Path(tmp) / "run"), {}, progress=False)
        except (GankitError, FileNotFoundError) as err:
            raise SystemExit(f"error: {err}") from err
    assert trainer.labels.clusters is not None and trainer.labels.clusters.labels is not None
    data = trainer.batches.data
    digits = channel_digits(trainer.dataset.labels["train"])
    channels = data.shape[1]
    k = config.self_conditioning.self_condition  # clusters per channel where the run's labels are factored
    own = trainer.labels.clusters.labels
    if trainer.labels.label_factors:
        own = factor_labels(own, trainer.labels.label_factors)
    rows = [(f"the run's clusters (step {trainer.labels.clusters.clustered_at})", k, own)]
    for space in spaces:
        per = args.k or k
        fresh = ClusterLabels(per**channels if space == "channels" else per, seed=args.seed)
        cluster_training_images(fresh, trainer.discriminator, data, step=0, space=space, per_channel=per)
        assert fresh.labels is not None
        labels = factor_labels(fresh.labels, (per,) * channels) if space == "channels" else fresh.labels
        rows.append((f"k-means++ in {space} space", per, labels))
    per_channel = " per channel" if trainer.labels.label_factors else ""
    print(f"{args.run}: step {trainer.step}, K = {k}{per_channel}, {len(data)} training images")
    print(f"mutual information with each channel's digit, nats (most {math.log(10):.3f}); "
          "chance: about (K - 1)(10 - 1) / 2N")  # fmt: skip
    print("| clustering | K | chance | R | G | B |")
    print("|---|---|---|---|---|---|")
    for name, n_clusters, labels in rows:
        r, g, b = channel_information(labels, digits, n_clusters)
        chance = chance_level(n_clusters, len(data))
        print(f"| {name} | {n_clusters} | {chance:.3f} | {r:.3f} | {g:.3f} | {b:.3f} |")


if __name__ == "__main__":
    main()
