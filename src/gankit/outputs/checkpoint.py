"""Checkpoints: tensors in safetensors, everything else in JSON; never pickle.

Layout of a checkpoint directory:
    ckpt_NNNNNNN.safetensors   every tensor (weights, optimizer moments, RNG states)
    ckpt_NNNNNNN.json          the rest, with the SHA-256 of the tensor file
    latest.json                which pair is current; written last, atomically
A kill at any moment leaves `latest.json` naming a complete, verified pair.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor

from gankit.errors import GankitError
from gankit.outputs.files import atomic_write_bytes, atomic_write_json, read_json

_TENSOR = "__tensor__"
_TUPLE = "__tuple__"


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


def save_checkpoint(directory: str | Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write `state` (nested dicts of tensors and JSON values) as the checkpoint for `step`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Tensor] = {}
    meta = flatten_state(state, "state", tensors)
    stem = f"ckpt_{step:07d}"
    blob = st_save(tensors)
    atomic_write_bytes(directory / f"{stem}.safetensors", blob)
    atomic_write_json(
        directory / f"{stem}.json",
        {"step": step, "tensors_sha256": hashlib.sha256(blob).hexdigest(), "state": meta},
    )
    atomic_write_json(directory / "latest.json", {"step": step, "stem": stem})
    _prune(directory, keep)
    return directory / f"{stem}.json"


def _prune(directory: Path, keep: int) -> None:
    stems = sorted({p.name.split(".")[0] for p in directory.glob("ckpt_*.json")})
    for stem in stems[:-keep]:
        for suffix in (".safetensors", ".json"):
            (directory / f"{stem}{suffix}").unlink(missing_ok=True)


def latest_stem(directory: str | Path) -> str:
    """The stem (`ckpt_NNNNNNN`) of the checkpoint pair that `directory`'s latest.json names."""
    pointer = Path(directory) / "latest.json"
    if not pointer.is_file():
        raise GankitError(f"no checkpoint in {directory} (missing latest.json)")
    stem = read_json(pointer).get("stem")
    if not isinstance(stem, str):
        raise GankitError(f"{pointer} is corrupt: no checkpoint named")
    return stem


def load_checkpoint(directory: str | Path) -> dict[str, Any]:
    """Load the latest checkpoint in `directory`, verifying the tensor file's checksum."""
    directory = Path(directory)
    stem = latest_stem(directory)
    meta = read_json(directory / f"{stem}.json")
    tensor_path = directory / f"{stem}.safetensors"
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
    return unflatten_state(meta["state"], tensors)


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
