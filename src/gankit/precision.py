"""The numerics of a training step: fp32, TF32 or bf16 autocast, and cuDNN autotuning on CUDA.

`--precision auto` is bf16 autocast on CUDA and plain fp32 elsewhere. Weights, optimizer
state and losses stay fp32 in every mode: autocast runs convolutions and matmuls in bf16
and returns D's logits, which are cast to fp32 before any loss. bf16 has fp32's exponent
range, so no loss scaling is needed. The backend flags are set for the step only and put
back afterwards, so code around a training step sees torch's settings unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from gankit.errors import GankitError

PRECISIONS = ("auto", "fp32", "tf32", "bf16")


def resolve_precision(name: str, device: torch.device) -> str:
    """The precision a run uses on `device`: `auto` becomes bf16 on CUDA and fp32 elsewhere."""
    if name not in PRECISIONS:
        raise GankitError(f"--precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    if name == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    if name == "tf32" and device.type != "cuda":
        raise GankitError(
            f"--precision tf32 needs CUDA (TensorFloat-32 is a CUDA format); device is {device}"
        )
    if name == "bf16" and device.type not in ("cuda", "cpu"):
        raise GankitError(f"--precision bf16 runs on cuda or cpu; device is {device}")
    return name


def autocast(precision: str, device: torch.device) -> torch.autocast:
    """bf16 autocast for `bf16`, a disabled autocast (fp32 as written) otherwise."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


@contextmanager
def step_numerics(precision: str, device: torch.device) -> Iterator[None]:
    """On CUDA: TF32 for fp32 matmuls and convolutions unless the precision is strict `fp32`, and
    cuDNN autotuning unless deterministic algorithms are on. Restored on exit; a no-op elsewhere.
    """
    if device.type != "cuda":
        yield
        return
    # torch's legacy flags: inductor (max-autotune) still reads them, and torch refuses a mix of
    # these and the newer fp32_precision settings
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = (matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark)
    tf32 = precision != "fp32"
    matmul.allow_tf32, cudnn.allow_tf32 = tf32, tf32
    cudnn.benchmark = not torch.are_deterministic_algorithms_enabled()
    try:
        yield
    finally:
        matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark = saved
