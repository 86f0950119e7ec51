"""Resuming a run from its latest checkpoint, refusing options that would change the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gankit.config import TrainConfig, config_differences
from gankit.errors import GankitError
from gankit.outputs.checkpoint import load_checkpoint
from gankit.outputs.files import read_json
from gankit.outputs.rundir import RunLock
from gankit.runtime.distributed import environment_rank, environment_world_size
from gankit.training.trainer import Trainer


def resume(run_dir: str | Path, overrides: dict[str, Any], progress: bool = True) -> Trainer:
    """A Trainer restored from the latest checkpoint in `run_dir`.

    `overrides` are the options given again on the command line; any that differ from
    the saved config, other than the step budget and device, are refused by name.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise GankitError(f"cannot resume: {run_dir} has no config.json")
    lock = RunLock(run_dir, "training (resumed)")
    if environment_rank() == 0:  # rank 0 writes the run; it locks before reading, so no writer is mid-way
        lock.acquire()
    try:
        trainer = _restore(run_dir, overrides, progress)
    except BaseException:
        lock.release()
        raise
    trainer.run_lock = lock if lock.held else None  # held from here to the end of `fit`
    return trainer


def _restore(run_dir: Path, overrides: dict[str, Any], progress: bool) -> Trainer:
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
    trainer = Trainer(requested.replace(out=str(run_dir)), progress=progress)
    trainer.load_state_dict(state)
    if trainer.step > trainer.config.optimization.steps:
        raise GankitError(
            f"cannot resume: checkpoint is at step {trainer.step}, "
            f"past --steps {trainer.config.optimization.steps}"
        )
    return trainer
