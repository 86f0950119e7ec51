"""What the training updates run through: the run's G and D, and the callables around them.

D's step calls `PairForward` (D on a real and a fake batch in one call), G's step calls D
itself, and D's fakes come from G without a graph. Under torchrun the two modules that take
gradients are DistributedDataParallel wrappers, so their gradients are averaged over ranks;
with `--compile` every callable is compiled, while G and D themselves stay uncompiled so that
their state dicts keep their keys.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gankit.config import TrainConfig
from gankit.errors import GankitError
from gankit.models import build_models
from gankit.runtime.distributed import DistContext


def call_with_labels(module: nn.Module, x: Tensor, labels: Tensor | None) -> Tensor:
    """module(x), or module(x, labels) for a conditional model."""
    return module(x) if labels is None else module(x, labels)


class PairForward(nn.Module):
    """D on a real and a fake batch in one call: two passes, so BatchNorm sees each batch alone,
    or with `concat` one pass over both (the Keras document's D batch; BatchNorm then mixes them).

    DistributedDataParallel expects one forward per backward; this is that forward.
    """

    def __init__(self, discriminator: nn.Module, concat: bool = False) -> None:
        super().__init__()
        self.discriminator, self.concat = discriminator, concat

    def forward(self, real: Tensor, fake: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        d = self.discriminator
        if not self.concat:
            return call_with_labels(d, real, labels), call_with_labels(d, fake, labels)
        both = torch.cat([real, fake])  # (2m, ...)
        logits = call_with_labels(d, both, None if labels is None else torch.cat([labels, labels]))
        return logits[: len(logits) // 2], logits[len(logits) // 2 :]


@dataclass(frozen=True)
class StepModules:
    """G and D of a run, and what each part of a training step calls."""

    generator: nn.Module
    discriminator: nn.Module
    g_train: nn.Module  # G in its own step (DDP-wrapped under torchrun)
    d_pair: nn.Module  # D in its step, a `PairForward` (DDP-wrapped under torchrun)
    d_frozen: nn.Module  # D in G's step: unwrapped, so only G's gradients are averaged
    g_sample: nn.Module  # G drawing D's fakes (no gradient)

    @classmethod
    def plain(cls, generator: nn.Module, discriminator: nn.Module, concat: bool = False) -> StepModules:
        """One process, no compilation: every part calls G or D itself (D's step through
        `PairForward`, with `concat` as `--d-concat`)."""
        return cls(
            generator, discriminator, generator, PairForward(discriminator, concat), discriminator, generator
        )


def _wrap(module: nn.Module, dist: DistContext, device: torch.device) -> nn.Module:
    if not dist.enabled:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def build_step_modules(
    config: TrainConfig,
    shape: tuple[int, ...],
    n_classes: int,
    device: torch.device,
    dist: DistContext,
    channels_last: bool,
    label_factors: tuple[int, ...] = (),
) -> StepModules:
    """Build G and D for `config` on `device` (initialised from torch's global RNG), with
    SyncBatchNorm under `--sync-bn`, channels-last memory when asked, the DDP wrappers under
    torchrun and `torch.compile` under `--compile`. Options these cannot honour are refused.
    `label_factors`: G and D see each label factor by factor (`ModelOptions.label_factors`)."""
    if config.run.compile_mode == "reduce-overhead" and device.type != "cuda":
        raise GankitError("--compile-mode reduce-overhead is CUDA graphs and needs CUDA")
    if dist.enabled and (config.objective.r1 or config.objective.gp):
        raise GankitError(
            "--r1 and --gp are not supported under torchrun: their double backward would bypass "
            "DistributedDataParallel's gradient averaging"
        )
    generator, discriminator = build_models(
        config.architecture.model,
        shape,
        config.architecture.noise_dim,
        config.model_options(n_classes, label_factors),
    )
    if config.distributed.sync_bn and dist.enabled:
        if device.type != "cuda":
            raise GankitError("--sync-bn needs CUDA: torch's SyncBatchNorm does not run on CPU (gloo)")
        generator = nn.SyncBatchNorm.convert_sync_batchnorm(generator)
        discriminator = nn.SyncBatchNorm.convert_sync_batchnorm(discriminator)
    generator, discriminator = generator.to(device), discriminator.to(device)
    if channels_last:
        generator.to(memory_format=torch.channels_last)
        discriminator.to(memory_format=torch.channels_last)
    g_train = _wrap(generator, dist, device)
    d_pair = _wrap(PairForward(discriminator, config.optimization.d_concat), dist, device)
    d_frozen, g_sample = discriminator, generator
    if config.run.compile:
        mode = None if config.run.compile_mode == "default" else config.run.compile_mode
        # dynamic=False: a run's batch shapes never change, so static-shape kernels are safe
        compiled = functools.partial(torch.compile, mode=mode, dynamic=False)
        g_train, d_pair = compiled(g_train), compiled(d_pair)
        d_frozen, g_sample = compiled(discriminator), compiled(generator)
    return StepModules(generator, discriminator, g_train, d_pair, d_frozen, g_sample)  # type: ignore[arg-type]
