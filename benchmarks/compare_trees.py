"""Training speed of two source trees of gankit, side by side: before and after a change.

    .venv/bin/python benchmarks/compare_trees.py --before /tmp/before [--rounds 2] [--configs dcgan28]

Runs each tree's own `benchmarks/train_throughput.py` (with that tree's `src/` first on the
path) in alternation, `--rounds` times each, on the same machine, and prints every run's
images/s of the `gankit` and `reference` rows, then the median ratios after / before. The
reference loop is the same code in both trees, so its ratio shows how much the machine
drifted between runs; the gankit ratio is the change's effect plus that drift.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROW = re.compile(r"^\s+(reference|gankit)\s+([\d.]+) img/s", re.MULTILINE)


def run_tree(tree: Path, configs: str, iterations: int) -> tuple[dict[str, float], str]:
    """One train_throughput run of `tree`: {'gankit': img/s, 'reference': img/s} and its output."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    script = tree / "benchmarks" / "train_throughput.py"
    cmd = [sys.executable, str(script), "--configs", configs, "--iterations", str(iterations)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True, cwd=tree)
    rates = {name: float(value) for name, value in ROW.findall(done.stdout)}
    return rates, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="root of the tree before the change")
    parser.add_argument("--after", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--configs", default="dcgan28", help="one config of train_throughput.py")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    if "," in args.configs:
        parser.error("--configs takes one config (the rows are matched by name)")
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for round_ in range(args.rounds):
        for label, tree in (("before", args.before), ("after", args.after)):
            rates, _ = run_tree(tree, args.configs, args.iterations)
            runs[label].append(rates)
            print(f"round {round_ + 1} {label:>6}: gankit {rates['gankit']:7.1f} img/s, "
                  f"reference {rates['reference']:7.1f} img/s", flush=True)  # fmt: skip
    for row in ("gankit", "reference"):
        before = statistics.median(r[row] for r in runs["before"])
        after = statistics.median(r[row] for r in runs["after"])
        ratio = after / before
        print(f"{row}: median {before:.1f} img/s before, {after:.1f} after: after / before = {ratio:.3f}")


if __name__ == "__main__":
    main()
