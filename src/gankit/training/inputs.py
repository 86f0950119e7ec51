"""The inputs of each iteration: real batches, noise and labels, drawn in a fixed order.

`IterationInputs` owns the random streams of the data and the noise (their states go into
checkpoints, so a resumed run draws exactly what an unbroken one would) and turns them into
the `Iteration` that `GANStep` consumes. Under torchrun every rank draws the same global noise
batch and keeps its own slice.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gankit.data.batches import EpochOrder, SyntheticBatches
from gankit.noise import sample_noise
from gankit.runtime.distributed import DistContext, shard
from gankit.training.labels import LabelSource
from gankit.training.step import Iteration

__all__ = ["IterationInputs"]


class IterationInputs:
    """Draws `Iteration`s: `k` real batches and `k` noise batches for D, then G's real batch
    (relativistic losses only), then G's noise and labels (unless G reuses D's fakes)."""

    def __init__(
        self,
        batches: EpochOrder | SyntheticBatches,
        labels: LabelSource,
        noise: str,
        noise_dim: int,
        seed: int,
        device: torch.device,
        dist: DistContext,
    ) -> None:
        self.batches, self.labels = batches, labels
        self.prior, self.noise_dim, self.device, self.dist = noise, noise_dim, device, dist
        self.rng = torch.Generator(device).manual_seed(seed)

    def noise(self, n: int) -> Tensor:
        """This rank's `n` rows of a global noise batch of `n * world_size` (same RNG on every rank)."""
        draw = sample_noise(self.prior, n * self.dist.world_size, self.noise_dim, self.rng, self.device)
        return shard(draw, self.dist)

    def noise_labels(self, n: int) -> Tensor | None:
        """This rank's `n` labels for G's step (None when unconditional)."""
        if not self.labels.n_classes:
            return None
        draw = self.labels.draw(n * self.dist.world_size, self.rng, self.device)
        assert draw is not None
        return shard(draw, self.dist)

    def draw(self, k: int, batch_size: int, g_needs_real: bool, reuse_fakes: bool) -> Iteration:
        """The inputs of one iteration with `k` discriminator steps of `batch_size` each."""
        real, real_labels, d_noise = [], [], []
        for _ in range(k):
            batch, labels = self.batches.next_labeled()
            real.append(batch)
            real_labels.append(labels)
            d_noise.append(self.noise(batch_size))
        g_real, g_real_labels = self.batches.next_labeled() if g_needs_real else (None, None)
        g_noise = g_labels = None
        if not reuse_fakes:  # Algorithm 1: fresh noise for G's step
            g_noise, g_labels = self.noise(batch_size), self.noise_labels(batch_size)
        return Iteration(
            tuple(real), tuple(real_labels), tuple(d_noise), g_noise, g_labels, g_real, g_real_labels
        )

    def state_dict(self) -> dict[str, Any]:
        return {"noise": self.rng.get_state(), "batches": self.batches.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.set_state(state["noise"])
        self.batches.load_state_dict(state["batches"])
