"""Pure metrics on feature vectors and class probabilities (Fréchet distance, IS, coverage, P&R)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn


class _GivenFeatures(nn.Module):
    """The identity as torchmetrics' feature extractor, for features computed beforehand."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.num_features = dim

    def forward(self, x: Tensor) -> Tensor:
        return x


def given_features_metric(metric: type, dim: int, **kwargs: Any) -> Any:
    """A torchmetrics image metric (FID, KID, IS) that takes feature vectors of `dim` computed
    beforehand in place of images, in float64 and without syncing across processes."""
    return metric(feature=_GivenFeatures(dim), sync_on_compute=False, **kwargs).double()


def frechet_distance(a: Tensor | np.ndarray, b: Tensor | np.ndarray) -> float:
    """|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between Gaussians fitted to rows of a and b.

    Computed by torchmetrics' FrechetInceptionDistance (in float64) with gankit's features in
    place of Inception's, so FID and the classifier Fréchet distance share one implementation.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    a, b = (
        torch.as_tensor(np.asarray(a), dtype=torch.float64),
        torch.as_tensor(np.asarray(b), dtype=torch.float64),
    )
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(
            f"frechet_distance needs two (n >= 2, d) feature sets, got {tuple(a.shape)}, {tuple(b.shape)}"
        )
    # sync_on_compute=False: the features are already complete here, even inside a process group.
    metric = given_features_metric(FrechetInceptionDistance, a.shape[1])
    metric.update(a, real=True)
    metric.update(b, real=False)
    return max(float(metric.compute()), 0.0)


def inception_score(probs: Tensor) -> float:
    """exp(E_x KL(p(y|x) || p(y))) (Salimans et al. 2016), here with gankit's own classifier."""
    probs = probs.double()
    marginal = probs.mean(0, keepdim=True)
    kl = (torch.special.xlogy(probs, probs) - torch.special.xlogy(probs, marginal)).sum(1)
    return float(torch.exp(kl.mean()))


def label_coverage(labels: Tensor, classes: int) -> dict[str, object]:
    """Histogram of integer labels in [0, classes) and its KL to uniform (mode collapse: a large KL)."""
    counts = torch.bincount(labels, minlength=classes)
    p = counts.double() / counts.sum()
    kl = float((torch.special.xlogy(p, p) + p * math.log(classes)).sum())
    return {"histogram": counts.tolist(), "kl_to_uniform": kl, "classes_seen": int((counts > 0).sum())}


def class_coverage(probs: Tensor) -> dict[str, object]:
    """`label_coverage` of the predicted classes of class probabilities (n, classes)."""
    return label_coverage(probs.argmax(1), probs.shape[1])


def _kth_neighbour_radii(x: Tensor, k: int, chunk: int = 2048) -> Tensor:
    """Squared distance from each row to its k-th nearest other row (self excluded)."""
    radii = []
    for start in range(0, len(x), chunk):
        d = torch.cdist(x[start : start + chunk], x).pow(2)  # (b, N)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # the 1st smallest is the point itself
    return torch.cat(radii)


def _covered(queries: Tensor, anchors: Tensor, radii: Tensor, chunk: int = 2048) -> Tensor:
    hits = []
    for start in range(0, len(queries), chunk):
        d = torch.cdist(queries[start : start + chunk], anchors).pow(2)  # (b, M)
        hits.append((d <= radii[None]).any(dim=1))
    return torch.cat(hits)


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN balls in feature space.

    Precision: fraction of fake samples inside some real sample's k-NN ball; recall: the reverse.
    """
    real, fake = real.double(), fake.double()
    precision = _covered(fake, real, _kth_neighbour_radii(real, k)).double().mean()
    recall = _covered(real, fake, _kth_neighbour_radii(fake, k)).double().mean()
    return float(precision), float(recall)
