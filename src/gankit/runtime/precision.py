"""The numerics of a training step: fp32, TF32 or bf16 autocast, and cuDNN autotuning on CUDA.

`--precision auto` is bf16 autocast on CUDA and plain fp32 elsewhere; `bf16-native` is bf16
where the device runs it natively (CUDA, or a CPU with bf16 instructions) and fp32 elsewhere.
Weights, optimizer state and losses stay fp32 in every mode: autocast runs convolutions and
matmuls in bf16 and returns D's logits, which are cast to fp32 before any loss. bf16 has
fp32's exponent range, so no loss scaling is needed. The backend flags are set for the step only and put
back afterwards, so code around a training step sees torch's settings unchanged.

On a CPU, `--precision bf16` pays where the processor has bf16 dot-product instructions
(`cpu_bf16_instructions`: AVX512-BF16 or AMX); elsewhere oneDNN emulates them. It is opt-in
there: `auto` keeps CPU runs in fp32, so their results do not depend on the processor, and
`bf16-native` (the `demo` preset's) takes bf16 only where it is fast, at the price of that.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from gankit.errors import GankitError

PRECISIONS = ("auto", "fp32", "tf32", "bf16", "bf16-native")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of bf16 dot-product instructions


def cpu_bf16_instructions(cpuinfo: str | Path = "/proc/cpuinfo") -> list[str] | None:
    """The x86 bf16 dot-product instruction sets this CPU's flags list (e.g. `["avx512_bf16"]`;
    empty when it has none), or None where that is unknown: `cpuinfo` unreadable (not Linux) or
    without an x86 `flags` line (e.g. an ARM CPU, which lists `Features` instead)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), None
    )
    return None if flags is None else [f for f in BF16_CPU_FLAGS if f in flags]


def emulated_bf16_note(
    precision: str, device: torch.device, cpuinfo: str | Path = "/proc/cpuinfo"
) -> str | None:
    """A one-line warning when a run asks for bf16 on a CPU known to lack bf16 instructions."""
    if precision != "bf16" or device.type != "cpu" or cpu_bf16_instructions(cpuinfo) != []:
        return None
    return (
        f"--precision bf16 on a CPU without bf16 instructions ({', '.join(BF16_CPU_FLAGS)}): oneDNN "
        "emulates them, which may be slower than fp32; benchmarks/train_throughput.py compares both"
    )


def resolve_precision(name: str, device: torch.device, cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The precision a run uses on `device`: `auto` becomes bf16 on CUDA and fp32 elsewhere;
    `bf16-native` becomes bf16 on CUDA and on a CPU whose `cpuinfo` flags list bf16 instructions,
    fp32 elsewhere (a CPU of unknown instructions included)."""
    if name not in PRECISIONS:
        raise GankitError(f"--precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    if name == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    if name == "bf16-native":
        native = device.type == "cuda" or (device.type == "cpu" and bool(cpu_bf16_instructions(cpuinfo)))
        return "bf16" if native else "fp32"
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
