"""The callbacks of a `gankit train` run (`gankit.training.callbacks` describes the hooks)."""

from __future__ import annotations

from gankit.config import TrainConfig
from gankit.monitor.callbacks import Alarms, NanRecovery
from gankit.outputs.callbacks import (
    Checkpoints,
    Evaluation,
    Export,
    LossCurves,
    MetricsLog,
    Report,
    SampleGrids,
    TensorBoardLog,
)
from gankit.training.callbacks import Callback

__all__ = ["default_callbacks"]


def default_callbacks(config: TrainConfig) -> list[Callback]:
    """What `gankit train` writes and watches, in the order it happens at each step."""
    callbacks: list[Callback] = [MetricsLog(), Alarms()]
    callbacks += [TensorBoardLog()] if config.run.tensorboard else []
    callbacks += [SampleGrids(), Checkpoints(), LossCurves(), Evaluation(), Export(), Report()]
    return callbacks + ([NanRecovery()] if config.watch.nan_watchdog else [])
