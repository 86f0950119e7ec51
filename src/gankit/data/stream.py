"""Batches of images read on the fly through a `torch.utils.data.DataLoader` with worker processes.

`StreamBatches` draws exactly the batches `TensorBatches` draws from the same data (the same
epoch permutations from the same generator, the same shard per rank, the same `--xflip`
coins), but asks an `ImageReader` for the images of each batch instead of holding them all:
worker processes decode (a folder or zip) or page in (a prepared dataset) the next batches
while the current one trains, into pinned memory on CUDA. Its state is the permutation
generator and the position in the epoch, so a resumed run continues with the batch an
unbroken one would have drawn.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from gankit.data.base import ImageReader, scale_images
from gankit.data.batches import epoch_flips, flip_rows
from gankit.runtime.distributed import SINGLE, DistContext, shard

__all__ = ["StreamBatches"]


class _Rows(torch.utils.data.Dataset):
    """The reader as a map-style dataset of uint8 tensors."""

    def __init__(self, reader: ImageReader) -> None:
        self.reader = reader

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, index: int) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.reader[index]))


class StreamBatches:
    """Batches of `batch_size` images of `reader`, reshuffled every epoch (last partial batch dropped),
    scaled for G's `value_range` on `device`; `workers` processes read ahead (0: this process)."""

    def __init__(
        self,
        reader: ImageReader,
        batch_size: int,
        seed: int,
        value_range: str,
        device: torch.device,
        dist: DistContext = SINGLE,
        labels: Tensor | None = None,
        shuffle: bool = True,
        xflip: bool = False,
        workers: int = 0,
        channels_last: bool = False,
    ) -> None:
        global_batch = batch_size * dist.world_size
        if len(reader) < global_batch:
            raise ValueError(f"dataset has {len(reader)} examples, fewer than one batch of {global_batch}")
        self.reader, self.batch_size, self.rank_batch, self.dist = reader, global_batch, batch_size, dist
        self.value_range, self.device, self.labels = value_range, device, labels
        self.shuffle, self.seed, self.xflip, self.workers = shuffle, seed, xflip, workers
        self.channels_last = channels_last
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch, self.position = 0, 0
        self.order = self._new_order()
        self._batches: Iterator[Tensor] | None = None  # this epoch's loader, from `position` on
        self._flips: tuple[int, Tensor] | None = None

    def __len__(self) -> int:
        return len(self.reader)

    def describe(self) -> str:
        plural = "es" if self.workers > 1 else ""
        where = f"{self.workers} worker process{plural}" if self.workers else "the training process"
        return f"streamed: read on the fly by {where}"

    def epochs_done(self, batches: int) -> float:
        return batches * self.batch_size / len(self.reader)

    def _new_order(self) -> Tensor:
        if not self.shuffle:
            return torch.arange(len(self.reader))
        return torch.randperm(len(self.reader), generator=self.generator)

    def _rank_indices(self) -> Tensor:
        """This rank's rows of every remaining global batch of the epoch, in order."""
        full = (len(self.order) - self.position) // self.batch_size
        rows = self.order[self.position : self.position + full * self.batch_size].view(full, self.batch_size)
        return torch.stack([shard(row, self.dist) for row in rows]).reshape(-1) if full else rows.reshape(-1)

    def _start_loader(self) -> None:
        indices = self._rank_indices().tolist()
        loader = DataLoader(
            _Rows(self.reader),
            batch_size=self.rank_batch,
            sampler=indices,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=2 if self.workers else None,
            drop_last=True,
        )
        self._batches = iter(loader)

    def next(self) -> Tensor:
        return self.next_labeled()[0]

    def next_labeled(self) -> tuple[Tensor, Tensor | None]:
        """The next batch (batch, C, H, W) on the device and its labels (batch,), or None."""
        if self.position + self.batch_size > len(self.reader):
            self.order = self._new_order()
            self.epoch, self.position = self.epoch + 1, 0
            self._batches = None
        if self._batches is None:
            self._start_loader()
        assert self._batches is not None
        index = shard(self.order[self.position : self.position + self.batch_size], self.dist)
        self.position += self.batch_size
        images = next(self._batches)
        batch = scale_images(images.to(self.device, non_blocking=True), self.value_range)
        if self.xflip:
            if self._flips is None or self._flips[0] != self.epoch:
                self._flips = (self.epoch, epoch_flips(self.seed, self.epoch, len(self.reader)))
            batch = flip_rows(batch, self._flips[1][index])
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        labels = None if self.labels is None else self.labels[index.to(self.labels.device)]
        return batch, labels

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
        self._batches = None  # restart the loader at the restored position
