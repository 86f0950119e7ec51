"""The run around the update step: setup, the loop over Algorithm 1's iterations, state, resume.

`Trainer` builds a run from a `TrainConfig`, draws each iteration's inputs, calls `GANStep`,
keeps the step count, learning-rate schedule and checkpointable state, and calls its
callbacks (`gankit.training.callbacks`) for everything the run writes or watches.
"""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gankit import __version__
from gankit.config import TrainConfig
from gankit.data import Dataset, load_dataset
from gankit.errors import GankitError
from gankit.models import check_compatible, get_model
from gankit.models.parts import eval_mode
from gankit.monitor.alarms import FiniteChecks, NonFiniteError
from gankit.outputs.checkpoint import save_checkpoint
from gankit.outputs.files import atomic_write_json, read_json
from gankit.outputs.logger import JsonlLogger, NullLogger
from gankit.outputs.rundir import RunLock, find_run, remove_stale_tmp
from gankit.runtime.distributed import barrier, broadcast_int, init_distributed, lr_scale, mean_over_ranks
from gankit.runtime.precision import emulated_bf16_note, resolve_precision
from gankit.runtime.progress import Progress, StopOnSignal
from gankit.sampling.generator import GeneratorInfo, balanced_labels
from gankit.training.callbacks import Callback
from gankit.training.defaults import default_callbacks
from gankit.training.inputs import IterationInputs
from gankit.training.modules import call_with_labels
from gankit.training.optim import exponential_decay, linear_decay, momentum_ramp
from gankit.training.setup import (
    build_gan_step,
    data_source,
    eval_metric_names,
    fixed_noise,
    layout_line,
    make_batches,
    make_label_source,
    process_layout,
    resolve_device,
    resolve_steps,
)
from gankit.training.state import generator_info, restore_trainer_state, run_plugins, trainer_state

__all__ = ["Trainer", "TrainingInterrupted", "default_callbacks", "train"]


class TrainingInterrupted(Exception):
    """Raised after Ctrl-C once a checkpoint of the last finished step has been written."""


