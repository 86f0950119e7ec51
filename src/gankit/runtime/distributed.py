"""Several processes through torch.distributed: the process group, sharding and collectives.

gankit does not launch processes itself. `torchrun` (or SLURM, or any launcher that sets
the `env://` variables RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT) starts
one `gankit train` per process; `init_distributed` joins them into one process group,
NCCL on CUDA and gloo on CPU. A run without these variables is a group of one, and
every helper here is then the identity.

Sharding rule: every rank draws the same *global* batch (the same RNG state on every
rank) and keeps its own contiguous slice of it. Every rank therefore sees different
real examples and different noise, the RNG states stay identical on all ranks (so one
checkpoint resumes them all), and N ranks with batch B each see exactly the batch one
process with batch N*B would see.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor

from gankit.errors import GankitError

LR_SCALING = ("none", "linear", "sqrt")


@dataclass(frozen=True)
class DistContext:
    """This process's place in the process group (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes samples, metrics, reports and checkpoints."""
        return self.rank == 0


SINGLE = DistContext()


def environment_world_size() -> int:
    """WORLD_SIZE as set by torchrun (1 when unset)."""
    return _env_int("WORLD_SIZE", 1)


def environment_rank() -> int:
    """This process's global rank as torchrun sets it (0 when not launched by torchrun)."""
    return _env_int("RANK", 0)


def restart_count() -> int:
    """How often torchrun's elastic agent has restarted this job's workers (`--max-restarts`)."""
    return _env_int("TORCHELASTIC_RESTART_COUNT", 0)


def init_distributed(device: torch.device, timeout_s: float) -> tuple[DistContext, torch.device]:
    """Join the process group described by the environment; returns the context and this rank's device.

    On CUDA each process takes GPU `LOCAL_RANK`. A collective that waits longer than
    `timeout_s` (for instance on a rank that died) fails instead of hanging.
    """
    world = environment_world_size()
    if world <= 1:
        return SINGLE, device
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise GankitError(
                f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA device(s) on this node"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise GankitError(f"distributed training runs on cuda (nccl) or cpu (gloo), not {device.type}")
    if not dist.is_initialized():
        from torch.distributed.rendezvous import rendezvous

        timeout = timedelta(seconds=timeout_s)
        store, rank, world = next(rendezvous("env://", timeout=timeout))
        # The store outlives an elastic restart (torchrun's agent keeps it); a fresh key prefix per
        # restart keeps the new workers from reading the dead workers' addresses.
        store = dist.PrefixStore(f"gankit/restart-{restart_count()}", store)
        options = {"device_id": device} if backend == "nccl" else {}
        dist.init_process_group(backend, store=store, rank=rank, world_size=world, timeout=timeout, **options)
    if dist.get_world_size() != world:
        raise GankitError(f"process group has {dist.get_world_size()} ranks but WORLD_SIZE is {world}")
    return DistContext(rank, world, local_rank, backend), device


def shutdown() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def lr_scale(rule: str, world_size: int) -> float:
    """The factor a learning-rate scaling rule applies for `world_size` ranks.

    `none` (the default: GAN recipes are tuned per batch and the two players' balance
    matters more than the step size), `linear` (Goyal et al. 2017) or `sqrt`.
    """
    if rule == "linear":
        return float(world_size)
    if rule == "sqrt":
        return float(world_size) ** 0.5
    return 1.0


def shard(batch: Tensor, ctx: DistContext) -> Tensor:
    """This rank's contiguous slice of a global batch whose size is a multiple of the world size."""
    if not ctx.enabled:
        return batch
    per_rank = len(batch) // ctx.world_size
    return batch[ctx.rank * per_rank : (ctx.rank + 1) * per_rank]


def mean_over_ranks(values: dict[str, Tensor], ctx: DistContext) -> dict[str, Tensor]:
    """Each scalar averaged over all ranks, in one collective."""
    if not ctx.enabled or not values:
        return values
    names = list(values)
    stacked = torch.stack([values[k].detach().float().reshape(()) for k in names])
    dist.all_reduce(stacked)
    stacked /= ctx.world_size
    return dict(zip(names, stacked.unbind(), strict=True))


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def gather_rows(rows: Tensor, ctx: DistContext) -> Tensor:
    """Every rank's equally sized `rows`, concatenated in rank order, on every rank."""
    if not ctx.enabled:
        return rows
    parts = [torch.empty_like(rows) for _ in range(ctx.world_size)]
    dist.all_gather(parts, rows.contiguous())
    return torch.cat(parts)


def broadcast_int(value: int, ctx: DistContext, device: torch.device) -> int:
    """Rank 0's `value` on every rank."""
    if not ctx.enabled:
        return value
    box = torch.tensor([value], dtype=torch.long, device=device)
    dist.broadcast(box, src=0)
    return int(box.item())


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise GankitError(f"environment variable {name} must be an integer, got {raw!r}") from None
