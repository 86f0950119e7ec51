"""gankit's training step against the loop everyone copies (pytorch/examples dcgan/main.py), side by side.

    .venv/bin/python benchmarks/train_throughput.py [--configs dcgan64,dcgan28,keras-mnist,mlp]
                                                    [--windows 5] [--iterations 20] [--device cpu]

The reference loop is re-implemented here from the description of that example: D ends in
nn.Sigmoid and is trained with nn.BCELoss; D steps on a real batch, then on a fake batch
(two forwards, two backwards); G steps through the updated D on the same fake batch, with
D's weight gradients computed and thrown away; `.item()` on every loss every iteration; data
from a torch DataLoader over a per-item dataset (2 workers, per-item scaling). gankit runs
`Trainer.train_step` on the same architecture, batch and optimizer (Adam 2e-4, beta1 0.5),
with its own defaults, logging every 10 steps.

Both run in this process, interleaved (A B A B ...) after a warm-up, and the script prints
images/s (median, min-max over the windows), the ratio, GFLOP/s from torch.utils.flop_counter
and the fraction of the fp32 2048^3 matmul rate measured in the same run, the peak memory of
each loop (peak RSS, VmHWM, of a separate short process on CPU; torch.cuda.max_memory_allocated on CUDA),
and the targets of the performance issue with pass/fail.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from gankit.config import TrainConfig
from gankit.data import ImageData
from gankit.models import build_models
from gankit.train import Trainer


@dataclass(frozen=True)
class Setup:
    model: str
    shape: tuple[int, ...]
    target: float | None  # gankit / reference on CPU, from the performance issue


CONFIGS = {
    "dcgan64": Setup("dcgan", (3, 64, 64), 1.15),
    "dcgan28": Setup("dcgan", (1, 28, 28), 1.3),
    "keras-mnist": Setup("keras-mnist", (1, 28, 28), None),
    "mlp": Setup("mlp", (1, 28, 28), None),
}
BATCH, NZ = 64, 100
SWITCHES = ("channels_last", "fused_optimizer")  # gankit's fast-path switches, on by default


def images(shape: tuple[int, ...], n: int = 1024) -> ImageData:
    gen = torch.Generator().manual_seed(0)
    data = torch.randint(0, 256, (n, *shape), generator=gen, dtype=torch.uint8)
    return ImageData(name="bench", splits={"train": data, "test": data[:64]})


class PerItem(Dataset):
    """What an image folder dataset hands a DataLoader: one image at a time, scaled to [-1, 1]."""

    def __init__(self, data: torch.Tensor) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.data[i].float() / 127.5 - 1, 0


class ReferenceLoop:
    """The pytorch/examples DCGAN iteration, as written there."""

    def __init__(self, setup: Setup, device: torch.device, data: torch.Tensor | None = None) -> None:
        torch.manual_seed(0)
        generator, discriminator = build_models(setup.model, setup.shape, NZ)
        self.g = generator.to(device)
        self.d = nn.Sequential(discriminator, nn.Sigmoid()).to(device)
        self.criterion = nn.BCELoss()
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.loader = DataLoader(
            PerItem(images(setup.shape).splits["train"] if data is None else data),
            BATCH,
            shuffle=True,
            num_workers=2,
            drop_last=True,
        )
        self.batches = iter(self.loader)
        self.device = device

    def _next(self) -> torch.Tensor:
        try:
            return next(self.batches)[0]
        except StopIteration:
            self.batches = iter(self.loader)
            return next(self.batches)[0]

    def step(self) -> None:
        real = self._next().to(self.device)
        b = real.size(0)
        self.d.zero_grad()
        label = torch.full((b,), 1.0, device=self.device)
        output = self.d(real).view(-1)
        err_d_real = self.criterion(output, label)
        err_d_real.backward()
        output.mean().item()
        noise = torch.rand(b, NZ, device=self.device) * 2 - 1
        fake = self.g(noise)
        label.fill_(0.0)
        output = self.d(fake.detach()).view(-1)
        err_d_fake = self.criterion(output, label)
        err_d_fake.backward()
        output.mean().item()
        err_d = err_d_real + err_d_fake
        self.opt_d.step()
        self.g.zero_grad()
        label.fill_(1.0)
        output = self.d(fake).view(-1)
        err_g = self.criterion(output, label)
        err_g.backward()
        output.mean().item()
        self.opt_g.step()
        err_d.item(), err_g.item()


class GankitLoop:
    """gankit's trainer step with its defaults, and its host sync every `log_every` steps."""

    def __init__(
        self, setup: Setup, device: torch.device, dataset: ImageData | None = None, **options: object
    ) -> None:
        config = TrainConfig(model=setup.model, batch_size=BATCH, noise_dim=NZ, device=device.type, **options)
        data = images(setup.shape) if dataset is None else dataset
        self.trainer = Trainer(config, dataset=data, progress=False)
        self.count = 0

    def step(self) -> None:
        stats = self.trainer.train_step()
        self.trainer.step += 1  # as Trainer.fit counts: schedules (EMA ramp-up) read it
        self.count += 1
        if self.count % self.trainer.config.log_every == 0:
            [float(v) for v in stats.values()]


