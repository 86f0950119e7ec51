"""Who owns a run directory: one writer at a time, and one run per directory.

`RunLock` is an exclusive OS lock (`flock`) on `.gankit.lock` in the run directory, held by
whatever writes into the run (training, resume, `gankit eval`, `gankit report`). The kernel
drops it when the holder exits or crashes, so a killed run never leaves a stale lock; the
file itself stays and names its last holder.

`find_run` says whether a directory already holds a run, `clear_run` removes one
(`--overwrite`), and `numbered_run_dir` picks a fresh `00001-<dataset>-<model>` sub-folder
(`--outdir`), as StyleGAN2-ADA lays out its runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
from pathlib import Path
from types import TracebackType

from gankit.errors import GankitError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS: no OS lock, ownership checks still run
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LOCK_NAME",
    "RUN_ENTRIES",
    "RunLock",
    "clear_run",
    "find_run",
    "numbered_run_dir",
    "remove_stale_tmp",
]

LOCK_NAME = ".gankit.lock"
# everything a run writes into its directory (`gankit.outputs.callbacks`)
RUN_ENTRIES = (
    "config.json",
    "metrics.jsonl",
    "checkpoint",
    "samples",
    "generator.json",
    "generator.safetensors",
    "generator_raw.safetensors",
    "eval.json",
    "losses.png",
    "report.html",
    "tensorboard",
)
_TMP = re.compile(r"^\..+\.tmp$")  # what `atomic_write_bytes` leaves behind when killed mid-write


class RunLock:
    """An exclusive, non-blocking lock on `run_dir` for one `purpose` ("training", "eval", ...).

    Use as a context manager or call `acquire`/`release`. A second holder gets a `GankitError`
    naming the process that holds the lock.
    """

    def __init__(self, run_dir: str | Path, purpose: str, create: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.purpose = purpose
        self.create = create  # make the directory if missing (a new run); else it must exist
        self._handle: int | None = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def acquire(self) -> RunLock:
        if self._handle is not None:
            return self
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise GankitError(f"run directory {self.run_dir} is a file, not a directory")
        if not self.create and not self.run_dir.is_dir():
            raise GankitError(f"no run directory at {self.run_dir}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / LOCK_NAME
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _describe_holder(path)
                os.close(handle)
                raise GankitError(
                    f"{self.run_dir} is in use by {holder}; wait for it to finish or stop it "
                    "(one process writes into a run at a time)"
                ) from None
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "purpose": self.purpose,
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.ftruncate(handle, 0)
        os.pwrite(handle, (json.dumps(record) + "\n").encode(), 0)
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is None:
            return
        handle, self._handle = self._handle, None
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
        os.close(handle)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _describe_holder(path: Path) -> str:
    """ "process 1234 on HOST (training, since ...)" from the lock file, as well as it reads."""
    try:
        record = json.loads(path.read_text())
        return (
            f"process {int(record['pid'])} on {record['host']} ({record['purpose']}, since {record['since']})"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def find_run(run_dir: str | Path) -> str | None:
    """A short description of the run `run_dir` holds ("dcgan on mnist-5k, checkpoint at step
    200"), or None when it holds none of a run's files."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return None
    present = [name for name in RUN_ENTRIES if (run_dir / name).exists()]
    if not present:
        return None
    what = "files " + ", ".join(present[:4]) + (", ..." if len(present) > 4 else "")
    try:
        config = json.loads((run_dir / "config.json").read_text())
        model = config.get("architecture", config).get("model")
        dataset = config.get("data", config).get("dataset")
        if isinstance(model, str) and isinstance(dataset, str):
            what = f"{model} on {dataset}"
    except (OSError, ValueError, AttributeError):
        pass
    try:
        step = json.loads((run_dir / "checkpoint" / "latest.json").read_text())["step"]
        what += f", checkpoint at step {int(step)}"
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return what


def clear_run(run_dir: str | Path) -> list[str]:
    """Remove the run's files from `run_dir` (what `find_run` looks for, and stray temporary
    files); other files stay. Returns the names removed. Hold the directory's `RunLock`.

    Only a gankit run (one with a config.json) is removed: a folder that merely holds a
    `samples/` or `checkpoint/` of its own is refused rather than emptied."""
    run_dir = Path(run_dir)
    found = find_run(run_dir)
    if found is not None and not (run_dir / "config.json").is_file():
        raise GankitError(
            f"--overwrite removes only a gankit run, and {run_dir} has no config.json ({found}); "
            "give another --out"
        )
    removed = []
    for name in RUN_ENTRIES:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        removed.append(name)
    remove_stale_tmp(run_dir)
    return removed


def remove_stale_tmp(run_dir: str | Path) -> list[Path]:
    """Delete the temporary files a kill during an atomic write left in the run directory and
    its checkpoint/ and samples/ folders. Only safe while holding the directory's `RunLock`."""
    removed = []
    for folder in (Path(run_dir), Path(run_dir) / "checkpoint", Path(run_dir) / "samples"):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if _TMP.match(path.name) and path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def numbered_run_dir(parent: str | Path, dataset: str, model: str) -> Path:
    """A new sub-folder of `parent` numbered one past the highest there: `00001-<dataset>-<model>`."""
    parent = Path(parent)
    if parent.exists() and not parent.is_dir():
        raise GankitError(f"--outdir {parent} is a file, not a directory")
    numbers = [
        int(match.group(1))
        for path in (parent.iterdir() if parent.is_dir() else ())
        if (match := re.match(r"^(\d{5,})-", path.name))
    ]
    kind, _, source = dataset.partition(":")  # folder:PATH is named by the folder's own name
    name = f"{kind}-{Path(source).name}" if source else dataset
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", f"{name}-{model}").strip("-.")
    return parent / f"{max(numbers, default=0) + 1:05d}-{slug}"
