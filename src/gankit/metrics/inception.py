"""FID, KID and IS on Inception-v3 features, on the reference sets and on a user's own images.

The features come from torchmetrics' copy of the Inception-v3 that FID was defined with
(`NoTrainInceptionV3`, torch-fidelity's port), in one pass that gives both the 2,048 pool
features (FID, KID) and the logits (IS); the scores are torchmetrics' own, computed from those
features (`gankit.metrics.features`). The weights are read from a local file, never
downloaded here: `--inception-weights PATH`, `$GANKIT_INCEPTION_WEIGHTS`, or the file
torch-fidelity keeps in torch's hub cache. Without them the metric stops with one line
saying how to get them.

Protocols: a set with a test split (mnist, fashion-mnist, ...) is scored with 10,000
generated images against its test split; a set without one (a folder of the user's images)
against its whole training split with 50,000 generated images, StyleGAN2-ADA's `fid50k_full`.
The reference features are computed once per dataset and feature network and cached,
keyed by the SHA-256 of the reference images (beside a prepared dataset, else in the user
cache).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gankit.data import ImageData, to_uint8
from gankit.data.mnist import cache_dir
from gankit.errors import GankitError
from gankit.metrics.context import EvalContext
from gankit.metrics.features import frechet_distance, given_features_metric
from gankit.metrics.registry import register_metric
from gankit.outputs.files import atomic_write_bytes

__all__ = [
    "WEIGHTS_ENV",
    "WEIGHTS_FILE",
    "check_inception",
    "inception_metrics",
    "load_inception",
    "reference_features",
]

FEATURES = 2048
WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's release asset
WEIGHTS_ENV = "GANKIT_INCEPTION_WEIGHTS"
OWN_DATA_SAMPLES = 50_000  # fid50k_full
TEST_SPLIT_SAMPLES = 10_000

_INSTALL = "pip install 'gankit[inception]' (torch-fidelity)"


def default_weights_path() -> Path:
    """Where torch-fidelity keeps the weights it downloads: torch's hub cache."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def _home_relative(path: Path) -> str:
    """`path` with the home directory written as ~."""
    home = Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)


def weights_path(given: str | None) -> Path:
    """The weights file: `given`, else $GANKIT_INCEPTION_WEIGHTS, else torch's hub cache; an error
    that says how to get it where none of them is a file."""
    for source, path in (("--inception-weights", given), (WEIGHTS_ENV, os.environ.get(WEIGHTS_ENV))):
        if path:
            if not Path(path).is_file():
                raise GankitError(f"{source} {path}: no such file (the Inception-v3 weights, {WEIGHTS_FILE})")
            return Path(path)
    cached = default_weights_path()
    if cached.is_file():
        return cached
    raise GankitError(
        f"the inception metrics need the Inception-v3 weights {WEIGHTS_FILE} (torch-fidelity's release "
        f"v0.2.0 on GitHub), which cannot be downloaded here: fetch it on a connected machine and give "
        f"--inception-weights PATH, set {WEIGHTS_ENV}, or put it in {_home_relative(cached.parent)}"
    )


class InceptionFeatures(nn.Module):
    """uint8 (N, 3, H, W) -> (pool features (N, 2048), logits (N, 1008)) in one pass."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3

            self.net = NoTrainInceptionV3(
                name="inception-v3-compat",
                features_list=[str(FEATURES), "logits_unbiased"],
                feature_extractor_weights_path=str(path),
            )
        except (ImportError, ModuleNotFoundError) as err:
            raise GankitError(f"the inception metrics need torch-fidelity: {_INSTALL} ({err})") from None
        except (OSError, RuntimeError, KeyError) as err:
            raise GankitError(f"could not load the Inception-v3 weights from {path} ({err})") from None
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        self.network_id = f"inception-v3-{digest}"

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features, logits = self.net._torch_fidelity_forward(x)
        return features.reshape(len(x), -1), logits.reshape(len(x), -1)


def check_inception(weights: str | None) -> Path:
    """The weights file, once torch-fidelity is known to be installed; a one-line error otherwise
    (training with `--eval-metrics inception` checks this before its first step)."""
    path = weights_path(weights)
    try:
        import torch_fidelity  # noqa: F401
    except (ImportError, ModuleNotFoundError) as err:
        raise GankitError(f"the inception metrics need torch-fidelity: {_INSTALL} ({err})") from None
    return path


def load_inception(weights: str | None) -> nn.Module:
    """The feature network: torchmetrics' Inception-v3 with the weights `weights_path` finds.

    Any module with a `network_id` and the same call (uint8 images -> features, logits) stands
    in for it (the tests use a small one)."""
    return InceptionFeatures(check_inception(weights))


def _rgb(images: Tensor) -> Tensor:
    """uint8 (N, 1|3, H, W) -> uint8 (N, 3, H, W); the network resizes to 299 itself."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


@torch.no_grad()
def extract(
    network: nn.Module, images: Tensor, device: torch.device | str = "cpu", batch: int = 200
) -> tuple[Tensor, Tensor]:
    """Features (N, F) and logits (N, K) of uint8 `images`, in float64 on the CPU."""
    features, logits = [], []
    for start in range(0, len(images), batch):
        f, g = network(_rgb(images[start : start + batch]).to(device))
        features.append(f.double().cpu())
        logits.append(g.double().cpu())
    return torch.cat(features), torch.cat(logits)


