"""Images/s of one process against `torchrun --nproc-per-node N`, at the same global batch.

    .venv/bin/python benchmarks/distributed_throughput.py [--nproc 2] [--device cpu] [--rounds 3]

Runs `gankit train` alternately (A B A B ...) as one process with batch N*B and as N ranks
with batch B each, and reads the training rate from each run's `metrics.jsonl` (median
`samples/s` over the records after the first quarter, so start-up and warm-up are left out).
Prints each round, the medians with min-max, and the ratio N ranks / 1 process.

On a CPU machine the ranks share its cores: the one process gets all the threads, each rank
1/N of them. That measures DDP's overhead, not scaling; scaling needs a device per rank.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def rate(run_dir: Path) -> float:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rates = [r["samples/s"] for r in records if "samples/s" in r]
    return statistics.median(rates[len(rates) // 4 :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="dcgan")
    parser.add_argument("--dataset", default="mnist-5k")
    parser.add_argument("--batch-size", type=int, default=64, help="global batch")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.batch_size % args.nproc:
        parser.error(f"--batch-size {args.batch_size} is not a multiple of --nproc {args.nproc}")
    # --no-default-recipe: both sides train alike (the image recipe leaves R1 out under torchrun)
    common = ["train", "--model", args.model, "--dataset", args.dataset, "--device", args.device,
              "--steps", str(args.steps), "--log-every", "10", "--quiet", "--sample-every", "100000",
              "--checkpoint-every", "100000", "--no-tensorboard",
              "--no-default-recipe"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    one_cmd = [sys.executable, "-m", "gankit", *common, "--batch-size", str(args.batch_size)]
    per_rank = str(args.batch_size // args.nproc)
    ddp_cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
               str(args.nproc), "-m", "gankit", *common, "--batch-size", per_rank]  # fmt: skip
    results: dict[str, list[float]] = {"one": [], "ddp": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for name, cmd in (("one", one_cmd), ("ddp", ddp_cmd)):
                out = Path(tmp) / f"{name}{round_}"
                subprocess.run([*cmd, "--out", str(out)], check=True, env=env, capture_output=True)
                results[name].append(rate(out))
            print(f"round {round_ + 1}: 1 process {results['one'][-1]:.1f} img/s, "
                  f"{args.nproc} ranks {results['ddp'][-1]:.1f} img/s")  # fmt: skip
    one, ddp = statistics.median(results["one"]), statistics.median(results["ddp"])
    print(
        f"{args.model} on {args.dataset}, {args.device}, global batch {args.batch_size}, {args.steps} steps:"
    )
    for label, key, value in (("1 process", "one", one), (f"{args.nproc} ranks", "ddp", ddp)):
        low, high = min(results[key]), max(results[key])
        print(f"  {label:10s} {value:8.1f} img/s (min {low:.1f}, max {high:.1f})")
    print(f"  ratio {args.nproc} ranks / 1 process: {ddp / one:.3f}")


if __name__ == "__main__":
    main()
