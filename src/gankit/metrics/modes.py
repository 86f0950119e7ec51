"""Mode metrics for the Gaussian-mixture benchmarks (the PacGAN / VEEGAN protocol)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from gankit.data import ToyData
from gankit.metrics.context import EvalContext
from gankit.metrics.registry import register_metric


@dataclass(frozen=True)
class ModeResult:
    modes_captured: int  # modes with at least one high-quality sample
    n_modes: int
    high_quality: float  # fraction of samples within 3 sigma of their nearest mode centre
    kl_to_uniform: float  # KL(histogram of high-quality samples over modes || uniform), nats
    histogram: list[int]


def mode_metrics(samples: Tensor, centers: Tensor, sigma: float) -> ModeResult:
    """A sample is high-quality if its nearest centre is within 3 sigma; a mode is captured
    if it receives at least one high-quality sample."""
    dist = torch.cdist(samples.double(), centers.double())  # (N, K)
    nearest, which = dist.min(dim=1)
    good = nearest <= 3 * sigma
    counts = torch.bincount(which[good], minlength=len(centers))
    total = int(counts.sum())
    if total:
        p = counts.double() / total
        kl = float((torch.special.xlogy(p, p) - p * math.log(1 / len(centers))).sum())
    else:
        kl = float("inf")
    return ModeResult(int((counts > 0).sum()), len(centers), float(good.double().mean()), kl, counts.tolist())


@register_metric(
    "modes",
    applies=lambda d: isinstance(d, ToyData) and d.centers is not None,
    summary="modes captured / high-quality samples / KL to uniform (PacGAN)",
    needs="a 2-D mixture with known centres (ring8, grid25)",
)
def modes_metric(ctx: EvalContext) -> dict[str, Any]:
    data = ctx.dataset
    assert isinstance(data, ToyData) and data.centers is not None and data.sigma is not None
    samples = ctx.samples(2500)
    result = mode_metrics(samples, data.centers, data.sigma)
    return {
        "settings": {"samples": len(samples), "threshold": f"3 sigma = {3 * data.sigma}"},
        **dataclasses.asdict(result),
    }
