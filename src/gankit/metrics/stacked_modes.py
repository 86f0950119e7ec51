"""The `stacked-modes` metric: each channel of a Stacked MNIST sample read by the source set's
classifier; modes covered out of 1,000 and the KL of their histogram to uniform."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gankit.data import DataOptions, Dataset, ImageData, scale_images
from gankit.data.stacked import channel_digits
from gankit.metrics.classifier import load_or_train_classifier
from gankit.metrics.context import EvalContext, classify, is_stacked, stack_source, unit_images
from gankit.metrics.features import label_coverage
from gankit.metrics.registry import register_metric

__all__ = ["prepare_stacked", "stacked_modes_metric"]


def prepare_stacked(dataset: Dataset, options: DataOptions) -> None:
    """Train (or load) the classifier of the stacked set's source digits."""
    load_or_train_classifier(stack_source(options))


@register_metric(
    "stacked-modes",
    applies=is_stacked,
    summary="Stacked MNIST: modes covered out of 1,000 and KL to uniform (VEEGAN/PacGAN)",
    prepare=prepare_stacked,
    needs="stacked-mnist",
)
def stacked_modes_metric(ctx: EvalContext) -> dict[str, Any]:
    assert isinstance(ctx.dataset, ImageData)
    model, meta = load_or_train_classifier(stack_source(ctx.data_options))
    fake = unit_images(ctx.samples(26_000), ctx.info.output)
    real = scale_images(ctx.dataset.splits["train"][:26_000], "sigmoid")

    place = torch.tensor([100, 10, 1])

    def digits(images: Tensor) -> Tensor:
        """The classifier's digit in each channel, (n, 3)."""
        return torch.stack([classify(model, images[:, c : c + 1])[1].argmax(1) for c in range(3)], 1)

    fake_digits, real_read = digits(fake), digits(real)
    fake_cov = label_coverage(fake_digits @ place, 1000)  # modes in [0, 1000)
    real_cov = label_coverage(real_read @ place, 1000)
    real_digits = channel_digits(ctx.dataset.labels["train"][:26_000])
    real_acc = float((real_read == real_digits).all(1).double().mean())
    # where a large KL comes from: each channel's digit histogram; with independent channels
    # the KL over triples is the sum of the three channels' KLs
    channels = [label_coverage(fake_digits[:, c], 10) for c in range(3)]
    return {
        "settings": {"classifier": meta, "generated": len(fake), "real_split": "train", "real": len(real)},
        "modes_covered": fake_cov["classes_seen"],
        "kl_to_uniform": fake_cov["kl_to_uniform"],
        "channels": [{"digits": c["histogram"], "kl_to_uniform": c["kl_to_uniform"]} for c in channels],
        "real": {
            "modes_covered": real_cov["classes_seen"],
            "kl_to_uniform": real_cov["kl_to_uniform"],
            "triple_accuracy": real_acc,
        },
    }
