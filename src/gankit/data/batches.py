"""Batch sources for training: epoch-shuffled batches of a tensor, or fresh synthetic draws.

Both keep their randomness in a private torch.Generator whose state goes into
checkpoints, so that a resumed run sees exactly the batches an unbroken one would.
In a process group each rank draws the same global batch of `batch_size * world_size`
rows and keeps its own slice (`gankit.runtime.distributed.shard`), so ranks see different
examples while their generators stay in step.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gankit.data.base import ToyData
from gankit.runtime.distributed import SINGLE, DistContext, shard


def epoch_flips(seed: int, epoch: int, n: int) -> Tensor:
    """Which of `n` examples epoch `epoch` mirrors left-right (`--xflip`): a fair coin per
    example, drawn from (seed, epoch) alone, so a resumed run flips what an unbroken one would."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.rand(n, generator=generator) < 0.5


def flip_rows(batch: Tensor, flip: Tensor) -> Tensor:
    """`batch` (n, C, H, W) with the rows where `flip` (n,) holds mirrored along W."""
    return torch.where(flip.to(batch.device).view(-1, 1, 1, 1), batch.flip(-1), batch)


class EpochOrder:
    """The order in which epochs visit `n` examples in global batches of `batch_size * world_size`:
    a permutation per epoch from a private generator (or the examples' own order without
    `shuffle`), the last partial batch dropped, and with `xflip` the examples each epoch mirrors.
    Its state (generator, order, epoch, position) is what a checkpoint keeps of a batch source.
    """

    def __init__(
        self, n: int, batch_size: int, seed: int, dist: DistContext, shuffle: bool, xflip: bool
    ) -> None:
        global_batch = batch_size * dist.world_size
        if n < global_batch:
            raise ValueError(f"dataset has {n} examples, fewer than one batch of {global_batch}")
        self.n, self.batch_size, self.dist = n, global_batch, dist
        self.shuffle, self.seed, self.xflip = shuffle, seed, xflip
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch, self.position = 0, 0
        self.order = self._new_order()
        self._flips: tuple[int, Tensor] | None = None  # (epoch, its flips)

    def epochs_done(self, batches: int) -> float:
        """Passes over the data that `batches` global batches make."""
        return batches * self.batch_size / self.n

    def _new_order(self) -> Tensor:
        if not self.shuffle:
            return torch.arange(self.n)
        return torch.randperm(self.n, generator=self.generator)

    def _advance(self) -> int:
        """Move on by one global batch (to a new epoch where this one has no full batch left);
        the batch's start in `order`."""
        if self.position + self.batch_size > self.n:
            self.order = self._new_order()
            self.epoch, self.position = self.epoch + 1, 0
            self._new_epoch()
        start = self.position
        self.position += self.batch_size
        return start

    def _new_epoch(self) -> None:
        """Called when an epoch begins, and after a restore."""

    def _epoch_flips(self) -> Tensor:
        """This epoch's `epoch_flips` of every example."""
        if self._flips is None or self._flips[0] != self.epoch:
            self._flips = (self.epoch, epoch_flips(self.seed, self.epoch, self.n))
        return self._flips[1]

    def next(self) -> Tensor:
        return self.next_labeled()[0]

    def next_labeled(self) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

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
        self._new_epoch()


class TensorBatches(EpochOrder):
    """Batches of `batch_size` rows of `data`, reshuffled every epoch; the last partial batch is dropped.
    With `shuffle` False, batches are consecutive slices in the data's own order, every epoch alike.
    With `xflip`, each epoch mirrors a random half of the examples (`epoch_flips`).

    The whole dataset lives on `data.device`; only the index permutation is drawn on the CPU.
    With several ranks, `batch_size` is per rank and each epoch is one pass of all ranks together.
    """

    def __init__(
        self,
        data: Tensor,
        batch_size: int,
        seed: int,
        dist: DistContext = SINGLE,
        labels: Tensor | None = None,
        shuffle: bool = True,
        xflip: bool = False,
    ) -> None:
        super().__init__(len(data), batch_size, seed, dist, shuffle, xflip)
        self.data, self.labels = data, labels
        self._order_on_device: tuple[Tensor, Tensor] | None = None  # (order, its copy on data's device)

    def next_labeled(self) -> tuple[Tensor, Tensor | None]:
        """The next batch (batch, *shape) and its labels (batch,), or None without labels."""
        start = self._advance()
        if self._order_on_device is None or self._order_on_device[0] is not self.order:
            self._order_on_device = (self.order, self.order.to(self.data.device))  # one copy per epoch
        index = shard(self._order_on_device[1][start : start + self.batch_size], self.dist)
        labels = None if self.labels is None else self.labels[index.to(self.labels.device)]
        batch = self.data[index]
        if self.xflip:
            batch = flip_rows(batch, self._epoch_flips()[index.cpu()])
        return batch, labels


class SyntheticBatches:
    """Fresh draws from a synthetic density for every batch (an infinite dataset)."""

    def __init__(
        self, dataset: ToyData, batch_size: int, seed: int, device: torch.device, dist: DistContext = SINGLE
    ) -> None:
        self.dataset, self.batch_size, self.device, self.dist = dataset, batch_size, device, dist
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0

    def next(self) -> Tensor:
        draw = self.dataset.sample(self.batch_size * self.dist.world_size, self.generator)
        return shard(draw, self.dist).to(self.device)  # (batch, D)

    def next_labeled(self) -> tuple[Tensor, None]:
        return self.next(), None

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