class Trainer:
    """Owns the models, optimizers, batch sources, RNGs and the run directory of one run.

    `callbacks` default to `default_callbacks(config)`; pass `[]` for bare steps (benchmarks).
    Under torchrun (WORLD_SIZE > 1 in the environment) it joins the process group and trains
    G and D with DistributedDataParallel; see `gankit.runtime.distributed`.
    """

    def __init__(
        self,
        config: TrainConfig,
        dataset: Dataset | None = None,
        progress: bool = True,
        callbacks: Sequence[Callback] | None = None,
    ) -> None:
        self.from_python = dataset is not None  # config.json records data given from Python as such
        if dataset is not None and dataset.name != config.data.dataset:
            config = config.replace(dataset=dataset.name)  # config.json names the data trained on
        config = config.validated()
        self.dist, self.device = init_distributed(
            resolve_device(config.run.device), config.distributed.dist_timeout
        )
        self.dataset = (
            dataset if dataset is not None else load_dataset(config.data.dataset, config.data_options())
        )
        check_compatible(
            config.architecture.model, self.dataset.kind, self.dataset.shape, config.data.dataset
        )
        self.config = c = resolve_steps(config, self.dataset)
        self.run_dir, self.progress = Path(c.run.out), progress and self.dist.is_main
        self.output = get_model(c.architecture.model).output
        self.precision = resolve_precision(c.run.precision, self.device)
        if (note := emulated_bf16_note(self.precision, self.device)) is not None:
            warnings.warn(note, stacklevel=2)
        self.labels = make_label_source(c, self.dataset)
        self.lr_scale = lr_scale(c.distributed.lr_scaling, self.dist.world_size)
        self.finite = FiniteChecks(
            c.watch.nan_check_every or (c.run.log_every if self.device.type == "cuda" else 1),
            distributed=self.dist.enabled,  # a host sync per step costs on GPUs, hence log_every there
        )
        self.gan_step = build_gan_step(
            c, self.dataset, self.labels, self.device, self.dist, self.precision, self.finite
        )
        batches = make_batches(c, self.dataset, self.output, self.labels, self.device, self.dist)
        a = c.architecture
        noise = (a.noise, a.noise_dim, c.run.seed + 1)
        self.inputs = IterationInputs(batches, self.labels, *noise, self.device, self.dist)
        self.labels.attach(batches)
        self.fixed_noise = fixed_noise(c, self.dataset, self.device)
        self.step, self.elapsed = 0, 0.0
        # the run's identity: config.json and every checkpoint carry it; a restore adopts the saved one
        self.run_id, self.resumed = uuid.uuid4().hex, False
        self.run_lock: RunLock | None = None  # held by rank 0 from `begin` to the end of `fit`
        self.lr_factor, self.recoveries = 1.0, 0  # halved by each recovery from a non-finite step
        self.eval_metrics = eval_metric_names(c, self.dataset, self.dist)
        self.callbacks = list(default_callbacks(c) if callbacks is None else callbacks)
        self.logger: JsonlLogger = NullLogger()  # MetricsLog opens metrics.jsonl on rank 0
        self.console = Progress(c.optimization.steps, 0, enabled=False)
        self._last_log = (0, 0.0)

    # -- what the run holds ---------------------------------------------------------------------
    generator = property(lambda self: self.gan_step.generator, doc="G, as trained (not its EMA)")
    discriminator = property(lambda self: self.gan_step.discriminator, doc="D")
    opt_g = property(lambda self: self.gan_step.opt_g, doc="G's optimizer")
    opt_d = property(lambda self: self.gan_step.opt_d, doc="D's optimizer")
    ema = property(lambda self: self.gan_step.ema, doc="the EMA of G, or None")
    loss = property(lambda self: self.gan_step.loss, doc="the GAN loss")
    batches = property(lambda self: self.inputs.batches, doc="the batch source of real data")
    n_classes = property(lambda self: self.labels.n_classes, doc="labels G and D see (0: none)")
    nan_check_every = property(lambda self: self.finite.every, doc="steps between host reads of NaN flags")

    @property
    def plugins(self) -> tuple[str, ...]:
        """Modules that registered this run's model, dataset, loss or metrics (saved with the run)."""
        return run_plugins(self.config, self.eval_metrics)

    @property
    def sampler(self) -> nn.Module:
        """The generator that samples and evaluation use: the EMA of G when kept, else G."""
        return self.ema.module if self.ema is not None else self.generator

    def noise(self, n: int) -> Tensor:
        """This rank's `n` rows of a global noise batch (drawn from the run's noise stream)."""
        return self.inputs.noise(n)

    def noise_labels(self, n: int) -> Tensor | None:
        """This rank's `n` labels for G's step (None when unconditional)."""
        return self.inputs.noise_labels(n)

    # -- one iteration --------------------------------------------------------------------------
    def train_step(self) -> dict[str, Tensor]:
        """One iteration of Algorithm 1 at `self.step`: k D steps, then one G step (not counted)."""
        c = self.config
        o = c.optimization
        if o.lr_decay_start is not None or o.lr_decay_factor is not None or o.momentum_final is not None:
            self.apply_lr_factor()
        self.labels.before_step(self.step, self.discriminator)
        inputs = self.inputs.draw(
            c.optimization.k, c.optimization.batch_size, self.loss.g_needs_real, c.optimization.reuse_fakes
        )
        stats = self.gan_step(inputs, self.step)
        if (self.step + 1) % self.nan_check_every == 0 or self.step + 1 == c.optimization.steps:
            self.finite.verify(self.step + 1)
        return stats

    def apply_lr_factor(self) -> None:
        """Set both learning rates (base x world-size scaling x recovery factor x schedules) and,
        with --momentum-final, SGD's momentum for the epoch reached."""
        o = self.config.optimization
        factor = self.lr_scale * self.lr_factor * linear_decay(self.step, o.steps, o.lr_decay_start)
        epoch = self.inputs.batches.epochs_done(self.step * o.k) if o.momentum_final is not None else 0.0
        for opt, base in ((self.opt_g, o.lr_g), (self.opt_d, o.lr_d)):
            for group in opt.param_groups:
                group["lr"] = exponential_decay(base * factor, self.step, o.lr_decay_factor, o.lr_min)
                if o.momentum_final is not None:
                    group["momentum"] = momentum_ramp(
                        o.momentum, o.momentum_final, epoch, o.momentum_ramp_epochs
                    )

    def run_steps(self, n: int, stop: StopOnSignal | None = None) -> None:
        """Train `n` more iterations (never past the step budget), calling the callbacks after each."""
        end = min(self.step + n, self.config.optimization.steps)
        start = time.perf_counter() - self.elapsed
        while self.step < end:
            try:
                if stop is not None and stop.requested:
                    self.save_checkpoint()
                    raise TrainingInterrupted(f"interrupted at step {self.step}")
                stats = self.train_step()
                self.step += 1
                self.elapsed = time.perf_counter() - start
                self._after_step(stats)
            except NonFiniteError as err:  # a checkpoint save verifies deferred checks too
                if not any(callback.on_nonfinite(self, err) for callback in self.callbacks):
                    raise
                start = time.perf_counter() - self.elapsed

    def _after_step(self, stats: dict[str, Tensor]) -> None:
        c = self.config
        if self.step % c.run.log_every == 0 or self.step == c.optimization.steps:
            stats = mean_over_ranks(stats, self.dist)  # the global batch's statistics
            if self.dist.is_main:
                self._log(stats)
        for callback in self.callbacks:
            callback.on_step_end(self)

    def _log(self, stats: dict[str, Tensor]) -> None:
        """One log record through the callbacks, and the progress bar (rank 0)."""
        c, step = self.config, self.step
        record: dict[str, Any] = {"step": step, "time": round(self.elapsed, 3)}
        record.update({k: float(v) for k, v in stats.items()})  # one host sync per log
        record.update(self.labels.stats)
        last_step, last_time = self._last_log
        if self.elapsed > last_time:
            images = (step - last_step) * c.optimization.k * c.optimization.batch_size * self.dist.world_size
            record["samples/s"] = images / (self.elapsed - last_time)
        self._last_log = (step, self.elapsed)
        record["lr/g"], record["lr/d"] = self.opt_g.param_groups[0]["lr"], self.opt_d.param_groups[0]["lr"]
        for callback in self.callbacks:
            callback.on_record(self, record)
        for callback in self.callbacks:
            callback.on_log(self, record)
        self.console.update(step, record, sorted(a for cb in self.callbacks for a in cb.active_alarms()))

    # -- the whole run --------------------------------------------------------------------------
    def begin(self) -> None:
        """Open the run: take the run directory (its lock; a new run refuses a directory that holds
        another run), write config.json, start the progress bar, call each `on_fit_start`."""
        refused = self._claim_run_dir() if self.dist.is_main else None
        if broadcast_int(int(refused is not None), self.dist, self.device):
            raise refused or GankitError(f"rank 0 could not open the run directory {self.run_dir}")
        if self.dist.is_main:
            plugins = list(self.plugins)
            config = {
                **self.config.to_dict(),
                **self.layout(),
                "gankit_version": __version__,
                "run_id": self.run_id,
                "data_source": data_source(self.dataset, self.from_python),
            }
            atomic_write_json(
                self.run_dir / "config.json", {**config, **({"plugins": plugins} if plugins else {})}
            )
        self.console = Progress(self.config.optimization.steps, self.step, enabled=self.progress)
        self._last_log = (self.step, self.elapsed)
        for callback in self.callbacks:
            callback.on_fit_start(self)

    def _claim_run_dir(self) -> GankitError | None:
        """Rank 0: lock the run directory and check that it is this run's; the refusal, if any."""
        try:
            if self.run_lock is None:
                self.run_lock = RunLock(self.run_dir, "training", create=True).acquire()
            if not self.resumed and (found := find_run(self.run_dir)) is not None:
                saved = self.run_dir / "config.json"
                if not (saved.is_file() and read_json(saved).get("run_id") == self.run_id):
                    raise GankitError(
                        f"{self.run_dir} already holds a run ({found}); continue it with "
                        f"`gankit train --resume {self.run_dir}`, or start afresh with --overwrite "
                        "(deletes that run's files) or another --out"
                    )
            remove_stale_tmp(self.run_dir)
        except GankitError as err:
            self.close()
            return err
        return None

    def close(self) -> None:
        """Release the run directory (its lock); `fit` does this when it ends."""
        if self.run_lock is not None:
            self.run_lock.release()
            self.run_lock = None

    def fit(self) -> None:
        """Train to the step budget, writing samples, metrics and checkpoints into the run directory
        (locked against other writers until the run ends)."""
        try:
            self._fit()
        finally:
            self.close()

    def _fit(self) -> None:
        c = self.config
        previous = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(c.run.deterministic, warn_only=self.device.type != "cpu")
        try:
            self.begin()
            no_checkpoint = not (self.run_dir / "checkpoint" / "latest.json").is_file()
            if c.watch.nan_watchdog and broadcast_int(int(no_checkpoint), self.dist, self.device):
                self.save_checkpoint()  # a good state to return to if the very first steps blow up
            with StopOnSignal(enabled=not self.dist.enabled) as stop:
                self.run_steps(c.optimization.steps - self.step, stop)
        finally:
            torch.use_deterministic_algorithms(previous)
            self.console.close()
            for callback in self.callbacks:
                callback.on_close(self)
        for callback in self.callbacks:
            callback.on_end(self)
        barrier(self.dist)

    @torch.no_grad()
    def fixed_samples(self) -> Tensor:
        """The fixed noise batch through G (its EMA when kept) in eval mode, on the CPU, with the
        labels `gankit sample` would give a conditional G (classes in turn, or cluster shares)."""
        labels = balanced_labels(torch.arange(len(self.fixed_noise)), self.generator_info())
        labels = None if labels is None else labels.to(self.device)
        with eval_mode(self.sampler) as sampler:
            return call_with_labels(sampler, self.fixed_noise, labels).cpu()

    # -- state ----------------------------------------------------------------------------------
    def layout(self) -> dict[str, Any]:
        """The process layout saved in config.json: world size, batch per rank and in all, LR factor."""
        return process_layout(self.config, self.dist, self.lr_scale)

    def layout_line(self) -> str:
        """One line describing the process layout and the learning-rate scaling rule."""
        return layout_line(self.config, self.dist, self.lr_scale)

    def generator_info(self) -> GeneratorInfo:
        """What `gankit sample` needs to rebuild and drive the generator."""
        return generator_info(self)

    def state_dict(self) -> dict[str, Any]:
        """Everything a checkpoint holds: weights, optimizer moments, RNG states, step, config."""
        return trainer_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint's state (the inverse of `state_dict`)."""
        restore_trainer_state(self, state)

    def save_checkpoint(self) -> None:
        """Rank 0 writes the checkpoint; every rank waits until it is complete, then `on_checkpoint`.

        Pending deferred NaN/Inf checks are read first, so no checkpoint holds non-finite weights.
        """
        self.finite.verify(self.step)
        if self.dist.is_main:
            save_checkpoint(self.run_dir / "checkpoint", self.step, self.state_dict(), run_id=self.run_id)
        barrier(self.dist)
        for callback in self.callbacks:
            callback.on_checkpoint(self)


def train(config: TrainConfig, progress: bool = True, callbacks: Sequence[Callback] | None = None) -> Trainer:
    """Train a new run as configured; returns the finished Trainer."""
    trainer = Trainer(config, progress=progress, callbacks=callbacks)
    trainer.fit()
    return trainer
