"""The hook interface through which everything a run writes or watches hangs off the loop.

A `Callback` overrides the hooks it needs; the `Trainer` calls them in list order:

    on_fit_start(trainer)           the run directory is open; before the first step
    on_record(trainer, record)      a log record is being built: add fields to it
    on_log(trainer, record)         the record is complete (MetricsLog writes it)
    on_samples(trainer, grid)       a sample grid (uint8 (H, W, C)) was made
    on_step_end(trainer)            after every step (`trainer.step` counts it)
    on_checkpoint(trainer)          a checkpoint of `trainer.step` was written
    on_nonfinite(trainer, error)    a NaN/Inf stopped a step; return True when handled
    on_end(trainer)                 after the last step
    on_close(trainer)               always, last: release what was opened

Add your own with `Trainer(config, callbacks=[*default_callbacks(config), Mine()])` or
`trainer.callbacks.append(Mine())`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import Tensor

if TYPE_CHECKING:
    from gankit.monitor.alarms import NonFiniteError
    from gankit.training.trainer import Trainer

__all__ = ["Callback"]


class Callback:
    """Base class: every hook does nothing."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """The run directory is open and the logger set; no step has run in this process yet."""

    def on_record(self, trainer: Trainer, record: dict[str, Any]) -> None:
        """Add fields to the log record of `trainer.step` before it is written."""

    def on_log(self, trainer: Trainer, record: dict[str, Any]) -> None:
        """The log record of `trainer.step` is complete."""

    def on_samples(self, trainer: Trainer, grid: Tensor) -> None:
        """A grid of the fixed noise batch's samples, uint8 (H, W, C), was made."""

    def on_step_end(self, trainer: Trainer) -> None:
        """Step `trainer.step` finished (and was logged, when a log step)."""

    def on_checkpoint(self, trainer: Trainer) -> None:
        """A checkpoint of step `trainer.step` was written (on every rank, after rank 0 wrote it)."""

    def on_nonfinite(self, trainer: Trainer, error: NonFiniteError) -> bool:
        """A NaN/Inf loss or gradient stopped a step; True when this callback handled it."""
        return False

    def on_end(self, trainer: Trainer) -> None:
        """The last step finished."""

    def on_close(self, trainer: Trainer) -> None:
        """Training stopped, normally or not."""

    def active_alarms(self) -> list[str]:
        """Names of the alarms this callback holds raised now (shown beside the progress bar)."""
        return []
