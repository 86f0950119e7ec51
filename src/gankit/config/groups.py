"""The groups of a training config, each a frozen dataclass that validates itself.

Each option's `--help` text and whether `--resume` may change it are in its field's metadata
(`gankit.config.options.option`). Checks that span groups are in `TrainConfig.validated`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from gankit.augment import parse_policy
from gankit.config.options import choice, option, positive_ints, seed_in_range, size_limit
from gankit.errors import GankitError
from gankit.losses import get_loss
from gankit.noise import NOISE_PRIORS
from gankit.runtime.distributed import LR_SCALING
from gankit.runtime.precision import PRECISIONS

OPTIMIZERS = ("adam", "sgd")
LOADERS = ("auto", "memory", "stream")
DEVICES = ("auto", "cpu", "cuda", "mps")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")  # torch.compile modes that capture CUDA graphs
# Default learning rates per optimizer: Adam 2e-4 (DCGAN), SGD 1e-3 (the Keras document).
DEFAULT_LR = {"adam": 2e-4, "sgd": 1e-3}
# The largest --seed: the run derives seeds up to seed + 5, and torch takes seeds below 2**64.


@dataclass(frozen=True)
class DataConfig:
    """The data: which set, at what size, and where its files are."""

    dataset: str = option(
        "mnist-5k",
        "mnist-5k, mnist, fashion-mnist, digits, stacked-mnist, gaussian-1d, ring8, grid25 or folder:PATH",
    )
    image_size: int | None = option(
        None,
        "resize images to this size (default: the dataset's own; 64 for folder:); dcgan and resnet "
        "take every power of two from 32 to 256 (dcgan also 28)",
    )
    channels: int | None = option(None, "convert images to 1 (gray) or 3 (RGB) channels")
    data_dir: str | None = option(
        None, "where to look for (and download) IDX files; also $GANKIT_DATA", resumable=True
    )
    gaussian_mean: float = option(4.0, "mean of the gaussian-1d data density")
    gaussian_std: float = option(0.5, "standard deviation of the gaussian-1d data density")
    stack_source: str = option(
        "mnist-5k", "stacked-mnist: the one-channel labelled set whose digits are stacked"
    )
    stack_size: int = option(50_000, "stacked-mnist: images in the train split")
    sequential_batches: bool = option(
        False,
        "real batches are consecutive slices of the training split in its own order, the same "
        "every epoch, as the Keras article's loop takes them (default: reshuffled every epoch)",
    )
    xflip: bool = option(False, "mirror a random half of the real images left-right, drawn afresh each epoch")
    loader: str = option(
        "auto",
        "folder: sets: memory (decode every image at the start), stream (read on the fly by worker "
        "processes), auto (stream where the float32 training split passes 2 GiB); both give the same batches",
        resumable=True,
    )
    workers: int | None = option(
        None,
        "worker processes that read a streamed set (default: none when training on the CPU; "
        "on a GPU 2, fewer on a 2-core machine)",
        resumable=True,
    )

    def validate(self) -> None:
        positive_ints(self, "stack_size")
        positive_ints(self, "image_size", optional=True)
        choice("--loader", self.loader, LOADERS)
        if self.workers is not None and not 0 <= self.workers <= 64:
            raise GankitError(f"--workers must be an integer in 0..64, got {self.workers}")
        if self.channels not in (None, 1, 3):
            raise GankitError(f"--channels must be 1 or 3, got {self.channels}")
        if not (math.isfinite(self.gaussian_std) and self.gaussian_std > 0):
            raise GankitError(f"--gaussian-std must be a finite number > 0, got {self.gaussian_std}")
        if not math.isfinite(self.gaussian_mean):
            raise GankitError(f"--gaussian-mean must be finite, got {self.gaussian_mean}")


@dataclass(frozen=True)
class ArchitectureConfig:
    """G and D: the model pair, the noise prior, and what changes every model may take."""

    model: str = option(
        "dcgan", "model name: dcgan, mlp, keras-mnist, resnet, toy-mlp, toy-mlp-deep, toy-pacgan"
    )
    noise: str = option("uniform", "noise prior p_z: uniform on [-1,1] or normal")
    noise_dim: int = option(100, "noise dimension")
    g_width: int | None = option(
        None, "G's base channel count (dcgan: ngf; resnet: channels per block; default: 64)"
    )
    d_width: int | None = option(
        None, "D's base channel count (dcgan: ndf; resnet: channels per block; default: 64)"
    )
    spectral_norm: bool = option(False, "spectral normalization on every weight of D (Miyato et al. 2018)")
    pack: int = option(1, "PacGAN: D judges m samples at once (Lin et al. 2018); 1 is off")
    minibatch_std: bool = option(
        False, "minibatch standard deviation feature before D's last layer (Karras et al. 2018)"
    )
    minibatch_disc: int = option(
        0,
        "minibatch discrimination before D's last layer with this many kernels (Salimans et "
        "al. 2016); 0 is off",
    )
    conditional: bool = option(
        False, "class-conditional G (one-hot labels) and projection D (Miyato & Koyama 2018)"
    )

    def validate(self) -> None:
        positive_ints(self, "noise_dim", "pack")
        positive_ints(self, "g_width", "d_width", optional=True)
        choice("noise", self.noise, NOISE_PRIORS)
        if not isinstance(self.minibatch_disc, int) or self.minibatch_disc < 0:
            raise GankitError(
                f"--minibatch-disc must be an integer >= 0 (kernels), got {self.minibatch_disc!r}"
            )
        size_limit("minibatch_disc", self.minibatch_disc)
        if self.conditional and self.pack > 1:
            raise GankitError("--conditional and --pack cannot be combined (a pack has no single label)")


@dataclass(frozen=True)
class ObjectiveConfig:
    """What D and G minimize: the loss and D's regularizers and augmentation."""

    loss: str = option(
        "non-saturating", "loss: non-saturating, minimax, hinge, wasserstein, least-squares, rsgan or ragan"
    )
    r1: float = option(0.0, "R1 penalty weight gamma on real data (Mescheder et al. 2018); 0 is off")
    r1_interval: int = option(
        16, "apply R1 every N discriminator steps, scaled by N (lazy regularization, StyleGAN2)"
    )
    gp: float = option(0.0, "gradient penalty weight lambda at real/fake interpolates (WGAN-GP); 0 is off")
    diffaugment: str | None = option(
        None, "DiffAugment policy for real and fake images, e.g. color,translation,cutout"
    )

    def validate(self) -> None:
        get_loss(self.loss)  # a registered loss, or one that package.module:name names
        positive_ints(self, "r1_interval")
        for name in ("r1", "gp"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise GankitError(f"--{name} must be a finite number >= 0, got {getattr(self, name)}")
        if self.diffaugment is not None:
            try:
                parse_policy(self.diffaugment)
            except ValueError as exc:
                raise GankitError(f"--diffaugment: {exc}") from None


@dataclass(frozen=True)
class OptimizationConfig:
    """How the game is played: Algorithm 1's k and m, the budget, the optimizers, EMA."""

    k: int = option(1, "discriminator steps per generator step")
    batch_size: int = option(64, "m: real and fake samples per discriminator step")
    steps: int | None = option(
        None, "training iterations (generator updates); default 1000 unless --epochs", resumable=True
    )
    epochs: float | None = option(
        None, "passes of D over the training split, instead of --steps", resumable=True
    )
    optimizer: str = option("adam", "adam or sgd")
    lr_g: float | None = option(None, "generator learning rate (default: 2e-4 for adam, 1e-3 for sgd)")
    lr_d: float | None = option(None, "discriminator learning rate (default: 2e-4 for adam, 1e-3 for sgd)")
    beta1: float = option(0.5, "Adam beta1")
    beta2: float = option(0.999, "Adam beta2")
    momentum: float = option(0.9, "SGD momentum")
    nesterov: bool = option(True, "SGD Nesterov momentum")
    lr_decay_start: float | None = option(
        None,
        "after this fraction of the steps, both learning rates fall linearly to 0 at the end",
        resumable=True,
    )
    ema_half_life: float | None = option(
        None, "keep an EMA of G's weights with this half-life in images; sample/eval use it"
    )
    ema_rampup: float | None = option(
        None, "EMA half-life at most this fraction of the images seen so far (StyleGAN2-ADA's ramp-up)"
    )
    reuse_fakes: bool = option(
        False,
        "G's step reuses the last D step's fakes instead of fresh noise, as pytorch/examples "
        "does (one G forward fewer; changes Algorithm 1)",
    )
    d_concat: bool = option(
        False,
        "D sees real and fake as one batch (one pass; changes BatchNorm statistics, as in "
        "Keras; with a BatchNorm D, e.g. dcgan, G may not learn: see docs/performance.md)",
    )
    momentum_final: float | None = option(
        None,
        "SGD momentum rises linearly from --momentum to this over --momentum-ramp-epochs (the 2014 "
        "paper's code: 0.5 to 0.7 over 250 epochs)",
    )
    momentum_ramp_epochs: float = option(250.0, "epochs over which --momentum-final is reached")
    lr_decay_factor: float | None = option(
        None,
        "every update divides both learning rates by this factor, down to --lr-min (the 2014 "
        "paper's code: 1.000004)",
        resumable=True,
    )
    lr_min: float = option(0.0, "floor of the learning rates under --lr-decay-factor", resumable=True)
    d_loss_mean: bool = option(
        False,
        "D's loss is the mean over its 2m real and fake samples, as Keras's train_on_batch on the "
        "concatenated batch computes it: half the sum of the two batch means (default: the sum, "
        "-V(D, G))",
    )
    d_fakes_eval: bool = option(
        False,
        "G makes D's fakes in inference mode (BatchNorm's running statistics), as Keras's "
        "g.predict does (default: training mode, the batch's statistics)",
    )

    def _check_schedules(self) -> None:
        """The exponential learning-rate decay and the momentum ramp of the 2014 paper's code."""
        if self.momentum_final is not None:
            if not 0.0 <= self.momentum_final < 1.0:
                raise GankitError(f"--momentum-final must be in [0, 1), got {self.momentum_final}")
            if self.optimizer != "sgd":
                raise GankitError("--momentum-final ramps SGD's momentum: it needs --optimizer sgd")
        if not (math.isfinite(self.momentum_ramp_epochs) and self.momentum_ramp_epochs > 0):
            ramp = self.momentum_ramp_epochs
            raise GankitError(f"--momentum-ramp-epochs must be a finite number > 0, got {ramp}")
        factor = self.lr_decay_factor
        if factor is not None and not (math.isfinite(factor) and factor >= 1.0):
            raise GankitError(f"--lr-decay-factor must be a finite number >= 1, got {factor}")
        if not (math.isfinite(self.lr_min) and self.lr_min >= 0):
            raise GankitError(f"--lr-min must be a finite number >= 0, got {self.lr_min}")

    def validate(self) -> None:
        self._check_schedules()
        if self.d_fakes_eval and self.reuse_fakes:
            raise GankitError(
                "--d-fakes-eval and --reuse-fakes cannot be combined (G's step needs the fakes' graph)"
            )
        positive_ints(self, "k", "batch_size")
        positive_ints(self, "steps", optional=True)
        if self.epochs is not None and not (math.isfinite(self.epochs) and self.epochs > 0):
            raise GankitError(f"--epochs must be a finite number > 0, got {self.epochs}")
        for name in ("beta1", "beta2", "momentum"):  # decay rates of moving averages
            if not 0.0 <= getattr(self, name) < 1.0:
                raise GankitError(f"--{name} must be in [0, 1), got {getattr(self, name)}")
        if self.steps is not None and self.epochs is not None:
            raise GankitError("give --steps or --epochs, not both")
        choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.lr_decay_start is not None and not 0.0 <= self.lr_decay_start < 1.0:
            raise GankitError(f"--lr-decay-start must be a fraction in [0, 1), got {self.lr_decay_start}")
        if self.ema_half_life is not None and not (
            math.isfinite(self.ema_half_life) and self.ema_half_life > 0
        ):
            raise GankitError(f"--ema-half-life must be a finite number > 0 images, got {self.ema_half_life}")
        if self.ema_rampup is not None:
            if not self.ema_rampup > 0:
                raise GankitError(f"--ema-rampup must be > 0, got {self.ema_rampup}")
            if self.ema_half_life is None:
                raise GankitError("--ema-rampup needs --ema-half-life")
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise GankitError(f"--{name.replace('_', '-')} must be a finite number > 0, got {value}")

    def with_default_lr(self) -> OptimizationConfig:
        """The learning rates filled in from the optimizer's default where not given."""
        default = DEFAULT_LR[self.optimizer]
        return dataclasses.replace(
            self,
            lr_g=default if self.lr_g is None else self.lr_g,
            lr_d=default if self.lr_d is None else self.lr_d,
        )


@dataclass(frozen=True)
class RunConfig:
    """Where and how the run executes, and what it writes how often."""

    seed: int = option(0, "random seed")
    device: str = option("auto", "auto (cuda, then mps, then cpu), cpu, cuda or mps", resumable=True)
    deterministic: bool = option(True, "use deterministic algorithms (exact resume on CPU)")
    out: str = option("runs/gankit", "run directory", resumable=True)
    sample_every: int = option(500, "write a sample grid every N steps")
    checkpoint_every: int = option(500, "write a checkpoint every N steps")
    log_every: int = option(10, "append to metrics.jsonl every N steps")
    tensorboard: bool = option(
        True, "log to RUN_DIR/tensorboard when the tensorboard package is installed", resumable=True
    )
    channels_last: bool = option(
        True,
        "fast path: image models and batches in channels-last memory layout (same math; not under --compile)",
    )
    fused_optimizer: bool = option(True, "fast path: Adam's fused kernel (same math up to float rounding)")
    compile: bool = option(
        False,
        "torch.compile G's and D's forward passes (same math; compile time at the first steps)",
        resumable=True,
    )
    compile_mode: str = option(
        "default", "torch.compile mode; reduce-overhead adds CUDA graphs (CUDA only)", resumable=True
    )
    precision: str = option(
        "auto",
        "auto (bf16 on CUDA, fp32 elsewhere), fp32, tf32 (CUDA), bf16, or bf16-native (bf16 on "
        "CUDA and on a CPU with bf16 instructions, fp32 elsewhere): autocast of G's and D's "
        "forward passes; weights, optimizer state and losses stay fp32. On a CPU with bf16 "
        "instructions (avx512_bf16, amx_bf16) bf16 is opt-in and faster: see docs/performance.md",
        resumable=True,
    )

    def validate(self) -> None:
        positive_ints(self, "sample_every", "checkpoint_every", "log_every")
        seed_in_range("seed", self.seed)
        choice("device", self.device, DEVICES)
        choice("compile-mode", self.compile_mode, COMPILE_MODES)
        choice("precision", self.precision, PRECISIONS)
        if self.compile_mode != "default" and not self.compile:
            raise GankitError(f"--compile-mode {self.compile_mode} needs --compile")


@dataclass(frozen=True)
class EvaluationConfig:
    """Evaluation while training (`--eval-every`)."""

    eval_every: int | None = option(
        None, "evaluate the generator every N steps into metrics.jsonl (eval.json at the end)", resumable=True
    )
    eval_metrics: str | None = option(
        None, "comma-separated metrics for --eval-every (default: all that apply)", resumable=True
    )
    eval_n: int | None = option(
        None, "generated samples per metric during training (default: each metric's own)", resumable=True
    )
    inception_weights: str | None = option(
        None,
        "the Inception-v3 weights file for the inception metric (default: $GANKIT_INCEPTION_WEIGHTS, "
        "then torch's hub cache)",
        resumable=True,
    )

    def validate(self) -> None:
        positive_ints(self, "eval_every", "eval_n", optional=True)


@dataclass(frozen=True)
class WatchConfig:
    """The alarms and the NaN/Inf watchdog."""

    alarm_dominance: bool = option(True, "alarm when D dominates and G's gradient collapses", resumable=True)
    alarm_collapse: bool = option(
        True, "alarm when samples of the fixed noise batch lose diversity (mode collapse)", resumable=True
    )
    alarm_window: int = option(
        200,
        "steps a dominance pattern must last, and steps before the collapse alarm may start",
        resumable=True,
    )
    watch_every: int = option(
        50, "steps between sample-diversity checks for the collapse alarm (at a logged step)", resumable=True
    )
    nan_watchdog: bool = option(
        True,
        "on a NaN/Inf loss or gradient: restore the last checkpoint and halve the learning rates",
        resumable=True,
    )
    max_recoveries: int = option(3, "NaN/Inf recoveries before training stops with an error", resumable=True)
    nan_check_every: int | None = option(
        None,
        "NaN/Inf watchdog: check every N steps, one host sync each (default: 1 on CPU, --log-every on CUDA)",
        resumable=True,
    )

    def validate(self) -> None:
        positive_ints(self, "alarm_window", "watch_every")
        positive_ints(self, "nan_check_every", optional=True)
        if not isinstance(self.max_recoveries, int) or self.max_recoveries < 0:
            raise GankitError(f"--max-recoveries must be an integer >= 0, got {self.max_recoveries!r}")


@dataclass(frozen=True)
class DistributedConfig:
    """Several processes under torchrun."""

    sync_bn: bool = option(
        False, "under torchrun: BatchNorm statistics over all ranks (SyncBatchNorm, CUDA only)"
    )
    lr_scaling: str = option(
        "none", "under torchrun: scale learning rates by world size: none, linear or sqrt"
    )
    dist_timeout: float = option(
        600.0,
        "under torchrun: seconds a collective may wait (e.g. on a dead rank) before failing",
        resumable=True,
    )

    def validate(self) -> None:
        choice("lr-scaling", self.lr_scaling, LR_SCALING)
        if not (math.isfinite(self.dist_timeout) and self.dist_timeout > 0):
            raise GankitError(f"--dist-timeout must be a finite number > 0 seconds, got {self.dist_timeout}")
