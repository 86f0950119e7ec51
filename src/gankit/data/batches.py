"""Batch sources for training: epoch-shuffled batches of a tensor, or fresh synthetic draws.

Both keep their randomness in a private torch.Generator whose state goes into
checkpoints, so that a resumed run sees exactly the batches an unbroken one would.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gankit.data.base import ToyData


class TensorBatches:
    """Batches of `batch_size` rows of `data`, reshuffled every epoch; the last partial batch is dropped.

    The whole dataset lives on `data.device`; only the index permutation is drawn on the CPU.
    """

    def __init__(self, data: Tensor, batch_size: int, seed: int) -> None:
        if len(data) < batch_size:
            raise ValueError(f"dataset has {len(data)} examples, fewer than one batch of {batch_size}")
        self.data, self.batch_size = data, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch, self.position = 0, 0
        self.order = torch.randperm(len(data), generator=self.generator)

    def next(self) -> Tensor:
        if self.position + self.batch_size > len(self.data):
            self.order = torch.randperm(len(self.data), generator=self.generator)
            self.epoch, self.position = self.epoch + 1, 0
        index = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return self.data[index.to(self.data.device)]  # (batch, *shape)

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.get_state(),
            "order": self.order,
            "epoch": self.epoch,
            "position": self.position,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.order = state["order"].clone()
        self.epoch, self.position = int(state["epoch"]), int(state["position"])


class SyntheticBatches:
    """Fresh draws from a synthetic density for every batch (an infinite dataset)."""

    def __init__(self, dataset: ToyData, batch_size: int, seed: int, device: torch.device) -> None:
        self.dataset, self.batch_size, self.device = dataset, batch_size, device
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0

    def next(self) -> Tensor:
        return self.dataset.sample(self.batch_size, self.generator).to(self.device)  # (batch, D)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
