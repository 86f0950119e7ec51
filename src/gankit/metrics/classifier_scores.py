"""The `classifier` metric: Fréchet distance, Inception-Score analogue, class coverage and
improved precision/recall, on the features of a small CNN gankit trains once per dataset."""

from __future__ import annotations

from typing import Any

from gankit.data import DataOptions, Dataset, ImageData, scale_images
from gankit.metrics.classifier import load_or_train_classifier
from gankit.metrics.context import EvalContext, classify, has_class_labels, unit_images
from gankit.metrics.features import class_coverage, frechet_distance, inception_score, precision_recall
from gankit.metrics.registry import register_metric

__all__ = ["classifier_metric", "prepare_classifier"]


def prepare_classifier(dataset: Dataset, options: DataOptions) -> None:
    """Train (or load) the dataset's classifier before training starts."""
    assert isinstance(dataset, ImageData)
    load_or_train_classifier(dataset)


@register_metric(
    "classifier",
    applies=has_class_labels,
    summary="Fréchet distance, IS analogue, class coverage, precision/recall on a gankit CNN",
    prepare=prepare_classifier,
    needs="a labelled digit or clothing set (mnist-5k, mnist, fashion-mnist, digits)",
)
def classifier_metric(ctx: EvalContext) -> dict[str, Any]:
    data = ctx.dataset
    assert isinstance(data, ImageData)
    model, meta = load_or_train_classifier(data)
    fake = unit_images(ctx.samples(10_000), ctx.info.output)
    real = scale_images(data.splits["test"], "sigmoid")
    fake_feats, fake_probs = classify(model, fake)
    real_feats, real_probs = classify(model, real)
    m = min(len(fake_feats), len(real_feats))
    precision, recall = precision_recall(real_feats[:m], fake_feats[:m], k=3)
    return {
        "settings": {
            "classifier": meta,
            "generated": len(fake),
            "real_split": "test",
            "real": len(real),
            "precision_recall": {"k": 3, "samples_each": m, "distance": "squared euclidean"},
        },
        "frechet_distance": frechet_distance(fake_feats.numpy(), real_feats.numpy()),
        "inception_score": inception_score(fake_probs),
        "inception_score_real": inception_score(real_probs),
        "class_coverage": class_coverage(fake_probs),
        "precision": precision,
        "recall": recall,
    }
