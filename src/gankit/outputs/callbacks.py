"""What a run writes, as callbacks on the training loop (`gankit.training.callbacks`).

`MetricsLog` keeps `metrics.jsonl`; `SampleGrids` the fixed noise batch's grids under
`samples/`; `Checkpoints` and `LossCurves` the checkpoints and `losses.png`; `Evaluation`
the `--eval-every` scores and `eval.json`; `Export` the final generator; `Report` the
`report.html`; `TensorBoardLog` the TensorBoard events. Files are written by rank 0 only;
checkpoints and evaluations need every rank.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from gankit.data import to_uint8
from gankit.metrics import evaluate_generator, scalar_summary, write_eval_json
from gankit.outputs.logger import JsonlLogger
from gankit.outputs.report import write_report
from gankit.outputs.tensorboard import TensorBoard
from gankit.outputs.viz import make_grid, save_loss_curves, save_png, save_scatter
from gankit.sampling.generator import export_generator
from gankit.training.callbacks import Callback

if TYPE_CHECKING:
    from gankit.training.trainer import Trainer

__all__ = [
    "Checkpoints",
    "Evaluation",
    "Export",
    "LossCurves",
    "MetricsLog",
    "Report",
    "SampleGrids",
    "TensorBoardLog",
    "write_sample_grid",
]


def _between(trainer: Trainer, every: int | None) -> bool:
    """Whether `trainer.step` is a multiple of `every` before the last step (which `on_end` covers)."""
    return (
        every is not None and trainer.step % every == 0 and trainer.step < trainer.config.optimization.steps
    )


class MetricsLog(Callback):
    """`metrics.jsonl`: one record per logged step; on resume, records past the checkpoint go."""

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.dist.is_main:
            trainer.logger = JsonlLogger(trainer.run_dir / "metrics.jsonl", resume_step=trainer.step)

    def on_log(self, trainer: Trainer, record: dict[str, Any]) -> None:
        trainer.logger.log(record)


@torch.no_grad()
def write_sample_grid(trainer: Trainer) -> None:
    """The fixed noise batch through G (eval mode) as samples/step_NNNNNNN.png; for 1-D and 2-D
    data a scatter plot over the test points, with D's output as contours where D judges points."""
    fake = trainer.fixed_samples()
    path = trainer.run_dir / "samples" / f"step_{trainer.step:07d}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    if trainer.dataset.kind == "image":
        grid = make_grid(to_uint8(fake, trainer.output), nrow=8)
        save_png(grid, path)
        for callback in trainer.callbacks:
            callback.on_samples(trainer, grid)
        return
    discriminator = trainer.discriminator

    @torch.no_grad()
    def d_prob(x: Tensor) -> Tensor:
        discriminator.eval()
        try:
            return torch.sigmoid(discriminator(x.to(trainer.device))).cpu()
        finally:
            discriminator.train()

    contour = (
        d_prob if trainer.config.architecture.pack == 1 else None
    )  # a packed D judges groups, not points
    save_scatter(fake, trainer.dataset.tensor("test")[:2000], path, f"step {trainer.step}", contour)


class SampleGrids(Callback):
    """`samples/step_NNNNNNN.png` every `--sample-every` steps and at the end (rank 0)."""

    def on_step_end(self, trainer: Trainer) -> None:
        if _between(trainer, trainer.config.run.sample_every) and trainer.dist.is_main:
            write_sample_grid(trainer)

    def on_end(self, trainer: Trainer) -> None:
        if trainer.dist.is_main:
            write_sample_grid(trainer)


class Checkpoints(Callback):
    """A checkpoint every `--checkpoint-every` steps and at the end (written by rank 0)."""

    def on_step_end(self, trainer: Trainer) -> None:
        if _between(trainer, trainer.config.run.checkpoint_every):
            trainer.save_checkpoint()

    def on_end(self, trainer: Trainer) -> None:
        trainer.save_checkpoint()


class LossCurves(Callback):
    """`losses.png` redrawn at each periodic checkpoint (rank 0)."""

    def on_checkpoint(self, trainer: Trainer) -> None:
        periodic = trainer.step > 0 and _between(trainer, trainer.config.run.checkpoint_every)
        if trainer.dist.is_main and periodic:
            save_loss_curves(trainer.logger.records, trainer.run_dir / "losses.png")


class Evaluation(Callback):
    """The `--eval-metrics` every `--eval-every` steps into metrics.jsonl, and at the end into
    eval.json as well. Every rank draws its share of the samples."""

    def on_step_end(self, trainer: Trainer) -> None:
        if trainer.eval_metrics and _between(trainer, trainer.config.evaluation.eval_every):
            self._evaluate(trainer)

    def on_end(self, trainer: Trainer) -> None:
        if trainer.eval_metrics:
            results = self._evaluate(trainer)
            if trainer.dist.is_main:
                write_eval_json(trainer.run_dir, trainer.config.data.dataset, trainer.step, results)

    @staticmethod
    def _evaluate(trainer: Trainer) -> dict[str, dict[str, Any]]:
        """The metrics on the current generator (global RNG and G's mode left unchanged)."""
        c = trainer.config
        results = evaluate_generator(
            trainer.sampler,
            trainer.generator_info(),
            trainer.dataset,
            trainer.eval_metrics,
            seed=c.run.seed,
            n=c.evaluation.eval_n,
            data_options=c.data_options(),
            device=trainer.device,
            dist=trainer.dist,
            inception_weights=c.evaluation.inception_weights,
        )
        if trainer.dist.is_main:
            trainer.logger.log({"step": trainer.step, **scalar_summary(results)})
        return results


class Export(Callback):
    """The final generator (its EMA where kept, and then G's own weights as generator_raw)."""

    def on_end(self, trainer: Trainer) -> None:
        if not trainer.dist.is_main:
            return
        export_generator(trainer.sampler, trainer.generator_info(), trainer.run_dir)
        if trainer.ema is not None:
            export_generator(trainer.generator, trainer.generator_info(), trainer.run_dir, "generator_raw")


class Report(Callback):
    """`losses.png` and `report.html` at the end (rank 0)."""

    def on_end(self, trainer: Trainer) -> None:
        if trainer.dist.is_main:
            save_loss_curves(trainer.logger.records, trainer.run_dir / "losses.png")
            write_report(trainer.run_dir)


class TensorBoardLog(Callback):
    """TensorBoard events under `tensorboard/`: scalars, D's output histograms, sample grids."""

    def __init__(self) -> None:
        self.board: TensorBoard | None = None

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.dist.is_main:
            self.board = TensorBoard.open(trainer.run_dir / "tensorboard")

    def on_log(self, trainer: Trainer, record: dict[str, Any]) -> None:
        if self.board is None:
            return
        self.board.scalars(trainer.step, record)
        logits = trainer.gan_step.last_d_logits
        outputs = None if logits is None else tuple(torch.sigmoid(t) for t in logits)  # D(x)
        # NaN outputs (before a deferred check) have no histogram
        if outputs is not None and all(bool(torch.isfinite(t).all()) for t in outputs):
            self.board.histograms(trainer.step, *outputs)

    def on_samples(self, trainer: Trainer, grid: Tensor) -> None:
        if self.board is not None:
            self.board.image(trainer.step, grid)

    def on_close(self, trainer: Trainer) -> None:
        if self.board is not None:
            self.board.close()
            self.board = None
