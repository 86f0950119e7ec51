"""Parzen-window log-likelihood: the protocol of Table 1 of Goodfellow et al. 2014.

A Gaussian kernel of width sigma is placed on each generator sample (the centres);
sigma is chosen on a validation split from a log-spaced grid, and the mean
log-likelihood of the test split is reported with its standard error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gankit.data import ImageData, scale_images
from gankit.metrics.context import EvalContext, unit_images
from gankit.metrics.registry import register_metric

SIGMA_GRID = tuple(float(s) for s in np.logspace(-1, 0, 10))  # 0.1 ... 1.0


def parzen_log_likelihood(centers: Tensor, x: Tensor, sigma: float, batch: int = 1000) -> Tensor:
    """log p(x) under the kernel density estimate: one value per row of x, in nats.

    log p(x) = logsumexp_i(-|x - c_i|^2 / (2 sigma^2)) - log K - (d/2) log(2 pi sigma^2),
    with squared distances from |x|^2 + |c|^2 - 2 x.c so that each block is one matmul.
    """
    centers = centers.reshape(len(centers), -1).double()  # (K, d)
    x = x.reshape(len(x), -1).double()  # (N, d)
    k, d = centers.shape
    c_sq = (centers * centers).sum(1)  # (K,)
    const = math.log(k) + 0.5 * d * math.log(2 * math.pi * sigma**2)
    out = []
    for start in range(0, len(x), batch):
        xb = x[start : start + batch]  # (b, d)
        sq = ((xb * xb).sum(1, keepdim=True) + c_sq[None] - 2 * xb @ centers.T).clamp_min(0)  # (b, K)
        out.append(torch.logsumexp(-sq / (2 * sigma**2), dim=1) - const)
    return torch.cat(out)


@dataclass(frozen=True)
class ParzenResult:
    mean: float  # mean test log-likelihood (nats)
    stderr: float  # standard error of that mean
    sigma: float  # kernel width chosen on the validation split
    validation: dict[float, float]  # mean validation log-likelihood for each sigma tried


def parzen_estimate(
    centers: Tensor, validation: Tensor, test: Tensor, sigmas: tuple[float, ...] = SIGMA_GRID
) -> ParzenResult:
    """Pick sigma maximising validation likelihood, then score the test split."""
    scores = {s: float(parzen_log_likelihood(centers, validation, s).mean()) for s in sigmas}
    sigma = max(scores, key=scores.__getitem__)
    ll = parzen_log_likelihood(centers, test, sigma)
    return ParzenResult(float(ll.mean()), float(ll.std(unbiased=True) / math.sqrt(len(ll))), sigma, scores)


@register_metric(
    "parzen",
    applies=lambda d: isinstance(d, ImageData) and "validation" in d.splits,
    summary="Parzen-window log-likelihood (Goodfellow et al. 2014, Table 1)",
    needs="image data with validation and test splits (mnist-5k, mnist, fashion-mnist, digits)",
)
def parzen_metric(ctx: EvalContext) -> dict[str, Any]:
    data = ctx.dataset
    assert isinstance(data, ImageData)
    validation = scale_images(data.splits["validation"], "sigmoid")
    if data.name in ("mnist", "fashion-mnist"):
        validation = validation[:1000]  # the paper: sigma on the first 1,000 of train[50000:60000]
    test = scale_images(data.splits["test"], "sigmoid")
    centres = unit_images(ctx.samples(10_000), ctx.info.output)
    fake = parzen_estimate(centres, validation, test)
    real_centres = scale_images(data.splits["train"][:10_000], "sigmoid")
    real = parzen_estimate(real_centres, validation, test)
    return {
        "settings": {
            "centres": len(centres),
            "validation": len(validation),
            "test": len(test),
            "sigma_grid": list(SIGMA_GRID),
            "split": "validation->sigma, test->score",
        },
        "log_likelihood": fake.mean,
        "stderr": fake.stderr,
        "sigma": fake.sigma,
        "real_centres": {
            "log_likelihood": real.mean,
            "stderr": real.stderr,
            "sigma": real.sigma,
            "centres": len(real_centres),
        },
    }
