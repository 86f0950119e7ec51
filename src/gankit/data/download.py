"""Verified downloads: fetched to a temporary file, checked by SHA-256, then renamed."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from gankit.errors import GankitError


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_verified(
    mirrors: Sequence[str], filename: str, sha256: str, dest_dir: Path, timeout: float = 60.0
) -> Path:
    """Fetch `filename` from the first mirror that serves it with the expected SHA-256.

    Nothing is left at the destination unless the checksum matched; the error names
    the file and every mirror's failure.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / filename
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=dest_dir)
        try:
            with os.fdopen(fd, "wb") as handle, urllib.request.urlopen(url, timeout=timeout) as r:
                for block in iter(lambda: r.read(1 << 20), b""):
                    handle.write(block)
            got = sha256_file(tmp)
            if got != sha256:
                failures.append(f"{url}: SHA-256 mismatch (got {got[:12]}…, want {sha256[:12]}…)")
                continue
            os.replace(tmp, dest)
            return dest
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
        finally:
            Path(tmp).unlink(missing_ok=True)
    raise GankitError(f"could not download {filename}: " + "; ".join(failures))
