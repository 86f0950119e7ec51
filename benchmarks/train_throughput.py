"""gankit's training step against the loop everyone copies (pytorch/examples dcgan/main.py), side by side.

    .venv/bin/python benchmarks/train_throughput.py [--configs dcgan64,dcgan28,keras-mnist,mlp]
        [--batch-sizes 64,256,1024] [--windows 5] [--iterations 20] [--device cpu|cuda] [--ablation]

The reference loop is re-implemented here from the description of that example: D ends in
nn.Sigmoid and is trained with nn.BCELoss; D steps on a real batch, then on a fake batch
(two forwards, two backwards); G steps through the updated D on the same fake batch, with
D's weight gradients computed and thrown away; `.item()` on every loss every iteration; data
from a torch DataLoader over a per-item dataset (2 workers, per-item scaling). gankit runs
`Trainer.train_step` on the same architecture, batch and optimizer (Adam 2e-4, beta1 0.5),
logging every 10 steps, twice: with its defaults (`gankit`: Algorithm 1's fresh noise for G's
step, so one G forward more than the reference) and with `--reuse-fakes` (G's step on the D
step's fakes: the reference's own step mathematics, the row the CPU targets are judged on).

Both run in this process, interleaved (A B A B ...) after a warm-up, and the script prints
images/s (median, min-max over the windows), the ratio, GFLOP/s from torch.utils.flop_counter
and the fraction of the fp32 and bf16 2048^3 matmul rates measured in the same run (on CUDA: of
the bf16 and fp32 8192^3 rates; gankit also runs with --compile-mode reduce-overhead; on CPU
also with --precision bf16, opt-in there, with and without --reuse-fakes), the peak memory of
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

import torch
from common import GankitLoop, ReferenceLoop, Setup, flops_per_image, matmul_rate, sync, window

from gankit.runtime.precision import cpu_bf16_instructions

CONFIGS = {
    "dcgan64": Setup("dcgan", (3, 64, 64), 1.15),
    "dcgan28": Setup("dcgan", (1, 28, 28), 1.3),
    "keras-mnist": Setup("keras-mnist", (1, 28, 28), None),
    "mlp": Setup("mlp", (1, 28, 28), None),
}
GPU_TARGET = 3.0  # gankit / reference on CUDA, dcgan64 at batch 64, from the performance issue
GRAPHS = "gankit --compile-mode reduce-overhead"  # a row of its own on CUDA
SAME_STEP = "gankit --reuse-fakes"  # the reference's step mathematics: the CPU targets' row
BF16 = "gankit --precision bf16"  # CPU rows: bf16 autocast (same model, rounded differently)
BF16_SAME_STEP = "gankit --precision bf16 --reuse-fakes"
SWITCHES = ("channels_last", "fused_optimizer")  # gankit's fast-path switches, on by default


def peak_memory(name: str, loop: str, device: torch.device, batch: int, iterations: int = 10) -> float:
    """Peak memory in MiB of `iterations` steps of one loop: a fresh process's RSS on CPU; on
    CUDA, torch.cuda.max_memory_allocated of a fresh instance less what the process held before."""
    build = ReferenceLoop if loop == "reference" else GankitLoop
    if device.type == "cuda":
        held = torch.cuda.memory_allocated(device)  # the other loops' models and data
        torch.cuda.reset_peak_memory_stats(device)
        instance = build(CONFIGS[name], device, batch=batch)
        for _ in range(iterations):
            instance.step()
        return (torch.cuda.max_memory_allocated(device) - held) / 2**20
    cmd = [sys.executable, __file__, "--probe", f"{name}:{loop}:{batch}", "--iterations", str(iterations)]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)["rss_mib"]


def probe(spec: str, iterations: int) -> None:
    name, loop, batch = spec.split(":")
    build = ReferenceLoop if loop == "reference" else GankitLoop
    instance = build(CONFIGS[name], torch.device("cpu"), batch=int(batch))
    for _ in range(iterations):
        instance.step()
    # VmHWM: this process's own peak RSS (ru_maxrss would carry over the parent's peak across fork+exec)
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    print(json.dumps({"rss_mib": int(status["VmHWM"].split()[0]) / 1024}))


def ablation(setup: Setup, device: torch.device, batch: int) -> dict[str, GankitLoop]:
    """gankit with one fast-path switch off (or one option on) per row."""
    loops = {
        f"--no-{s.replace('_', '-')}": GankitLoop(setup, device, batch=batch, **{s: False}) for s in SWITCHES
    }
    loops["--d-concat"] = GankitLoop(setup, device, batch=batch, d_concat=True)  # changes BatchNorm's math
    if device.type == "cuda":
        loops["--precision fp32"] = GankitLoop(setup, device, batch=batch, precision="fp32")
        loops["--precision tf32"] = GankitLoop(setup, device, batch=batch, precision="tf32")
    loops["--compile"] = GankitLoop(setup, device, batch=batch, compile=True)
    return loops


def measure(name: str, batch: int, device: torch.device, args: argparse.Namespace, ceilings: dict) -> None:
    """Build the loops of one config and batch size, time them interleaved, and print a table."""
    setup = CONFIGS[name]
    loops: dict[str, ReferenceLoop | GankitLoop] = {}
    if not args.no_reference:
        loops["reference"] = ReferenceLoop(setup, device, batch=batch)
    loops["gankit"] = GankitLoop(setup, device, batch=batch)
    loops[SAME_STEP] = GankitLoop(setup, device, batch=batch, reuse_fakes=True)
    if device.type == "cpu":  # bf16 autocast is opt-in on CPU (fp32 under --precision auto)
        loops[BF16] = GankitLoop(setup, device, batch=batch, precision="bf16")
        loops[BF16_SAME_STEP] = GankitLoop(setup, device, batch=batch, precision="bf16", reuse_fakes=True)
    if device.type == "cuda":  # CUDA graphs: the launch overhead of small batches gone
        loops[GRAPHS] = GankitLoop(setup, device, batch=batch, compile=True, compile_mode="reduce-overhead")
    if args.ablation:
        loops.update(ablation(setup, device, batch))
    compile_s = {}
    for k, loop in loops.items():  # compilation happens in the first steps; timed apart
        if "--compile" in k:
            start = time.perf_counter()
            for _ in range(3):
                loop.step()
            sync(device)
            compile_s[k] = time.perf_counter() - start
    # the FLOP counter does not see inside compiled graphs; the math is gankit's own
    flops = {k: flops_per_image(loop.step, batch) for k, loop in loops.items() if "--compile" not in k}
    for k in compile_s:
        flops[k] = flops["gankit"]
    for loop in loops.values():  # warm-up
        window(loop.step, max(2, args.iterations // 4), device, batch)
    rates: dict[str, list[float]] = {k: [] for k in loops}
    for _ in range(args.windows):
        for k, loop in loops.items():
            rates[k].append(window(loop.step, args.iterations, device, batch))
    print(f"\n{name} {'x'.join(map(str, setup.shape))}, batch {batch}:")
    medians = {k: statistics.median(v) for k, v in rates.items()}
    for k in loops:
        achieved = medians[k] * flops[k] / 1e9
        memory = peak_memory(name, k, device, batch) if k in ("reference", "gankit") else None
        fractions = "; ".join(f"{achieved / rate:.0%} of {kind} matmul" for kind, rate in ceilings.items())
        print(
            f"  {k:38s} {medians[k]:9.1f} img/s "
            f"(min {min(rates[k]):.1f}, max {max(rates[k]):.1f}); "
            f"{flops[k] / 1e9:.3f} GFLOP/img; {achieved:.1f} GFLOP/s = {fractions}"
            + ("" if memory is None else f"; peak {memory:.0f} MiB")
            + (
                ""
                if k == "reference" or "reference" not in medians
                else f"; x{medians[k] / medians['reference']:.3f} reference"
            )
        )
    for k, seconds in compile_s.items():
        print(f"  {k}: first 3 steps (compilation) took {seconds:.1f} s, not counted above")
    if "reference" not in medians:
        return
    target = (
        (setup.target if device.type == "cpu" else GPU_TARGET if name == "dcgan64" else None)
        if batch == 64
        else None
    )
    # On CPU the target is judged on the loop that does the reference's own step (same fakes for
    # D's and G's steps) in fp32, as the targets ask for identical model math; on CUDA on the
    # CUDA-graph row, as first measured. Each ratio is printed.
    judged = SAME_STEP if device.type == "cpu" else GRAPHS
    for k in ("gankit", SAME_STEP, BF16, BF16_SAME_STEP, GRAPHS):
        if k in medians:
            ratio = medians[k] / medians["reference"]
            verdict = (
                ""
                if target is None or k != judged
                else f" (target >= {target}: {'pass' if ratio >= target else 'FAIL'})"
            )
            print(f"  {k} / reference: {ratio:.3f}{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--batch-sizes", default="64", help="comma-separated, e.g. 64,256,1024")
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=20, help="steps per window")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="also gankit with each fast-path switch turned off, with --compile and --d-concat "
        "(on CUDA also --precision fp32/tf32 and --compile-mode reduce-overhead)",
    )
    parser.add_argument("--no-reference", action="store_true", help="time gankit's loops only")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(args.probe, args.iterations)
        return
    device = torch.device(args.device)
    if device.type == "cuda":  # large enough to reach the tensor cores' rate
        ceilings = {"bf16": matmul_rate(device, torch.bfloat16, 8192), "fp32": matmul_rate(device, n=8192)}
        name_ = torch.cuda.get_device_name(device)
    else:
        ceilings = {"fp32": matmul_rate(device), "bf16": matmul_rate(device, torch.bfloat16)}
        units = cpu_bf16_instructions()
        found = "unknown" if units is None else ", ".join(units) or "none (oneDNN emulates them)"
        name_ = f"CPU, {torch.get_num_threads()} threads, bf16 instructions: {found}"
    size = "8192^3" if device.type == "cuda" else "2048^3"
    rates = ", ".join(f"{kind} {rate:.1f}" for kind, rate in ceilings.items())
    print(f"device: {name_}; torch {torch.__version__}; {size} matmul GFLOP/s: {rates}")
    for name in args.configs.split(","):
        if name not in CONFIGS:
            raise SystemExit(f"error: unknown config {name!r}; choose from {', '.join(CONFIGS)}")
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            measure(name, batch, device, args, ceilings)


if __name__ == "__main__":
    main()
