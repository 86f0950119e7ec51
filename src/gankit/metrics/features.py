"""Pure metrics on feature vectors and class probabilities (Fréchet distance, IS, coverage, P&R)."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import linalg
from torch import Tensor


def frechet_distance(a: Tensor | np.ndarray, b: Tensor | np.ndarray) -> float:
    """|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between Gaussians fitted to rows of a and b."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # Tr((S_a S_b)^(1/2)) = sum of sqrt(eigenvalues) of the symmetric PSD matrix
    # S_a^(1/2) S_b S_a^(1/2): stable even when the covariances are singular.
    w, v = linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sqrt(np.clip(eig, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


def inception_score(probs: Tensor) -> float:
    """exp(E_x KL(p(y|x) || p(y))) (Salimans et al. 2016), here with gankit's own classifier."""
    probs = probs.double()
    marginal = probs.mean(0, keepdim=True)
    kl = (torch.special.xlogy(probs, probs) - torch.special.xlogy(probs, marginal)).sum(1)
    return float(torch.exp(kl.mean()))


def class_coverage(probs: Tensor) -> dict[str, object]:
    """Histogram of predicted classes and its KL to uniform (mode collapse shows as a large KL)."""
    counts = torch.bincount(probs.argmax(1), minlength=probs.shape[1])
    p = counts.double() / counts.sum()
    kl = float((torch.special.xlogy(p, p) + p * math.log(probs.shape[1])).sum())
    return {"histogram": counts.tolist(), "kl_to_uniform": kl, "classes_seen": int((counts > 0).sum())}


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
