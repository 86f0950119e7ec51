"""How much logging every signal at every step costs: interleaved windows, one process.

    .venv/bin/python benchmarks/signals_overhead.py [--model dcgan] [--dataset mnist-5k]

A: log every step (all signals fetched, alarms and the NaN watchdog on).
B: log every 1,000 steps, alarms and watchdog off (the per-step device work still runs).
Prints steps/s for each (median of the windows, min-max) and the ratio A / B.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from gankit.config import TrainConfig
from gankit.monitor.callbacks import Alarms, NanRecovery
from gankit.outputs.callbacks import MetricsLog
from gankit.training.trainer import Trainer


def make(config: TrainConfig, out: str, every_step: bool) -> Trainer:
    config = TrainConfig(**{**config.to_dict(), "out": out, "log_every": 1 if every_step else 1000,
                            "alarm_dominance": every_step, "alarm_collapse": every_step,
                            "nan_watchdog": every_step, "tensorboard": False})  # fmt: skip
    callbacks = [MetricsLog(), Alarms(), NanRecovery()] if every_step else [MetricsLog()]
    trainer = Trainer(config, progress=False, callbacks=callbacks)
    trainer.begin()  # opens the run directory and metrics.jsonl
    return trainer


def window(trainer: Trainer, steps: int) -> float:
    start = time.perf_counter()
    trainer.run_steps(steps)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan")
    parser.add_argument("--dataset", default="mnist-5k")
    parser.add_argument("--steps", type=int, default=30, help="steps per window")
    parser.add_argument("--windows", type=int, default=6)
    args = parser.parse_args()
    torch.manual_seed(0)
    config = TrainConfig(dataset=args.dataset, model=args.model, batch_size=64, steps=10**9,
                         sample_every=10**9, checkpoint_every=10**9, device="cpu")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        a, b = make(config, f"{tmp}/a", True), make(config, f"{tmp}/b", False)
        window(a, 5), window(b, 5)  # warm-up
        rates: dict[str, list[float]] = {"A": [], "B": []}
        for _ in range(args.windows):
            rates["A"].append(window(a, args.steps))
            rates["B"].append(window(b, args.steps))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"{args.model} on {args.dataset}, batch 64, {torch.get_num_threads()} threads, "
          f"{args.windows} windows of {args.steps} steps, interleaved")  # fmt: skip
    for key, label in (("A", "every step, alarms + watchdog"), ("B", "every 1000 steps, no alarms")):
        print(
            f"  {label:<32} {med[key]:7.2f} steps/s  (min {min(rates[key]):.2f}, max {max(rates[key]):.2f})"
        )
    print(f"  ratio A/B = {med['A'] / med['B']:.3f}  (overhead {1 - med['A'] / med['B']:+.1%}; target <= 5%)")


if __name__ == "__main__":
    main()
