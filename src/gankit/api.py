"""The few calls a notebook needs: sample a trained generator, score a run.

Training is `gankit.train(TrainConfig(...))` (or a `Trainer`); these two read what it wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gankit.metrics import evaluate_run, parse_names
from gankit.sampling.generator import generate, load_generator

__all__ = ["evaluate", "sample"]


def sample(
    run: str | Path,
    n: int = 64,
    seed: int = 0,
    label: int | None = None,
    ema: bool = True,
    device: str | torch.device = "cpu",
) -> Tensor:
    """`n` samples of the generator in run directory `run` (its EMA where kept), fixed by `seed`:
    images in the generator's output range (N, C, H, W), or points (N, D). `label` picks a class
    of a conditional generator (default: classes in turn)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    generator, info = load_generator(run, device, ema=ema)
    return generate(generator, info, n, seed=seed, device=device, label=label)


def evaluate(
    run: str | Path, metrics: str | list[str] | None = None, n: int | None = None, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Score run directory `run` with `metrics` (names, or None for all that apply), as
    `gankit eval` does; the results are also merged into the run's `eval.json`."""
    names = parse_names(metrics) if isinstance(metrics, str) or metrics is None else list(metrics)
    return evaluate_run(run, names, n, seed)
