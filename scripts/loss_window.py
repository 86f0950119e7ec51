"""Mean logged losses of a run over a window of iterations, and the alarms that fired.

    .venv/bin/python scripts/loss_window.py runs/repro/seed-keras-mnist --start 1900 --end 2000

The reference articles print `d_loss` and `g_loss` per iteration; a run's `metrics.jsonl`
holds them every `--log-every` steps. This prints their mean (and range) over the logged
records with start <= step <= end, the run's config in one line, its training time, and
each alarm record, so docs/reproductions.md can set the numbers beside the article's.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from gankit.outputs.files import read_json
from gankit.outputs.logger import read_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--start", type=int, required=True)
    parser.add_argument("--end", type=int, required=True)
    args = parser.parse_args()
    records = read_records(args.run / "metrics.jsonl")
    config = read_json(args.run / "config.json")
    window = [r for r in records if args.start <= r["step"] <= args.end and "loss/d" in r]
    if not window:
        raise SystemExit(f"no logged losses between steps {args.start} and {args.end} in {args.run}")
    a, o = config["architecture"], config["optimization"]
    print(f"run {args.run}: {a['model']} on {config['data']['dataset']}, loss {config['objective']['loss']}, "
          f"batch {o['batch_size']}, {o['optimizer']} lr_g {o['lr_g']} lr_d {o['lr_d']}")  # fmt: skip
    print(f"trained to step {records[-1]['step']} in {max(r.get('time', 0.0) for r in records):.1f} s")
    for key in ("loss/d", "loss/g", "d/real", "d/fake"):
        values = [r[key] for r in window if key in r]
        span = f"{key} over steps {window[0]['step']}-{window[-1]['step']} ({len(values)} records)"
        print(f"{span}: mean {statistics.fmean(values):.6f}, min {min(values):.6f}, max {max(values):.6f}")
    alarms = [r for r in records if "alarm" in r]
    for alarm in alarms:
        what = f"{alarm['alarm']} {alarm.get('state')}"
        print(f"alarm at step {alarm['step']}: {what}: {alarm.get('message', '')}")
    if not alarms:
        print("no alarm fired")


if __name__ == "__main__":
    main()
