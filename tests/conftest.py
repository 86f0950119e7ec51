"""Shared fixtures: tiny datasets and configs that keep the suite fast on 2 CPU cores."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

from gankit.data import ImageData


@pytest.fixture
def tiny_images() -> ImageData:
    """64 random-blob 28x28 gray images, enough for a few training steps of any image model."""
    gen = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    centers = torch.rand(64, 2, generator=gen) * 16 + 6
    d2 = (yy - centers[:, 0, None, None]) ** 2 + (xx - centers[:, 1, None, None]) ** 2
    images = (255 * torch.exp(-d2 / 18)).round().to(torch.uint8).unsqueeze(1)  # (64, 1, 28, 28)
    return ImageData(name="blobs", splits={"train": images, "test": images[:16]})


def train_tiny_run(out, *extra: str):
    """Train a 3-step mlp on `digits` through the CLI into `out` (later `extra` flags win)."""
    from gankit.cli import main

    args = ["train", "--dataset", "digits", "--model", "mlp", "--steps", "3", "--batch-size", "16",
            "--out", str(out), "--device", "cpu", "--no-progress", "--noise-dim", "8", *extra]  # fmt: skip
    assert main(args) == 0
    return out


def load_script(name: str) -> Iterator[ModuleType]:
    """Import `scripts/<name>.py` as a module for the length of a fixture (yield it)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"gankit_script_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]
