"""What a run is built from: the device, the step budget, the batch source, and the update step.

Each function turns part of a `TrainConfig` into the objects the `Trainer` holds; the checks
that need the dataset or the device (not the config alone) are made here, with one-line errors.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from gankit.augment import parse_policy
from gankit.config import CUDA_GRAPH_MODES, TrainConfig
from gankit.data import Dataset, ImageData
from gankit.data.batches import SyntheticBatches, TensorBatches
from gankit.data.folder import default_workers
from gankit.data.stream import StreamBatches
from gankit.ema import GeneratorEMA, ema_decay
from gankit.errors import GankitError
from gankit.experiments.self_condition import SelfConditionLabels
from gankit.losses import get_loss
from gankit.metrics import parse_names, prepare_metrics, select_metrics
from gankit.monitor.alarms import FiniteChecks
from gankit.noise import sample_noise
from gankit.runtime.distributed import DistContext, lr_scale
from gankit.training.labels import ClassLabels, LabelSource, NoLabels
from gankit.training.modules import build_step_modules
from gankit.training.optim import make_optimizer
from gankit.training.step import GANStep, StepOptions

__all__ = [
    "build_gan_step",
    "data_line",
    "data_source",
    "eval_metric_names",
    "fixed_noise",
    "layout_line",
    "make_batches",
    "make_label_source",
    "process_layout",
    "resolve_device",
    "resolve_steps",
    "uses_channels_last",
]


def resolve_device(name: str) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; an unavailable explicit device is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise GankitError(f"--device {name!r} is not a device: cpu, cuda, cuda:N, mps or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GankitError(f"--device {name} requested but CUDA is not available")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise GankitError(f"--device {name}: there are only {torch.cuda.device_count()} CUDA devices")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise GankitError(f"--device {name} requested but MPS is not available")
    if device.type not in ("cpu", "cuda", "mps"):
        raise GankitError(f"--device {name!r}: gankit runs on cpu, cuda or mps")
    return device


def resolve_steps(config: TrainConfig, dataset: Dataset) -> TrainConfig:
    """Fill in `steps`: given, derived from `epochs` (passes of D over the training split), or default."""
    if config.optimization.momentum_final is not None and not isinstance(dataset, ImageData):
        raise GankitError(f"--momentum-final ramps over epochs; {dataset.name} is sampled on the fly")
    if config.optimization.epochs is None:
        return config.replace(steps=config.optimization.steps or 1000)
    if not isinstance(dataset, ImageData):
        raise GankitError(
            f"--epochs needs a dataset of fixed size; {dataset.name} is sampled on the fly, use --steps"
        )
    per_epoch = dataset.count("train") // config.optimization.batch_size
    o = config.optimization
    return config.replace(steps=max(1, round(o.epochs * per_epoch / o.k)))


def uses_channels_last(config: TrainConfig, dataset: Dataset) -> bool:
    """`--channels-last` applies to image data (4-D batches); other data has no channels."""
    image = dataset.kind == "image" and len(dataset.shape) == 3
    # under --compile inductor picks convolution layouts itself, and torch 2.11's inductor
    # mis-strides the weight gradient of a channels-last ConvTranspose2d (dcgan's G)
    return config.run.channels_last and image and not config.run.compile


def augment_policy(config: TrainConfig, dataset: Dataset) -> tuple[str, ...]:
    """The DiffAugment policy of `--diffaugment`, which needs image data."""
    if config.objective.diffaugment is None:
        return ()
    if dataset.kind != "image":
        raise GankitError(f"--diffaugment needs image data; {config.data.dataset} is {dataset.kind} data")
    return parse_policy(config.objective.diffaugment)


def make_batches(
    config: TrainConfig,
    dataset: Dataset,
    output: str,
    labels: LabelSource,
    device: torch.device,
    dist: DistContext,
) -> TensorBatches | StreamBatches | SyntheticBatches:
    """The run's batch source: the training split on `device`, the images of a streamed set read
    on the fly, or fresh synthetic draws."""
    seed = config.run.seed + 3
    d = config.data
    if isinstance(dataset, ImageData) and dataset.stream is not None:
        try:
            return StreamBatches(
                dataset.stream,
                config.optimization.batch_size,
                seed,
                output,
                device,
                dist,
                labels.batch_labels(torch.device("cpu")),
                shuffle=not d.sequential_batches,
                xflip=d.xflip,
                workers=default_workers(device) if d.workers is None else d.workers,
                channels_last=uses_channels_last(config, dataset),
            )
        except ValueError as exc:
            raise GankitError(f"--batch-size {config.optimization.batch_size}: {exc}") from None
    if d.xflip and not isinstance(dataset, ImageData):
        raise GankitError(f"--xflip needs image data; {d.dataset} is {dataset.kind} data")
    if isinstance(dataset, ImageData):
        data = dataset.tensor("train", output).to(device)
        if uses_channels_last(config, dataset):
            data = data.contiguous(memory_format=torch.channels_last)
        try:
            return TensorBatches(
                data,
                config.optimization.batch_size,
                seed,
                dist,
                labels.batch_labels(device),
                shuffle=not d.sequential_batches,
                xflip=d.xflip,
            )
        except ValueError as exc:
            raise GankitError(f"--batch-size {config.optimization.batch_size}: {exc}") from None
    return SyntheticBatches(dataset, config.optimization.batch_size, seed, device, dist)


def data_source(dataset: Dataset, from_python: bool) -> dict[str, Any]:
    """What config.json records of the data: its kind (builtin, folder, prepared or python), name,
    size and SHA-256, so that `--resume` can refuse data that is not what the run began on."""
    if isinstance(dataset, ImageData):
        if from_python:
            digest = hashlib.sha256(dataset.images("train").contiguous().numpy().tobytes()).hexdigest()
            return {"kind": "python", "name": dataset.name, "images": dataset.count(), "sha256": digest}
        if dataset.fingerprint is not None:
            kind = "prepared" if dataset.home else "folder"
            found = {"kind": kind, "name": dataset.name, "images": dataset.count()}
            return {**found, "sha256": dataset.fingerprint}
    return {"kind": "python" if from_python else "builtin", "name": dataset.name}


def data_line(dataset: Dataset, batches: object) -> str | None:
    """The start-up line of a user's image set: what was found, and whether it is held or streamed."""
    if not isinstance(dataset, ImageData) or not dataset.name.startswith("folder:"):
        return None
    c, h, w = dataset.shape
    classes = f", {len(dataset.classes)} classes from sub-folders" if dataset.classes else ""
    kind = " (a prepared dataset)" if dataset.home else ""
    how = batches.describe() if isinstance(batches, StreamBatches) else "held in memory"
    return f"data: {dataset.name}{kind}: {dataset.count()} images of {h}x{w}x{c}{classes}; {how}"


