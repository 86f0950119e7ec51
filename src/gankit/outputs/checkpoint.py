"""Checkpoints: tensors in safetensors, everything else in JSON; never pickle.

Layout of a checkpoint directory:
    ckpt_NNNNNNN.safetensors   every tensor (weights, optimizer moments, RNG states)
    ckpt_NNNNNNN.json          the rest, with the SHA-256 of the tensor file
    latest.json                which pair is current; written last, atomically
A kill at any moment leaves `latest.json` naming a complete, verified pair.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor

from gankit.errors import GankitError
from gankit.outputs.files import atomic_write_bytes, atomic_write_json, read_json

_STEM = re.compile(r"^ckpt_\d{7,}$")
_TENSOR = "__tensor__"
_TUPLE = "__tuple__"


class CheckpointFallback(UserWarning):
    """The latest checkpoint was damaged or missing, and an older intact one was loaded."""


def flatten_state(obj: Any, prefix: str, tensors: dict[str, Tensor]) -> Any:
    """Replace every tensor in a nested structure by a reference; collect the tensors.

    Turns e.g. an optimizer's state_dict into JSON-able data plus a flat tensor dict.
    Integer dict keys (optimizer state is keyed by parameter index) are kept as strings
    with a marker so they come back as ints.
    """
    if isinstance(obj, Tensor):
        tensors[prefix] = obj.detach().to("cpu").contiguous().clone()
        return {_TENSOR: prefix}
    if isinstance(obj, dict):
        return {
            (f"int:{k}" if isinstance(k, int) else k): flatten_state(v, f"{prefix}.{k}", tensors)
            for k, v in obj.items()
        }
    if isinstance(obj, tuple):
        return {_TUPLE: [flatten_state(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [flatten_state(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {prefix} in a checkpoint")


def unflatten_state(obj: Any, tensors: dict[str, Tensor]) -> Any:
    """Inverse of `flatten_state`."""
    if isinstance(obj, dict):
        if set(obj) == {_TENSOR}:
            return tensors[obj[_TENSOR]]
        if set(obj) == {_TUPLE}:
            return tuple(unflatten_state(v, tensors) for v in obj[_TUPLE])
        return {
            (int(k[4:]) if k.startswith("int:") else k): unflatten_state(v, tensors) for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [unflatten_state(v, tensors) for v in obj]
    return obj


def save_checkpoint(
    directory: str | Path, step: int, state: dict[str, Any], keep: int = 2, run_id: str | None = None
) -> Path:
    """Write `state` (nested dicts of tensors and JSON values) as the checkpoint for `step`.

    Older checkpoints beyond the newest `keep` are deleted, but only those of the same
    `run_id` (recorded in each checkpoint's JSON): a run never deletes another run's files.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Tensor] = {}
    meta = flatten_state(state, "state", tensors)
    stem = f"ckpt_{step:07d}"
    blob = st_save(tensors)
    atomic_write_bytes(directory / f"{stem}.safetensors", blob)
    atomic_write_json(
        directory / f"{stem}.json",
        {
            "step": step,
            "tensors_sha256": hashlib.sha256(blob).hexdigest(),
            "state": meta,
            **({"run_id": run_id} if run_id is not None else {}),
        },
    )
    atomic_write_json(directory / "latest.json", {"step": step, "stem": stem})
    _prune(directory, keep, run_id)
    return directory / f"{stem}.json"


def _stems(directory: Path) -> list[str]:
    """The checkpoint stems in `directory`, oldest first (by step)."""
    stems = {p.stem for p in directory.glob("ckpt_*.json") if _STEM.match(p.stem)}
    return sorted(stems, key=lambda stem: int(stem[5:]))


def _prune(directory: Path, keep: int, run_id: str | None) -> None:
    """Delete this run's checkpoints but the newest `keep`; those of another run stay."""
    own = []
    for stem in _stems(directory):
        try:
            meta = read_json(directory / f"{stem}.json")
        except GankitError:
            continue  # unreadable: not provably this run's, so left alone
        if isinstance(meta, dict) and meta.get("run_id") == run_id:
            own.append(stem)
    for stem in own[:-keep]:
        for suffix in (".safetensors", ".json"):
            (directory / f"{stem}{suffix}").unlink(missing_ok=True)


def latest_stem(directory: str | Path) -> str:
    """The stem (`ckpt_NNNNNNN`) of the checkpoint pair that `directory`'s latest.json names;
    only a checkpoint of that form, inside `directory`, is accepted."""
    pointer = Path(directory) / "latest.json"
    if not pointer.is_file():
        raise GankitError(f"no checkpoint in {directory} (missing latest.json)")
    data = read_json(pointer)
    stem = data.get("stem") if isinstance(data, dict) else None
    if not isinstance(stem, str) or not _STEM.match(stem):
        raise GankitError(f"{pointer} is corrupt: it names no checkpoint of the form ckpt_NNNNNNN")
    return stem


def load_checkpoint(directory: str | Path, fallback: bool = True) -> dict[str, Any]:
    """Load the latest checkpoint in `directory`, verifying the tensor file's checksum.

    When that one is missing or damaged and `fallback` is on, the newest intact older one
    loads instead, with a `CheckpointFallback` warning that names both.
    """
    directory = Path(directory)
    try:
        return _load_stem(directory, latest_stem(directory))
    except GankitError as err:
        if not fallback:
            raise
        for stem in reversed(_stems(directory)):
            try:
                state = _load_stem(directory, stem)
            except GankitError:
                continue
            note = f"{err}; loaded the newest intact checkpoint instead, {stem}"
            warnings.warn(CheckpointFallback(note), stacklevel=2)
            return state
        raise


def _load_stem(directory: Path, stem: str) -> dict[str, Any]:
    meta = read_json(directory / f"{stem}.json")
    tensor_path = directory / f"{stem}.safetensors"
    if not isinstance(meta, dict) or not isinstance(meta.get("state"), dict):
        raise GankitError(f"checkpoint file {directory / f'{stem}.json'} is damaged (no state)")
    try:
        blob = tensor_path.read_bytes()
    except FileNotFoundError:
        raise GankitError(f"checkpoint file missing: {tensor_path}") from None
    if hashlib.sha256(blob).hexdigest() != meta.get("tensors_sha256"):
        raise GankitError(f"checkpoint file {tensor_path} is corrupt (SHA-256 mismatch)")
    try:
        tensors = st_load(blob)
    except Exception as exc:  # safetensors raises its own error types
        raise GankitError(f"checkpoint file {tensor_path} is unreadable ({exc})") from None
    try:
        return unflatten_state(meta["state"], tensors)
    except (KeyError, TypeError, ValueError) as exc:
        raise GankitError(f"checkpoint file {directory / f'{stem}.json'} is damaged ({exc!r})") from None


def rng_state(device: torch.device) -> dict[str, Tensor]:
    """The global torch RNG states that layers such as dropout draw from."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