def matmul_rate(device: torch.device, dtype: torch.dtype = torch.float32, n: int = 2048) -> float:
    """GFLOP/s of an n^3 matmul (best of several)."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(5):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def flops_per_image(step: Callable[[], None]) -> float:
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / BATCH


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def window(step: Callable[[], None], iterations: int, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    _sync(device)
    return iterations * BATCH / (time.perf_counter() - start)


def peak_memory(name: str, loop: str, device: torch.device, iterations: int = 10) -> float:
    """Peak memory in MiB of `iterations` steps of one loop: a fresh process's RSS on CPU."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        build = ReferenceLoop if loop == "reference" else GankitLoop
        instance = build(CONFIGS[name], device)
        for _ in range(iterations):
            instance.step()
        return torch.cuda.max_memory_allocated(device) / 2**20
    cmd = [sys.executable, __file__, "--probe", f"{name}:{loop}", "--iterations", str(iterations)]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)["rss_mib"]


def probe(spec: str, iterations: int) -> None:
    name, loop = spec.split(":")
    build = ReferenceLoop if loop == "reference" else GankitLoop
    instance = build(CONFIGS[name], torch.device("cpu"))
    for _ in range(iterations):
        instance.step()
    # VmHWM: this process's own peak RSS (ru_maxrss would carry over the parent's peak across fork+exec)
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    print(json.dumps({"rss_mib": int(status["VmHWM"].split()[0]) / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=20, help="steps per window")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="also gankit with each fast-path switch turned off, with --compile, and with --d-concat",
    )
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(args.probe, args.iterations)
        return
    device = torch.device(args.device)
    ceiling = matmul_rate(device)
    name_ = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    print(f"device: {name_}; torch {torch.__version__}; fp32 2048^3 matmul: {ceiling:.1f} GFLOP/s")
    for name in args.configs.split(","):
        setup = CONFIGS[name]
        loops = {"reference": ReferenceLoop(setup, device), "gankit": GankitLoop(setup, device)}
        compile_s = None
        if args.ablation:
            for switch in SWITCHES:
                loops[f"--no-{switch.replace('_', '-')}"] = GankitLoop(setup, device, **{switch: False})
            loops["--d-concat"] = GankitLoop(setup, device, d_concat=True)  # changes BatchNorm's math
            loops["--compile"] = GankitLoop(setup, device, compile=True)
            start = time.perf_counter()  # compilation happens in the first steps; timed apart
            for _ in range(2):
                loops["--compile"].step()
            _sync(device)
            compile_s = time.perf_counter() - start
        # the FLOP counter does not see inside compiled graphs; the math is gankit's own
        flops = {k: flops_per_image(loop.step) for k, loop in loops.items() if k != "--compile"}
        flops.setdefault("--compile", flops["gankit"])
        for loop in loops.values():  # warm-up
            window(loop.step, max(2, args.iterations // 4), device)
        rates: dict[str, list[float]] = {k: [] for k in loops}
        for _ in range(args.windows):
            for k, loop in loops.items():
                rates[k].append(window(loop.step, args.iterations, device))
        print(f"\n{name} {'x'.join(map(str, setup.shape))}, batch {BATCH}:")
        medians = {}
        for k in loops:
            medians[k] = statistics.median(rates[k])
            achieved = medians[k] * flops[k] / 1e9
            memory = peak_memory(name, k, device) if k in ("reference", "gankit") else float("nan")
            print(
                f"  {k:22s} {medians[k]:8.1f} img/s "
                f"(min {min(rates[k]):.1f}, max {max(rates[k]):.1f}); "
                f"{flops[k] / 1e9:.3f} GFLOP/img; "
                f"{achieved:.1f} GFLOP/s = {achieved / ceiling:.0%} of matmul"
                + ("" if memory != memory else f"; peak {memory:.0f} MiB")
                + ("" if k == "reference" else f"; x{medians[k] / medians['reference']:.3f} reference")
            )
        if compile_s is not None:
            print(f"  --compile: first 2 steps (compilation) took {compile_s:.1f} s, not counted above")
        ratio = medians["gankit"] / medians["reference"]
        verdict = "" if setup.target is None or device.type != "cpu" else (
            f" (target >= {setup.target}: {'pass' if ratio >= setup.target else 'FAIL'})"
        )  # fmt: skip
        print(f"  gankit / reference: {ratio:.3f}{verdict}")


if __name__ == "__main__":
    main()
