"""Atomic file writes: a file is either the old one or the complete new one, never half."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from gankit.errors import GankitError


def _write_and_sync(handle: Any, data: bytes) -> None:
    handle.write(data)
    handle.flush()
    os.fsync(handle.fileno())


def _file_mode() -> int:
    """The mode a new file gets under the process's umask (mkstemp's own is 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, then rename it over `path`.
    The file gets the permissions any new file would (readable by others under umask 022)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as handle:
            _write_and_sync(handle, data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def strict_json(obj: Any) -> Any:
    """`obj` as strict JSON allows it: a non-finite float becomes null, and beside it in its
    dict `KEY:nonfinite` says which it was ("inf", "-inf" or "nan"); in a list, just null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            out[key] = strict_json(value)
            if isinstance(value, float) and not math.isfinite(value):
                out[f"{key}:nonfinite"] = str(value)
        return out
    if isinstance(obj, list | tuple):
        return [strict_json(value) for value in obj]
    return obj


def restore_nonfinite(obj: Any) -> Any:
    """The inverse of `strict_json` for dicts: a null with `KEY:nonfinite` beside it is that
    number again, and the note goes."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if isinstance(key, str) and key.endswith(":nonfinite") and key[: -len(":nonfinite")] in obj:
                continue
            note = obj.get(f"{key}:nonfinite") if isinstance(key, str) else None
            out[key] = float(note) if value is None and isinstance(note, str) else restore_nonfinite(value)
        return out
    if isinstance(obj, list):
        return [restore_nonfinite(value) for value in obj]
    return obj


def dumps(obj: Any, **options: Any) -> str:
    """Strict JSON text of `obj` (`strict_json`): no NaN or Infinity, which JSON does not have."""
    return json.dumps(strict_json(obj), allow_nan=False, **options)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write `obj` as indented, strict JSON."""
    atomic_write_bytes(path, (dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON object from a file (non-finite numbers restored, see `strict_json`); a missing
    file, a parse error or JSON that is not an object is a GankitError naming the file."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise GankitError(f"file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GankitError(f"{path} is not valid JSON ({exc})") from None
    except IsADirectoryError:
        raise GankitError(f"{path} is a directory, not a JSON file") from None
    if not isinstance(data, dict):
        raise GankitError(f"{path} is damaged: it holds a JSON {type(data).__name__}, not an object")
    return restore_nonfinite(data)