def images_key(images: Tensor) -> str:
    """The first 16 hex digits of the SHA-256 of uint8 `images` (with their shape)."""
    digest = hashlib.sha256(str(tuple(images.shape)).encode())
    digest.update(images.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Reference:
    """The real images a metric compares with: `count` of them, read `read(start, stop)` a chunk
    at a time, identified by `key` (the SHA-256 of the images, or of the source they come from)."""

    count: int
    read: Callable[[int, int], Tensor]
    key: str

    @classmethod
    def of(cls, images: Tensor) -> Reference:
        return cls(len(images), lambda start, stop: images[start:stop], images_key(images))


def reference_features(
    network: nn.Module,
    reference: Reference,
    directory: Path,
    device: torch.device | str = "cpu",
    chunk: int = 5000,
) -> tuple[Tensor, bool]:
    """The features of the reference images, from the cache in `directory` where they are there
    (keyed by the reference's key and the network), else computed a chunk at a time and cached;
    and whether they came from the cache."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save

    name = f"{getattr(network, 'network_id', type(network).__name__)}-{reference.key[:16]}.safetensors"
    path = directory / name
    if path.is_file():
        try:
            features = load_file(path)["features"]
            if features.ndim == 2 and len(features) == reference.count:
                return features, True
        except (SafetensorError, OSError, KeyError):
            pass  # a damaged cache file is recomputed and replaced
    parts = [
        extract(network, reference.read(start, min(start + chunk, reference.count)), device)[0]
        for start in range(0, reference.count, chunk)
    ]
    features = torch.cat(parts)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, save({"features": features.contiguous()}))
    return features, False


def inception_metrics(
    fake_features: Tensor, fake_logits: Tensor, real_features: Tensor, kid_subset: int = 1000
) -> dict[str, Any]:
    """FID and KID of the fake features against the real ones, and the IS of the fake logits,
    each by torchmetrics (FID and KID in float64; IS over 10 splits)."""
    from torchmetrics.image.inception import InceptionScore
    from torchmetrics.image.kid import KernelInceptionDistance

    subset = min(kid_subset, len(fake_features), len(real_features))
    kid = given_features_metric(KernelInceptionDistance, fake_features.shape[1], subset_size=subset)
    kid.update(real_features, real=True)
    kid.update(fake_features, real=False)
    kid_mean, kid_std = kid.compute()
    score = given_features_metric(InceptionScore, fake_logits.shape[1])
    score.update(fake_logits)
    is_mean, is_std = score.compute()
    return {
        "fid": frechet_distance(real_features, fake_features),
        "kid": float(kid_mean),
        "kid_std": float(kid_std),
        "inception_score": float(is_mean),
        "inception_score_std": float(is_std),
        "kid_subset_size": subset,
    }


def feature_cache_dir(data: ImageData) -> Path:
    """Beside a prepared dataset (its `home`), else the user cache."""
    return Path(data.home) / "cache" if data.home else cache_dir() / "features"


def own_reference(data: ImageData) -> Reference:
    """Every training image of a set of the user's own, read a chunk at a time (decoded where the
    set streams), keyed by the set's fingerprint where it has one (a prepared set's SHA-256)."""
    count = data.count("train")

    def read(start: int, stop: int) -> Tensor:
        return data.images("train", torch.arange(start, stop))

    if data.fingerprint is None:
        return Reference.of(data.images("train"))
    if data.home:  # a prepared set: the SHA-256 of its images.npy
        return Reference(count, read, data.fingerprint)
    # a folder or zip: its listing's SHA-256 with the size and channels it is decoded at
    return Reference(count, read, hashlib.sha256(f"{data.fingerprint}:{data.shape}".encode()).hexdigest())


def inception_metric_with(ctx: EvalContext, network: nn.Module) -> dict[str, Any]:
    """The `inception` metric of `ctx` with feature network `network`."""
    data = ctx.dataset
    assert isinstance(data, ImageData)
    if "test" in data.splits:
        split, default_n, protocol = "test", TEST_SPLIT_SAMPLES, "10k generated vs the test split"
        reference = Reference.of(data.splits["test"][:TEST_SPLIT_SAMPLES])
    else:
        split, default_n = "train", OWN_DATA_SAMPLES
        protocol = "fid50k_full: generated vs every training image"
        reference = own_reference(data)
    real_features, cached = reference_features(network, reference, feature_cache_dir(data), ctx.device)
    network_id = getattr(network, "network_id", type(network).__name__)
    fake_features, fake_logits = [], []
    for samples in ctx.sample_chunks(default_n):  # 50,000 large images need not sit in memory at once
        features, logits = extract(network, to_uint8(samples, ctx.info.output), ctx.device)
        fake_features.append(features)
        fake_logits.append(logits)
    fake_features_all, fake_logits_all = torch.cat(fake_features), torch.cat(fake_logits)
    scores = inception_metrics(fake_features_all, fake_logits_all, real_features)
    subset = scores.pop("kid_subset_size")
    return {
        "settings": {
            "protocol": protocol,
            "features": f"{network_id} pool ({real_features.shape[1]})",
            "library": "torchmetrics",
            "generated": len(fake_features_all),
            "real_split": split,
            "real": reference.count,
            "reference_sha256": reference.key,
            "reference_features_cached": cached,
            "kid_subset_size": subset,
            "is_splits": 10,
        },
        **scores,
    }


@register_metric(
    "inception",
    applies=lambda d: isinstance(d, ImageData),
    summary="FID, KID and IS on Inception-v3 features (needs its weights: --inception-weights)",
    default=False,
    needs="image data",
)
def inception_metric(ctx: EvalContext) -> dict[str, Any]:
    return inception_metric_with(ctx, load_inception(ctx.inception_weights))