def build_gan_step(
    config: TrainConfig,
    dataset: Dataset,
    labels: LabelSource,
    device: torch.device,
    dist: DistContext,
    precision: str,
    finite: FiniteChecks,
) -> GANStep:
    """G and D (initialised from torch's global RNG, seeded with `config.run.seed`), what the updates
    run through, their optimizers, the EMA of G when kept, and the step that updates them."""
    torch.manual_seed(config.run.seed)  # model initialisation and dropout draw from the global RNG
    channels_last = uses_channels_last(config, dataset)
    modules = build_step_modules(
        config, dataset.shape, labels.n_classes, device, dist, channels_last, labels.label_factors
    )
    scale = lr_scale(config.distributed.lr_scaling, dist.world_size)
    assert (
        config.optimization.lr_g is not None and config.optimization.lr_d is not None
    )  # filled in by validated()
    opt_g = make_optimizer(modules.generator.parameters(), config, config.optimization.lr_g * scale)
    opt_d = make_optimizer(modules.discriminator.parameters(), config, config.optimization.lr_d * scale)
    images_per_step = config.optimization.batch_size * dist.world_size
    ema = None
    if config.optimization.ema_half_life is not None:
        ema = GeneratorEMA(modules.generator, ema_decay(config.optimization.ema_half_life, images_per_step))
    options = StepOptions(
        r1=config.objective.r1,
        r1_interval=config.objective.r1_interval,
        gp=config.objective.gp,
        reuse_fakes=config.optimization.reuse_fakes,
        augment=augment_policy(config, dataset),
        ema_half_life=config.optimization.ema_half_life,
        ema_rampup=config.optimization.ema_rampup,
        images_per_step=images_per_step,
        d_loss_mean=config.optimization.d_loss_mean,
        d_fakes_eval=config.optimization.d_fakes_eval,
    )
    cuda_graphs = config.run.compile and config.run.compile_mode in CUDA_GRAPH_MODES and device.type == "cuda"
    return GANStep(
        modules,
        opt_g,
        opt_d,
        get_loss(config.objective.loss),
        options,
        ema=ema,
        finite=finite if config.watch.nan_watchdog else None,
        augment_rng=torch.Generator(device).manual_seed(config.run.seed + 4),  # DiffAugment and GP
        precision=precision,
        device=device,
        cuda_graphs=cuda_graphs,
    )


