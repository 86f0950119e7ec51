"""Reader for the IDX format of MNIST and Fashion-MNIST (raw or gzip-compressed)."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from gankit.errors import GankitError

# The third byte of the magic number names the element type; only unsigned bytes occur here.
_UBYTE = 0x08


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes: magic 0x00 0x00 0x08 ndim, ndim big-endian uint32 sizes, then the data.

    Any mismatch (magic, dimensions, byte count) raises a GankitError naming `name`.
    """
    if len(data) < 4:
        raise GankitError(f"{name}: not an IDX file (only {len(data)} bytes)")
    zero1, zero2, dtype, ndim = data[0], data[1], data[2], data[3]
    if zero1 != 0 or zero2 != 0 or dtype != _UBYTE or not 1 <= ndim <= 4:
        raise GankitError(f"{name}: bad IDX magic number 0x{data[:4].hex()} (expected 0x000008NN)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise GankitError(f"{name}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    actual = len(data) - header
    if actual != expected:
        kind = "truncated" if actual < expected else "has trailing bytes"
        raise GankitError(
            f"{name}: IDX file {kind}: dimensions {list(dims)} need {expected} bytes, found {actual}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (gzip-compressed when its first bytes say so) into a uint8 array."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise GankitError(f"{path}: file not found") from None
    except (OSError, EOFError) as exc:
        raise GankitError(f"{path}: corrupt gzip data ({exc})") from None
    return parse_idx(raw, str(path))


def write_idx(path: str | os.PathLike[str], array: np.ndarray, compress: bool = False) -> None:
    """Write a uint8 array as IDX (used by tests and tools that make small IDX files)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    Path(path).write_bytes(gzip.compress(data) if compress else data)
