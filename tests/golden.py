"""Golden fingerprints: short fixed-seed CPU runs whose final weights and losses must not change.

Each run trains through the command line in a fresh process with one CPU thread. Its
fingerprint is the SHA-256 of G's and D's final weights (and of G's EMA, where kept), read
from the last checkpoint, and of the `loss/d` and `loss/g` columns of `metrics.jsonl`.
Bitwise results depend on the CPU's instruction set and the torch build, so fingerprints are
stored per platform (`platform_key`); on a platform with none recorded the test compares
summary numbers (weight norms, last losses) with a tolerance instead.

Record (only where a numeric change is intended, in a commit of its own that says why):
    python -m tests.golden --record
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

FINGERPRINTS = Path(__file__).parent / "data" / "golden_fingerprints.json"
SMALL_DCGAN = ["--model", "dcgan", "--g-width", "8", "--d-width", "8"]


@dataclass(frozen=True)
class GoldenRun:
    """One short run: its `gankit train` options, an optional first leg it resumes, and processes."""

    name: str
    args: tuple[str, ...]
    first_leg: tuple[str, ...] = ()  # options of a shorter first run, which `--resume` continues
    resume_with: tuple[str, ...] = ()  # the options given with `--resume`
    nproc: int = 1
    covers: tuple[str, ...] = field(default=())


RUNS: tuple[GoldenRun, ...] = (
    GoldenRun(
        "dcgan-adam-ema-diffaugment-r1-decay",
        (
            "--dataset",
            "mnist-5k",
            *SMALL_DCGAN,
            "--batch-size",
            "16",
            "--steps",
            "6",
            "--ema-half-life",
            "500",
            "--ema-rampup",
            "0.05",
            "--diffaugment",
            "color,translation,cutout",
            "--r1",
            "1",
            "--r1-interval",
            "2",
            "--lr-decay-start",
            "0.5",
        ),
        covers=("dcgan", "non-saturating", "adam", "ema", "diffaugment", "r1", "lr-decay-start"),
    ),
    GoldenRun(
        "keras-sgd-minimax-k2-concat",
        (
            "--dataset",
            "mnist-5k",
            "--model",
            "keras-mnist",
            "--optimizer",
            "sgd",
            "--loss",
            "minimax",
            "--k",
            "2",
            "--d-concat",
            "--batch-size",
            "8",
            "--steps",
            "3",
        ),
        covers=("keras-mnist", "minimax", "sgd", "k>1", "d-concat"),
    ),
    GoldenRun(
        "mlp-hinge-spectral-conditional",
        (
            "--dataset",
            "mnist-5k",
            "--model",
            "mlp",
            "--loss",
            "hinge",
            "--spectral-norm",
            "--conditional",
            "--minibatch-disc",
            "4",
            "--noise",
            "normal",
            "--batch-size",
            "16",
            "--steps",
            "4",
        ),
        covers=("mlp", "hinge", "spectral-norm", "conditional", "minibatch-disc", "normal noise"),
    ),
    GoldenRun(
        "toy-wasserstein-gp-pack",
        (
            "--dataset",
            "ring8",
            "--model",
            "toy-mlp",
            "--loss",
            "wasserstein",
            "--gp",
            "10",
            "--pack",
            "2",
            "--batch-size",
            "32",
            "--steps",
            "20",
        ),
        covers=("toy-mlp", "wasserstein", "gp", "pack"),
    ),
    GoldenRun(
        "toy-deep-least-squares-mbstd",
        (
            "--dataset",
            "grid25",
            "--model",
            "toy-mlp-deep",
            "--loss",
            "least-squares",
            "--minibatch-std",
            "--batch-size",
            "32",
            "--steps",
            "20",
        ),
        covers=("toy-mlp-deep", "least-squares", "minibatch-std"),
    ),
    GoldenRun(
        "pacgan-rsgan",
        (
            "--dataset",
            "ring8",
            "--model",
            "toy-pacgan",
            "--loss",
            "rsgan",
            "--batch-size",
            "32",
            "--steps",
            "10",
        ),
        covers=("toy-pacgan", "rsgan"),
    ),
    GoldenRun(
        "resnet-ragan-reuse-fakes",
        (
            "--dataset",
            "mnist-5k",
            "--model",
            "resnet",
            "--image-size",
            "32",
            "--g-width",
            "8",
            "--d-width",
            "8",
            "--loss",
            "ragan",
            "--reuse-fakes",
            "--batch-size",
            "8",
            "--steps",
            "3",
        ),
        covers=("resnet", "ragan", "reuse-fakes"),
    ),
    GoldenRun(
        "dcgan-self-condition",
        (
            "--dataset",
            "mnist-5k",
            *SMALL_DCGAN,
            "--self-condition",
            "3",
            "--recluster-every",
            "3",
            "--batch-size",
            "16",
            "--steps",
            "5",
        ),
        covers=("self-condition",),
    ),
    GoldenRun(
        "stacked-cluster-channels",
        (
            "--dataset",
            "stacked-mnist",
            "--stack-size",
            "256",
            *SMALL_DCGAN,
            "--self-condition",
            "2",
            "--cluster-space",
            "channels",
            "--batch-size",
            "16",
            "--steps",
            "3",
        ),
        covers=("cluster-space channels", "stacked-mnist"),
    ),
    GoldenRun(
        "gaussian-resume",
        (
            "--dataset",
            "gaussian-1d",
            "--model",
            "toy-mlp",
            "--batch-size",
            "32",
            "--steps",
            "20",
            "--checkpoint-every",
            "5",
        ),
        first_leg=("--steps", "10"),
        resume_with=("--steps", "20"),
        covers=("resume", "gaussian-1d"),
    ),
    GoldenRun(
        "ddp-gloo-two-processes",
        ("--dataset", "ring8", "--model", "toy-mlp", "--batch-size", "16", "--steps", "10"),
        nproc=2,
        covers=("torchrun", "gloo"),
    ),
)

# `--no-default-recipe`: the runs pin the library's defaults, not the demo recipe image models
# otherwise start from (`gankit.config.defaults`), which follows the measurements.
COMMON = ("--device", "cpu", "--quiet", "--no-tensorboard", "--seed", "3", "--log-every", "1",
          "--sample-every", "1000", "--no-default-recipe")  # fmt: skip


def platform_key() -> str:
    """What bitwise results depend on: the torch version and the CPU kernels it dispatches to."""
    return f"torch {torch.__version__} / {torch.backends.cpu.get_cpu_capability()}"


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _command(run: GoldenRun, *args: str) -> list[str]:
    if run.nproc == 1:
        return [sys.executable, "-m", "gankit", "train", *args]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
            str(run.nproc), "-m", "gankit", "train", *args]  # fmt: skip


def execute(run: GoldenRun, out: Path) -> None:
    """Train `run` into `out` (its first leg, then the resume, where it has one)."""
    args = [*run.args, *COMMON, "--out", str(out)]
    commands = [_command(run, *args)]
    if run.first_leg:
        commands = [
            _command(run, *args, *run.first_leg),
            _command(run, "--resume", str(out), *run.resume_with, *COMMON),
        ]
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, env=_environment(), timeout=600)
        if done.returncode != 0:
            raise AssertionError(f"{run.name}: {' '.join(command)} failed:\n{done.stderr[-3000:]}")


def _tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _norm(tensors: dict[str, torch.Tensor]) -> float:
    return math.sqrt(sum(float(t.double().pow(2).sum()) for t in tensors.values() if t.is_floating_point()))


def fingerprint(out: Path) -> dict[str, object]:
    """The SHA-256 of the run's final weights and loss columns, and summary numbers beside them."""
    from gankit.outputs.checkpoint import load_checkpoint

    state = load_checkpoint(out / "checkpoint")
    parts = {"generator": state["generator"], "discriminator": state["discriminator"]}
    if "generator_ema" in state:
        parts["generator_ema"] = state["generator_ema"]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line]
    losses = [[r["step"], r["loss/d"], r["loss/g"]] for r in records if "loss/d" in r]
    return {
        "step": int(state["step"]),
        "weights_sha256": {name: _tensor_digest(t) for name, t in parts.items()},
        "losses_sha256": hashlib.sha256(json.dumps(losses).encode()).hexdigest(),
        "weight_norms": {name: _norm(t) for name, t in parts.items()},
        "last_losses": losses[-1][1:],
    }


def record() -> None:
    """Run every golden run and store its fingerprint under this platform's key."""
    stored = json.loads(FINGERPRINTS.read_text()) if FINGERPRINTS.is_file() else {}
    prints = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in RUNS:
            execute(run, Path(tmp) / run.name)
            prints[run.name] = fingerprint(Path(tmp) / run.name)
            print(run.name, prints[run.name]["weights_sha256"]["generator"][:16])
    stored[platform_key()] = prints
    FINGERPRINTS.parent.mkdir(parents=True, exist_ok=True)
    FINGERPRINTS.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(prints)} fingerprints for {platform_key()} in {FINGERPRINTS}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="store this platform's fingerprints")
    if parser.parse_args().record:
        record()
