"""Metric logging: one JSON object per logged step in `metrics.jsonl`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gankit.outputs.files import dumps, restore_nonfinite


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a `metrics.jsonl` (none if it does not exist). A line that is not a JSON
    object with an integer `step` (cut short by a kill, or damaged) is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        step = record.get("step") if isinstance(record, dict) else None
        if isinstance(step, int) and not isinstance(step, bool):
            records.append(restore_nonfinite(record))
    return records


class JsonlLogger:
    """Appends records to `metrics.jsonl` and keeps them for plotting.

    On resume, records past the checkpoint's step are dropped so that the file
    reads as one uninterrupted run.
    """

    def __init__(self, path: str | Path, resume_step: int | None = None) -> None:
        self.path = Path(path)
        self.records: list[dict[str, Any]] = []
        if resume_step is not None:
            self.records = [r for r in read_records(self.path) if r.get("step", 0) <= resume_step]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w") as handle:
            handle.writelines(dumps(r) + "\n" for r in self.records)

    def log(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        with self.path.open("a") as handle:
            handle.write(dumps(record) + "\n")

    def truncate(self, step: int) -> None:
        """Drop the records past `step` (after a rollback), keeping alarm records as history."""
        self.records = [r for r in self.records if r.get("step", 0) <= step or "alarm" in r]
        with self.path.open("w") as handle:
            handle.writelines(dumps(r) + "\n" for r in self.records)


class NullLogger(JsonlLogger):
    """Keeps records in memory and writes nothing: the logger of ranks other than 0."""

    def __init__(self) -> None:
        self.records = []

    def log(self, record: dict[str, Any]) -> None:
        pass

    def truncate(self, step: int) -> None:
        pass
