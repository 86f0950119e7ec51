"""What watches a run, as callbacks on the training loop: the alarms and the NaN/Inf recovery."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gankit.errors import GankitError
from gankit.monitor.alarms import AlarmEvent, NonFiniteError
from gankit.monitor.watcher import RunWatcher
from gankit.outputs.checkpoint import load_checkpoint
from gankit.training.callbacks import Callback

if TYPE_CHECKING:
    from gankit.training.trainer import Trainer

__all__ = ["Alarms", "NanRecovery"]


class Alarms(Callback):
    """The dominance and collapse alarms (`RunWatcher`), fed with each logged record on rank 0.

    The collapse alarm's diversity of the fixed noise batch is measured every `--watch-every`
    steps (at a logged step) and added to the record; start and clear events are logged and shown.
    """

    def __init__(self) -> None:
        self.watcher: RunWatcher | None = None

    def on_fit_start(self, trainer: Trainer) -> None:
        self.watcher = RunWatcher(
            trainer.config, trainer.dataset, trainer.output, enabled=trainer.dist.is_main
        )

    def on_record(self, trainer: Trainer, record: dict[str, Any]) -> None:
        c, step = trainer.config, trainer.step
        if self.watcher is None or not self.watcher.watches_samples:
            return
        if step % c.watch.watch_every < c.run.log_every or step == c.optimization.steps:
            record.update(self.watcher.diversity(trainer.fixed_samples()))

    def on_log(self, trainer: Trainer, record: dict[str, Any]) -> None:
        if self.watcher is None:
            return
        for event in self.watcher.events(trainer.step, record):
            trainer.logger.log(event.record())
            trainer.console.write(event.line())

    def active_alarms(self) -> list[str]:
        return [] if self.watcher is None else self.watcher.active


class NanRecovery(Callback):
    """On a NaN/Inf loss or gradient: restore the last checkpoint, halve both learning rates and
    go on, up to `--max-recoveries` times; then stop with one error naming the step and tensor."""

    def on_nonfinite(self, trainer: Trainer, error: NonFiniteError) -> bool:
        c = trainer.config
        trainer.recoveries += 1
        if trainer.recoveries > c.watch.max_recoveries:
            raise GankitError(
                f"non-finite {error.tensor} at step {error.step} after {c.watch.max_recoveries} "
                "recoveries (restore + halved learning rates); lower --lr-g/--lr-d"
            ) from None
        factor = trainer.lr_factor / 2  # half the last attempt's: x0.5, x0.25, x0.125, ...
        trainer.load_state_dict(load_checkpoint(trainer.run_dir / "checkpoint"))
        trainer.finite.clear()
        when = "no weight changed" if trainer.nan_check_every == 1 else "found by a deferred check"
        trainer.lr_factor = factor
        trainer.apply_lr_factor()
        trainer.save_checkpoint()  # the restored state with its new factor: a resume keeps both
        trainer.logger.truncate(trainer.step)
        event = AlarmEvent(
            error.step,
            "nonfinite",
            "start",
            f"non-finite {error.tensor}; {when}. Restored the checkpoint of step {trainer.step} and "
            f"halved the learning rates (now x{trainer.lr_factor:g}); recovery {trainer.recoveries} of "
            f"{c.watch.max_recoveries}.",
        )
        trainer.logger.log(event.record())
        trainer.console.write(event.line())
        return True
