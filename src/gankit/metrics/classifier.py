"""A small CNN classifier that gankit trains per dataset, giving features and class probabilities."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from gankit.data import ImageData, scale_images
from gankit.data.mnist import cache_dir
from gankit.outputs.files import atomic_write_bytes, atomic_write_json

VERSION = "1"


class SmallCNN(nn.Module):
    """conv3 32 -> pool -> conv3 64 -> pool -> 128 features (penultimate) -> class logits."""

    def __init__(self, shape: tuple[int, ...], classes: int = 10) -> None:
        super().__init__()
        channels, size = shape[0], shape[-1]
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * (size // 4) ** 2, 128),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(128, classes))

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)  # (N, 128)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))  # (N, classes)


def _shift(x: Tensor, generator: torch.Generator, pixels: int = 2) -> Tensor:
    """Random translation by up to `pixels` in each direction (zero padding)."""
    padded = F.pad(x, (pixels,) * 4)
    dy, dx = torch.randint(0, 2 * pixels + 1, (2,), generator=generator).tolist()
    return padded[..., dy : dy + x.shape[-2], dx : dx + x.shape[-1]]


def train_classifier(
    data: ImageData, epochs: int = 15, seed: int = 0, batch: int = 64
) -> tuple[SmallCNN, float]:
    """Train on the train split (pixels in [0, 1]), return the model and its test-split accuracy.

    The global random state is restored afterwards, so training a classifier mid-run changes nothing.
    """
    with torch.random.fork_rng(devices=[]):
        return _train_classifier(data, epochs, seed, batch)


def _train_classifier(data: ImageData, epochs: int, seed: int, batch: int) -> tuple[SmallCNN, float]:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = SmallCNN(data.shape)
    x, y = scale_images(data.splits["train"], "sigmoid"), data.labels["train"]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = epochs * (len(x) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(len(x) // batch):
            idx = order[i * batch : (i + 1) * batch]
            loss = F.cross_entropy(model(_shift(x[idx], gen)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        pred = model(scale_images(data.splits["test"], "sigmoid")).argmax(1)
    return model, float((pred == data.labels["test"]).double().mean())


def _key(data: ImageData) -> str:
    digest = hashlib.sha256(data.splits["train"].numpy().tobytes()).hexdigest()[:16]
    name = data.name.replace(":", "_").replace("/", "_")
    return f"{name}-{'x'.join(map(str, data.shape))}-v{VERSION}-{digest}"


def _load(weights: Path, shape: tuple[int, ...]) -> SmallCNN:
    """The SmallCNN saved in `weights`, in eval mode, built without drawing from torch's global RNG.

    Loading happens mid-training too (the collapse watcher); a draw there would change the
    training's random stream, and so its results and its exact resume, by whether a
    classifier happened to be cached.
    """
    with torch.random.fork_rng(devices=[]):
        model = SmallCNN(shape)
    model.load_state_dict(st_load(weights.read_bytes()))
    return model.eval()


def cached_classifier(data: ImageData, directory: Path | None = None) -> SmallCNN | None:
    """The classifier for `data` if one is already cached, else None (never trains)."""
    directory = directory or cache_dir() / "classifiers"
    weights = directory / f"{_key(data)}.safetensors"
    return _load(weights, data.shape) if weights.is_file() else None


def load_or_train_classifier(data: ImageData, directory: Path | None = None) -> tuple[SmallCNN, dict]:
    """The cached classifier for `data` (keyed by a hash of its train split), trained on first use."""
    directory = directory or cache_dir() / "classifiers"
    key = _key(data)
    weights, meta_path = directory / f"{key}.safetensors", directory / f"{key}.json"
    if weights.is_file() and meta_path.is_file():
        return _load(weights, data.shape), json.loads(meta_path.read_text())
    model, accuracy = train_classifier(data)
    atomic_write_bytes(weights, st_save({k: v.contiguous() for k, v in model.state_dict().items()}))
    meta = {"dataset": data.name, "version": VERSION, "test_accuracy": accuracy, "key": key}
    atomic_write_json(meta_path, meta)
    return model.eval(), meta