def process_layout(config: TrainConfig, dist: DistContext, lr_scale: float) -> dict[str, Any]:
    """The process layout saved in config.json: world size, batch per rank and in all, LR factor."""
    return {
        "world_size": dist.world_size,
        "batch_size_per_rank": config.optimization.batch_size,
        "global_batch_size": config.optimization.batch_size * dist.world_size,
        "lr_scale": lr_scale,
    }


def layout_line(config: TrainConfig, dist: DistContext, lr_scale: float) -> str:
    """One line describing the process layout and the learning-rate scaling rule."""
    o, layout, scale = config.optimization, process_layout(config, dist, lr_scale), lr_scale
    assert o.lr_g is not None and o.lr_d is not None
    return (
        f"distributed: {dist.world_size} ranks ({dist.backend}), batch {o.batch_size} per rank "
        f"= global batch {layout['global_batch_size']}; learning rates x{scale:g} "
        f"(--lr-scaling {config.distributed.lr_scaling}): lr_g {o.lr_g * scale:g}, "
        f"lr_d {o.lr_d * scale:g}"
    )


def eval_metric_names(config: TrainConfig, dataset: Dataset, dist: DistContext) -> list[str]:
    """The metrics `--eval-every` runs, checked against the dataset before training starts."""
    c = config
    if c.evaluation.eval_every is None:
        if c.evaluation.eval_metrics:  # checked all the same: a typo is an error, not silently unused
            select_metrics(parse_names(c.evaluation.eval_metrics), dataset, c.data.dataset)
        return []
    names = select_metrics(parse_names(c.evaluation.eval_metrics or None), dataset, c.data.dataset)
    if "inception" in names:  # its weights are checked now, not after the first stretch of training
        from gankit.metrics.inception import check_inception

        check_inception(c.evaluation.inception_weights)
    if dist.enabled:
        prepare_metrics(names, dataset, c.data_options())
    return names


def fixed_noise(config: TrainConfig, dataset: Dataset, device: torch.device) -> torch.Tensor:
    """The noise batch whose samples every grid shows: 64 images, or 2,000 points for 1-D/2-D data."""
    n = 64 if dataset.kind == "image" else 2000
    generator = torch.Generator().manual_seed(config.run.seed + 2)
    return sample_noise(config.architecture.noise, n, config.architecture.noise_dim, generator).to(device)


def make_label_source(config: TrainConfig, dataset: Dataset) -> LabelSource:
    """The label source `config` asks for: the dataset's classes, an experiment's, or none."""
    if config.architecture.conditional:
        return ClassLabels(dataset, config.data.dataset)
    if config.self_conditioning.self_condition:
        return SelfConditionLabels(config, dataset)
    return NoLabels()
