"""What a checkpoint holds of a run, and how a run is restored from one (`Trainer.state_dict`)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from gankit import __version__
from gankit.config import TrainConfig
from gankit.errors import GankitError
from gankit.outputs.checkpoint import rng_state, set_rng_state
from gankit.registry import plugin_modules
from gankit.sampling.generator import GeneratorInfo
from gankit.training.optim import match_param_layout

if TYPE_CHECKING:
    from gankit.training.trainer import Trainer

__all__ = ["generator_info", "restore_trainer_state", "run_plugins", "trainer_state"]


def generator_info(trainer: Trainer) -> GeneratorInfo:
    """What `gankit sample` needs to rebuild and drive the generator."""
    c = trainer.config
    return GeneratorInfo(
        c.architecture.model,
        tuple(trainer.dataset.shape),
        c.architecture.noise,
        c.architecture.noise_dim,
        trainer.output,
        trainer.dataset.kind,
        c.data.dataset,
        trainer.step,
        n_classes=trainer.n_classes,
        ema=trainer.ema is not None,
        class_prior=trainer.labels.class_prior(),
        g_width=c.architecture.g_width,
        label_factors=trainer.labels.label_factors or None,
        plugins=trainer.plugins,
    )


def trainer_state(trainer: Trainer) -> dict[str, Any]:
    """Everything a checkpoint holds: weights, optimizer moments, RNG states, step, config."""
    labels = trainer.labels.state_dict()
    return {
        "gankit_version": __version__,
        "run_id": trainer.run_id,
        "config": trainer.config.to_dict(),
        "generator_info": dataclasses.asdict(generator_info(trainer)),
        "step": trainer.step,
        "elapsed": trainer.elapsed,
        "lr_factor": trainer.lr_factor,
        "generator": trainer.generator.state_dict(),
        "discriminator": trainer.discriminator.state_dict(),
        "optimizer_g": trainer.opt_g.state_dict(),
        "optimizer_d": trainer.opt_d.state_dict(),
        "rng": {
            "global": rng_state(trainer.device),
            **trainer.inputs.state_dict(),
            "augment": trainer.gan_step.augment_rng.get_state(),
        },
        **({"generator_ema": trainer.ema.state_dict()} if trainer.ema is not None else {}),
        **({"clusters": labels} if labels is not None else {}),
    }


def restore_trainer_state(trainer: Trainer, state: dict[str, Any]) -> None:
    """Restore a checkpoint's state (the inverse of `state_dict`); the trainer continues that run."""
    step = state.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise GankitError(f"checkpoint is damaged: step {step!r} is not a count of steps")
    try:
        _restore(trainer, state)
    except KeyError as exc:
        raise GankitError(f"checkpoint is damaged: it has no {exc}") from None
    except (RuntimeError, ValueError, TypeError) as exc:  # weights of another model or shape
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GankitError(
            f"checkpoint does not fit this run's {trainer.config.architecture.model}: {detail}"
        ) from None
    if isinstance(state.get("run_id"), str):  # checkpoints before gankit 0.3 carry none
        trainer.run_id = state["run_id"]
    trainer.resumed = True


def _restore(trainer: Trainer, state: dict[str, Any]) -> None:
    trainer.generator.load_state_dict(state["generator"])
    trainer.discriminator.load_state_dict(state["discriminator"])
    trainer.opt_g.load_state_dict(state["optimizer_g"])
    trainer.opt_d.load_state_dict(state["optimizer_d"])
    for opt in (trainer.opt_g, trainer.opt_d):
        match_param_layout(opt)
    set_rng_state(state["rng"]["global"], trainer.device)
    trainer.inputs.load_state_dict(state["rng"])
    if "augment" in state["rng"]:  # checkpoints of gankit 0.x before DiffAugment have none
        trainer.gan_step.augment_rng.set_state(state["rng"]["augment"])
    if trainer.ema is not None:
        trainer.ema.load_state_dict(state.get("generator_ema", state["generator"]))
    trainer.step, trainer.elapsed = int(state["step"]), float(state["elapsed"])
    trainer.lr_factor = float(state.get("lr_factor", 1.0))
    trainer.labels.load_state_dict(state.get("clusters"))


def run_plugins(config: TrainConfig, metrics: list[str]) -> tuple[str, ...]:
    """The modules that registered the run's model, dataset, loss or `metrics` (saved with the run)."""
    found = plugin_modules(
        model=config.architecture.model,
        dataset=config.data.dataset,
        loss=config.objective.loss,
        metric=metrics,
    )
    return tuple(found)
