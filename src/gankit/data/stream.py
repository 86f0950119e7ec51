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

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from gankit.data.base import ImageReader, scale_images
from gankit.data.batches import EpochOrder, flip_rows
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


class StreamBatches(EpochOrder):
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
        super().__init__(len(reader), batch_size, seed, dist, shuffle, xflip)
        self.reader, self.rank_batch = reader, batch_size
        self.value_range, self.device, self.labels = value_range, device, labels
        self.workers, self.channels_last = workers, channels_last
        self._batches: Iterator[Tensor] | None = None  # this epoch's loader, from `position` on

    def describe(self) -> str:
        """How the images arrive, for the start-up line."""
        plural = "es" if self.workers > 1 else ""
        where = f"{self.workers} worker process{plural}" if self.workers else "the training process"
        return f"streamed: read on the fly by {where}"

    def _new_epoch(self) -> None:
        self._batches = None  # a new loader, from `position` on

    def _start_loader(self, start: int) -> Iterator[Tensor]:
        """This rank's rows of every global batch of the epoch from `start` on, read by a DataLoader."""
        full = (self.n - start) // self.batch_size
        rows = self.order[start : start + full * self.batch_size].view(full, self.batch_size)
        indices = [i for row in rows for i in shard(row, self.dist).tolist()]
        loader = DataLoader(
            _Rows(self.reader),
            batch_size=self.rank_batch,
            sampler=indices,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=2 if self.workers else None,
            drop_last=True,
        )
        return iter(loader)

    def next_labeled(self) -> tuple[Tensor, Tensor | None]:
        """The next batch (batch, C, H, W) on the device and its labels (batch,), or None."""
        start = self._advance()
        if self._batches is None:
            self._batches = self._start_loader(start)
        index = shard(self.order[start : start + self.batch_size], self.dist)
        images = next(self._batches)
        batch = scale_images(images.to(self.device, non_blocking=True), self.value_range)
        if self.xflip:
            batch = flip_rows(batch, self._epoch_flips()[index])
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        labels = None if self.labels is None else self.labels[index.to(self.labels.device)].to(self.device)
        return batch, labels
