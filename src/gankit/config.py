"""The typed training configuration, saved as `config.json` in every run directory."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gankit.errors import GankitError

if TYPE_CHECKING:
    from gankit.data.base import DataOptions
    from gankit.models import ModelOptions

OPTIMIZERS = ("adam", "sgd")
DEVICES = ("auto", "cpu", "cuda", "mps")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")  # torch.compile modes that capture CUDA graphs
CLUSTER_SPACES = ("discriminator", "pixels", "channels")  # where --self-condition clusters images
CLUSTERED_ONCE = ("pixels", "channels")  # pixels do not change in training: clustered at the start

# Default learning rates per optimizer: Adam 2e-4 (DCGAN), SGD 1e-3 (the Keras document).
DEFAULT_LR = {"adam": 2e-4, "sgd": 1e-3}
DEFAULT_STEPS = 1000

# Fields that may change when a run is resumed: the step budget, where it runs, evaluation,
# when the learning rates start their linear decay (a run can be continued with its rates
# annealed to 0; the schedule already moves with `steps`, which may change), and when a
# self-conditioned run stops reclustering.
RESUMABLE_FIELDS = frozenset(
    {
        "steps",
        "epochs",
        "lr_decay_start",
        "recluster_until",
        "device",
        "out",
        "data_dir",
        "eval_every",
        "eval_metrics",
        "eval_n",
        "alarm_dominance",
        "alarm_collapse",
        "alarm_window",
        "watch_every",
        "nan_watchdog",
        "max_recoveries",
        "tensorboard",
        "dist_timeout",
        "nan_check_every",
        "compile",
        "compile_mode",
        "precision",
    }
)

# Keys a run writes into config.json beside the config's own fields (the process layout).
RUN_KEYS = ("gankit_version", "world_size", "batch_size_per_rank", "global_batch_size", "lr_scale", "plugins")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. `steps` counts generator updates.

    Each step is one iteration of Algorithm 1 of Goodfellow et al. 2014: `k`
    discriminator updates on `batch_size` real and `batch_size` fake samples
    each, then one generator update. Under torchrun `batch_size` is per rank.
    """

    dataset: str = "mnist-5k"
    model: str = "dcgan"
    loss: str = "non-saturating"
    k: int = 1
    batch_size: int = 64
    steps: int | None = None
    epochs: float | None = None
    optimizer: str = "adam"
    lr_g: float | None = None
    lr_d: float | None = None
    beta1: float = 0.5
    beta2: float = 0.999
    momentum: float = 0.9
    nesterov: bool = True
    noise: str = "uniform"
    noise_dim: int = 100
    image_size: int | None = None
    channels: int | None = None
    gaussian_mean: float = 4.0
    gaussian_std: float = 0.5
    stack_source: str = "mnist-5k"
    stack_size: int = 50_000
    seed: int = 0
    device: str = "auto"
    deterministic: bool = True
    out: str = "runs/gankit"
    data_dir: str | None = None
    sample_every: int = 500
    checkpoint_every: int = 500
    log_every: int = 10
    eval_every: int | None = None
    eval_metrics: str | None = None
    eval_n: int | None = None
    alarm_dominance: bool = True
    alarm_collapse: bool = True
    alarm_window: int = 200
    watch_every: int = 50
    nan_watchdog: bool = True
    max_recoveries: int = 3
    tensorboard: bool = True
    sync_bn: bool = False
    lr_scaling: str = "none"
    dist_timeout: float = 600.0
    channels_last: bool = True
    fused_optimizer: bool = True
    spectral_norm: bool = False
    r1: float = 0.0
    r1_interval: int = 16
    gp: float = 0.0
    pack: int = 1
    minibatch_std: bool = False
    minibatch_disc: int = 0
    diffaugment: str | None = None
    ema_half_life: float | None = None
    conditional: bool = False
    self_condition: int = 0
    recluster_every: int = 2000
    recluster_until: float | None = None
    cluster_space: str = "discriminator"
    d_concat: bool = False
    reuse_fakes: bool = False
    compile: bool = False
    compile_mode: str = "default"
    precision: str = "auto"
    nan_check_every: int | None = None
    lr_decay_start: float | None = None
    ema_rampup: float | None = None
    g_width: int | None = None
    d_width: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build a config from a dict (e.g. config.json), refusing unknown keys by name."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise GankitError(f"unknown config field(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """Read a run's `config.json` (which also records the gankit version that wrote it)."""
        from gankit.outputs.files import read_json
        from gankit.registry import import_plugins

        data = read_json(path)
        import_plugins(data.get("plugins", []))  # the modules that registered its model, data, ...
        return cls.from_dict({k: v for k, v in data.items() if k not in RUN_KEYS})

    def data_options(self) -> DataOptions:
        """The dataset settings of this config."""
        from gankit.data.base import DataOptions

        return DataOptions(
            self.image_size,
            self.channels,
            self.data_dir,
            self.gaussian_mean,
            self.gaussian_std,
            self.stack_source,
            self.stack_size,
        )

    def model_options(self, n_classes: int = 0, label_factors: tuple[int, ...] = ()) -> ModelOptions:
        """The model settings of this config, for a G and D conditioned on `n_classes` (0: none),
        seen factor by factor where `label_factors` is given (`--cluster-space channels`)."""
        from gankit.models import ModelOptions

        return ModelOptions(
            n_classes,
            self.pack,
            self.minibatch_std,
            self.spectral_norm,
            self.g_width,
            self.d_width,
            self.minibatch_disc,
            tuple(label_factors),
        )

    def validated(self) -> TrainConfig:
        """Check every field and fill in defaults that depend on others (learning rates)."""
        from gankit.losses import get_loss
        from gankit.noise import NOISE_PRIORS
        from gankit.runtime.distributed import LR_SCALING
        from gankit.runtime.precision import PRECISIONS

        _positive_int("k", self.k)
        _positive_int("batch-size", self.batch_size)
        _positive_int("noise-dim", self.noise_dim)
        for name in (
            "sample_every",
            "checkpoint_every",
            "log_every",
            "stack_size",
            "alarm_window",
            "watch_every",
            "r1_interval",
            "pack",
        ):
            _positive_int(name.replace("_", "-"), getattr(self, name))
        if self.steps is not None:
            _positive_int("steps", self.steps)
        if self.epochs is not None and not self.epochs > 0:
            raise GankitError(f"--epochs must be > 0, got {self.epochs}")
        if self.steps is not None and self.epochs is not None:
            raise GankitError("give --steps or --epochs, not both")
        if self.image_size is not None:
            _positive_int("image-size", self.image_size)
        if not isinstance(self.max_recoveries, int) or self.max_recoveries < 0:
            raise GankitError(f"--max-recoveries must be an integer >= 0, got {self.max_recoveries!r}")
        for name in ("eval_every", "eval_n", "nan_check_every", "g_width", "d_width"):
            if getattr(self, name) is not None:
                _positive_int(name.replace("_", "-"), getattr(self, name))
        if self.channels not in (None, 1, 3):
            raise GankitError(f"--channels must be 1 or 3, got {self.channels}")
        get_loss(self.loss)  # a registered loss, or one that package.module:name names
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("noise", self.noise, NOISE_PRIORS)
        _choice("device", self.device, DEVICES)
        _choice("lr-scaling", self.lr_scaling, LR_SCALING)
        _choice("compile-mode", self.compile_mode, COMPILE_MODES)
        _choice("precision", self.precision, PRECISIONS)
        if self.compile_mode != "default" and not self.compile:
            raise GankitError(f"--compile-mode {self.compile_mode} needs --compile")
        if not self.dist_timeout > 0:
            raise GankitError(f"--dist-timeout must be > 0 seconds, got {self.dist_timeout}")
        for name in ("r1", "gp"):
            if not getattr(self, name) >= 0:
                raise GankitError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if self.lr_decay_start is not None and not 0.0 <= self.lr_decay_start < 1.0:
            raise GankitError(f"--lr-decay-start must be a fraction in [0, 1), got {self.lr_decay_start}")
        if self.ema_half_life is not None and not self.ema_half_life > 0:
            raise GankitError(f"--ema-half-life must be > 0 images, got {self.ema_half_life}")
        if self.ema_rampup is not None:
            if not self.ema_rampup > 0:
                raise GankitError(f"--ema-rampup must be > 0, got {self.ema_rampup}")
            if self.ema_half_life is None:
                raise GankitError("--ema-rampup needs --ema-half-life")
        if self.batch_size % self.pack:
            raise GankitError(f"--pack {self.pack} must divide --batch-size {self.batch_size}")
        if not isinstance(self.minibatch_disc, int) or self.minibatch_disc < 0:
            raise GankitError(
                f"--minibatch-disc must be an integer >= 0 (kernels), got {self.minibatch_disc!r}"
            )
        if self.d_concat and (self.minibatch_std or self.minibatch_disc):
            raise GankitError(
                "--d-concat cannot be combined with --minibatch-std or --minibatch-disc "
                "(D's minibatch features would mix real and fake samples)"
            )
        if self.conditional and self.pack > 1:
            raise GankitError("--conditional and --pack cannot be combined (a pack has no single label)")
        if self.self_condition:
            if self.self_condition < 2:
                raise GankitError(f"--self-condition needs at least 2 clusters, got {self.self_condition}")
            if self.conditional:
                raise GankitError(
                    "--self-condition and --conditional cannot be combined (labels come from one)"
                )
            if self.pack > 1:
                raise GankitError(
                    "--self-condition and --pack cannot be combined (a pack has no single label)"
                )
        if self.recluster_every < 1:
            raise GankitError(f"--recluster-every must be >= 1 step, got {self.recluster_every}")
        _choice("cluster space", self.cluster_space, CLUSTER_SPACES)
        if self.cluster_space != "discriminator" and not self.self_condition:
            raise GankitError(f"--cluster-space {self.cluster_space} needs --self-condition")
        if self.recluster_until is not None:
            if not self.self_condition:
                raise GankitError("--recluster-until needs --self-condition")
            if not 0.0 < self.recluster_until <= 1.0:
                raise GankitError(
                    f"--recluster-until must be a fraction in (0, 1], got {self.recluster_until}"
                )
            if self.cluster_space in CLUSTERED_ONCE:
                raise GankitError(
                    f"--recluster-until does not apply to --cluster-space {self.cluster_space} "
                    "(the pixels are clustered once, at the start)"
                )
        if self.diffaugment is not None:
            from gankit.augment import parse_policy

            try:
                parse_policy(self.diffaugment)
            except ValueError as exc:
                raise GankitError(f"--diffaugment: {exc}") from None
        if self.gaussian_std <= 0:
            raise GankitError(f"--gaussian-std must be > 0, got {self.gaussian_std}")
        lr_g = DEFAULT_LR[self.optimizer] if self.lr_g is None else self.lr_g
        lr_d = DEFAULT_LR[self.optimizer] if self.lr_d is None else self.lr_d
        for name, value in (("lr-g", lr_g), ("lr-d", lr_d)):
            if not value > 0:
                raise GankitError(f"--{name} must be > 0, got {value}")
        return dataclasses.replace(self, lr_g=lr_g, lr_d=lr_d)


def config_differences(saved: TrainConfig, requested: TrainConfig) -> list[str]:
    """Names of the fields that differ and may not change on resume."""
    return [
        f.name
        for f in fields(TrainConfig)
        if f.name not in RESUMABLE_FIELDS and getattr(saved, f.name) != getattr(requested, f.name)
    ]


def _positive_int(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise GankitError(f"--{name} must be an integer >= 1, got {value!r}")


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise GankitError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")
