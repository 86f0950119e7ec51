"""FID, KID and IS on Inception-v3 features, computed by torchmetrics (never re-implemented here).

The Inception weights come with torch-fidelity (`pip install 'gankit[inception]'`) and
download on first use; without them these metrics stop with a message saying so.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gankit.data import ImageData, to_uint8
from gankit.errors import GankitError
from gankit.metrics.context import EvalContext
from gankit.metrics.registry import register_metric

FEATURES = 2048

_MISSING = (
    "the inception metrics need torch-fidelity and its Inception-v3 weights: "
    "pip install 'gankit[inception]' on a connected machine (the weights download on first use)"
)


def _build_metrics(subset_size: int) -> tuple[Any, Any, Any]:
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.inception import InceptionScore
        from torchmetrics.image.kid import KernelInceptionDistance

        return (
            FrechetInceptionDistance(feature=FEATURES, sync_on_compute=False),
            KernelInceptionDistance(feature=FEATURES, subset_size=subset_size, sync_on_compute=False),
            InceptionScore(sync_on_compute=False),
        )
    except (ImportError, ModuleNotFoundError) as err:
        raise GankitError(f"{_MISSING} ({err})") from None
    except (OSError, RuntimeError) as err:  # no network or a corrupt download
        raise GankitError(f"could not load the Inception-v3 weights ({err}); {_MISSING}") from None


def _rgb(images: Tensor) -> Tensor:
    """uint8 (N, 1|3, H, W) -> uint8 (N, 3, H, W); torchmetrics resizes to 299 itself."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def inception_metrics(
    fake: Tensor, real: Tensor, device: torch.device | str = "cpu", batch: int = 200
) -> dict[str, Any]:
    """FID and KID of uint8 `fake` against uint8 `real` images, and the IS of `fake`."""
    subset = min(1000, len(fake), len(real))
    fid, kid, inception = (m.to(device) for m in _build_metrics(subset))
    for start in range(0, len(real), batch):
        chunk = _rgb(real[start : start + batch]).to(device)
        fid.update(chunk, real=True)
        kid.update(chunk, real=True)
    for start in range(0, len(fake), batch):
        chunk = _rgb(fake[start : start + batch]).to(device)
        fid.update(chunk, real=False)
        kid.update(chunk, real=False)
        inception.update(chunk)
    kid_mean, kid_std = kid.compute()
    is_mean, is_std = inception.compute()
    return {
        "settings": {
            "features": f"inception-v3 pool3 ({FEATURES})",
            "library": "torchmetrics",
            "generated": len(fake),
            "real_split": "test",
            "real": len(real),
            "kid_subset_size": subset,
            "is_splits": 10,
        },
        "fid": float(fid.compute()),
        "kid": float(kid_mean),
        "kid_std": float(kid_std),
        "inception_score": float(is_mean),
        "inception_score_std": float(is_std),
    }


@register_metric(
    "inception",
    applies=lambda d: isinstance(d, ImageData) and "test" in d.splits,  # scored against the test split
    summary="FID, KID and IS on Inception-v3 features through torchmetrics (needs its weights)",
    default=False,
)
def inception_metric(ctx: EvalContext) -> dict[str, Any]:
    data = ctx.dataset
    assert isinstance(data, ImageData)
    fake = to_uint8(ctx.samples(10_000), ctx.info.output)
    real = data.splits["test"][:10_000]
    return inception_metrics(fake, real, ctx.device)
