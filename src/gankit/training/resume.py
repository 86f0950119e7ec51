"""Resuming a run from its latest checkpoint, refusing options that would change the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gankit.config import TrainConfig, config_differences
from gankit.data import Dataset
from gankit.errors import GankitError
from gankit.outputs.checkpoint import load_checkpoint
from gankit.outputs.files import read_json
from gankit.outputs.rundir import RunLock
from gankit.runtime.distributed import environment_rank, environment_world_size
from gankit.training.setup import data_source
from gankit.training.trainer import Trainer


def resume(
    run_dir: str | Path, overrides: dict[str, Any], progress: bool = True, dataset: Dataset | None = None
) -> Trainer:
    """A Trainer restored from the latest checkpoint in `run_dir`.

    `overrides` are the options given again on the command line; any that differ from
    the saved config, other than the step budget and device, are refused by name. A run
    trained on data given from Python needs that data again as `dataset`; the data found
    must be what config.json's `data_source` records (its SHA-256), or resuming is refused.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise GankitError(f"cannot resume: {run_dir} has no config.json")
    lock = RunLock(run_dir, "training (resumed)")
    if environment_rank() == 0:  # rank 0 writes the run; it locks before reading, so no writer is mid-way
        lock.acquire()
    try:
        trainer = _restore(run_dir, overrides, progress, dataset)
    except BaseException:
        lock.release()
        raise
    trainer.run_lock = lock if lock.held else None  # held from here to the end of `fit`
    return trainer


def _check_data(run_dir: Path, recorded: Any, trainer: Trainer) -> None:
    """Refuse data other than what the run was trained on, by config.json's `data_source`."""
    if not isinstance(recorded, dict):
        return  # a run from before data sources were recorded
    found = data_source(trainer.dataset, trainer.from_python)
    if recorded.get("kind") == "python" and not trainer.from_python:
        raise GankitError(
            f"cannot resume: {run_dir} was trained on data given from Python ({recorded.get('name')}); "
            "resume it from Python with gankit.training.resume(run_dir, {}, dataset=...)"
        )
    if "sha256" in recorded and recorded.get("sha256") != found.get("sha256"):
        raise GankitError(
            f"cannot resume: the data of {recorded.get('name')} is not what {run_dir} was trained on "
            f"(sha256 {str(recorded.get('sha256'))[:16]} in config.json, now {str(found.get('sha256'))[:16]})"
        )


def _restore(run_dir: Path, overrides: dict[str, Any], progress: bool, dataset: Dataset | None) -> Trainer:
    saved = TrainConfig.load(run_dir / "config.json")
    saved_world = read_json(run_dir / "config.json").get("world_size", 1)
    if not isinstance(saved_world, int) or isinstance(saved_world, bool) or saved_world < 1:
        raise GankitError(f"{run_dir / 'config.json'} is damaged: world_size {saved_world!r}")
    if saved_world != environment_world_size():
        raise GankitError(
            f"cannot resume: {run_dir} was trained by {saved_world} process(es) (world_size in config.json) "
            f"and this launch has {environment_world_size()}; relaunch with the same number "
            "(another world size would change the global batch and the order of the data)"
        )
    requested = saved.replace(**overrides)
    if "epochs" in overrides and "steps" not in overrides:
        requested = requested.replace(steps=None)
    elif "steps" in overrides:
        requested = requested.replace(epochs=None)
    changed = config_differences(saved, requested.validated())
    if changed:
        raise GankitError("cannot resume: options differ from the saved config: " + ", ".join(changed))
    state = load_checkpoint(run_dir / "checkpoint")
    trainer = Trainer(requested.replace(out=str(run_dir)), dataset=dataset, progress=progress)
    _check_data(run_dir, read_json(run_dir / "config.json").get("data_source"), trainer)
    trainer.load_state_dict(state)
    if trainer.step > trainer.config.optimization.steps:
        raise GankitError(
            f"cannot resume: checkpoint is at step {trainer.step}, "
            f"past --steps {trainer.config.optimization.steps}"
        )
    return trainer
