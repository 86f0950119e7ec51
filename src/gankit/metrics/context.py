"""What a metric works with: `EvalContext` (the generator, the data, a sample budget) and helpers
shared by several metrics (pixels in [0, 1], the classifier's features, the stacked set's source)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor

from gankit.data import DataOptions, Dataset, ImageData, load_dataset, to_uint8
from gankit.models.parts import eval_mode
from gankit.noise import sample_noise
from gankit.runtime.distributed import SINGLE, DistContext, broadcast_int, gather_rows
from gankit.sampling.generator import GeneratorInfo, balanced_labels, generate, generate_chunks

__all__ = [
    "EvalContext",
    "classify",
    "has_class_labels",
    "is_stacked",
    "serve_samples",
    "stack_source",
    "unit_images",
]


@dataclass
class EvalContext:
    """What a metric may use: the generator (in eval mode), the dataset, and a sample budget."""

    generator: torch.nn.Module
    info: GeneratorInfo
    dataset: Dataset
    seed: int
    n: int | None
    data_options: DataOptions = field(default_factory=DataOptions)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dist: DistContext = SINGLE
    inception_weights: str | None = None  # the Inception-v3 weights file (`gankit.metrics.inception`)

    def samples(self, default_n: int) -> Tensor:
        """`n` (or the metric's `default_n`) generator samples on the CPU, fixed by `seed`.

        In a process group, rank 0 asks every rank for its share (see `serve_samples`):
        the samples are the same as one process draws, at 1/N of the generator work each.
        """
        n = self.n or default_n
        if not self.dist.enabled:
            return generate(self.generator, self.info, n, seed=self.seed, device=self.device)
        broadcast_int(n, self.dist, self.device)
        broadcast_int(self.seed, self.dist, self.device)
        return _sharded_samples(self.generator, self.info, n, self.seed, self.device, self.dist)

    def sample_chunks(self, default_n: int, chunk: int = 5000) -> Iterator[Tensor]:
        """The samples of `samples(default_n)`, `chunk` at a time (in a process group: all at once)."""
        if self.dist.enabled:
            yield self.samples(default_n)
            return
        yield from generate_chunks(
            self.generator, self.info, self.n or default_n, chunk, seed=self.seed, device=self.device
        )


@torch.no_grad()
def _sharded_samples(
    generator: torch.nn.Module, info: GeneratorInfo, n: int, seed: int, device: torch.device, ctx: DistContext
) -> Tensor:
    """This rank's contiguous share of the `n` samples `generate` draws under `seed`, gathered on all."""
    noise = sample_noise(info.noise, n, info.noise_dim, torch.Generator().manual_seed(seed))  # (n, dim)
    per_rank = -(-n // ctx.world_size)
    index = torch.arange(per_rank * ctx.world_size) % n  # padded to a multiple of the world size
    index = index[ctx.rank * per_rank : (ctx.rank + 1) * per_rank]  # this rank's share
    mine = noise[index]
    labels = balanced_labels(index, info)  # as one process labels them
    chunks = []
    for i in range(0, per_rank, 500):
        z = mine[i : i + 500].to(device)
        chunks.append(generator(z) if labels is None else generator(z, labels[i : i + 500].to(device)))
    return gather_rows(torch.cat(chunks), ctx)[:n].cpu()


def serve_samples(
    generator: torch.nn.Module, info: GeneratorInfo, device: torch.device, ctx: DistContext
) -> None:
    """On ranks other than 0: draw shares of samples for rank 0's metrics until it says it is done (n = 0)."""
    with eval_mode(generator):
        while (n := broadcast_int(0, ctx, device)) > 0:
            seed = broadcast_int(0, ctx, device)
            _sharded_samples(generator, info, n, seed, device, ctx)


def stack_source(options: DataOptions) -> ImageData:
    """The digit set a stacked-mnist run stacks (`--stack-source`); its classifier reads each channel."""
    source = load_dataset(options.stack_source, dataclasses.replace(options, channels=None))
    assert isinstance(source, ImageData)
    return source


def unit_images(images: Tensor, value_range: str) -> Tensor:
    """Generator output -> pixels in [0, 1], the space the Parzen protocol works in."""
    return to_uint8(images, value_range).double() / 255.0


def is_stacked(data: Dataset) -> bool:
    return isinstance(data, ImageData) and data.name.startswith("stacked-mnist")


def has_class_labels(data: Dataset) -> bool:
    """A labelled image set whose labels are single classes (not stacked-mnist's triples)."""
    labelled = isinstance(data, ImageData) and "train" in data.labels and "test" in data.labels
    return labelled and not is_stacked(data)


@torch.no_grad()
def classify(model: torch.nn.Module, images: Tensor, batch: int = 1000) -> tuple[Tensor, Tensor]:
    """(penultimate features, class probabilities) for images in [0, 1]."""
    feats, probs = [], []
    for start in range(0, len(images), batch):
        f = model.features(images[start : start + batch].float())
        feats.append(f)
        probs.append(torch.softmax(model.head(f), dim=1))
    return torch.cat(feats), torch.cat(probs)
