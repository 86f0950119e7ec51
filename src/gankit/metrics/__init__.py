"""Evaluation metrics by name, and `evaluate_run` behind `gankit eval`.

Each metric records its version and settings beside its numbers, so a score in
`eval.json` says how it was computed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from gankit import __version__
from gankit.config import TrainConfig
from gankit.data import DataOptions, Dataset, ImageData, ToyData, load_dataset, scale_images, to_uint8
from gankit.errors import GankitError
from gankit.metrics.modes import mode_metrics
from gankit.metrics.parzen import SIGMA_GRID, parzen_estimate
from gankit.models.parts import eval_mode
from gankit.noise import sample_noise
from gankit.outputs.files import atomic_write_json, read_json
from gankit.runtime.distributed import SINGLE, DistContext, broadcast_int, gather_rows
from gankit.sampling.generator import GeneratorInfo, balanced_labels, generate, load_generator

if TYPE_CHECKING:
    from gankit.sampling.rejection import DRSOptions


@dataclass
class EvalContext:
    """What a metric may use: the generator (in eval mode), the dataset, and a sample budget."""

    generator: torch.nn.Module
    info: GeneratorInfo
    dataset: Dataset
    seed: int
    n: int | None
    data_options: DataOptions = field(default_factory=DataOptions)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dist: DistContext = SINGLE

    def samples(self, default_n: int) -> Tensor:
        """`n` (or the metric's `default_n`) generator samples on the CPU, fixed by `seed`.

        In a process group, rank 0 asks every rank for its share (see `serve_samples`):
        the samples are the same as one process draws, at 1/N of the generator work each.
        """
        n = self.n or default_n
        if not self.dist.enabled:
            return generate(self.generator, self.info, n, seed=self.seed, device=self.device)
        broadcast_int(n, self.dist, self.device)
        broadcast_int(self.seed, self.dist, self.device)
        return _sharded_samples(self.generator, self.info, n, self.seed, self.device, self.dist)


@torch.no_grad()
def _sharded_samples(
    generator: torch.nn.Module, info: GeneratorInfo, n: int, seed: int, device: torch.device, ctx: DistContext
) -> Tensor:
    """This rank's contiguous share of the `n` samples `generate` draws under `seed`, gathered on all."""
    noise = sample_noise(info.noise, n, info.noise_dim, torch.Generator().manual_seed(seed))  # (n, dim)
    per_rank = -(-n // ctx.world_size)
    index = torch.arange(per_rank * ctx.world_size) % n  # padded to a multiple of the world size
    index = index[ctx.rank * per_rank : (ctx.rank + 1) * per_rank]  # this rank's share
    mine = noise[index]
    labels = balanced_labels(index, info)  # as one process labels them
    chunks = []
    for i in range(0, per_rank, 500):
        z = mine[i : i + 500].to(device)
        chunks.append(generator(z) if labels is None else generator(z, labels[i : i + 500].to(device)))
    return gather_rows(torch.cat(chunks), ctx)[:n].cpu()


def serve_samples(
    generator: torch.nn.Module, info: GeneratorInfo, device: torch.device, ctx: DistContext
) -> None:
    """On ranks other than 0: draw shares of samples for rank 0's metrics until it says it is done (n = 0)."""
    with eval_mode(generator):
        while (n := broadcast_int(0, ctx, device)) > 0:
            seed = broadcast_int(0, ctx, device)
            _sharded_samples(generator, info, n, seed, device, ctx)


@dataclass(frozen=True)
class Metric:
    name: str
    version: str
    applies: Callable[[Dataset], bool]
    compute: Callable[[EvalContext], dict[str, Any]]
    summary: str
    default: bool = True  # run when no metrics are named (False: needs optional downloads)
    prepare: Callable[[Dataset, DataOptions], None] | None = None  # load or train what it needs


def prepare_metrics(names: list[str], dataset: Dataset, options: DataOptions) -> None:
    """Load (or train and cache) what the metrics `names` need, such as their classifiers.

    Every rank of a process group calls this before training, so that no rank later
    waits on a collective while rank 0 trains a classifier.
    """
    for name in names:
        if METRICS[name].prepare is not None:
            METRICS[name].prepare(dataset, options)


def _prepare_classifier(dataset: Dataset, options: DataOptions) -> None:
    from gankit.metrics.classifier import load_or_train_classifier

    assert isinstance(dataset, ImageData)
    load_or_train_classifier(dataset)


def stack_source(options: DataOptions) -> ImageData:
    """The digit set a stacked-mnist run stacks (`--stack-source`); its classifier reads each channel."""
    source = load_dataset(options.stack_source, dataclasses.replace(options, channels=None))
    assert isinstance(source, ImageData)
    return source


def _prepare_stacked(dataset: Dataset, options: DataOptions) -> None:
    from gankit.metrics.classifier import load_or_train_classifier

    load_or_train_classifier(stack_source(options))


def unit_images(images: Tensor, value_range: str) -> Tensor:
    """Generator output -> pixels in [0, 1], the space the Parzen protocol works in."""
    return to_uint8(images, value_range).double() / 255.0


def _parzen(ctx: EvalContext) -> dict[str, Any]:
    data = ctx.dataset
    assert isinstance(data, ImageData)
    validation = scale_images(data.splits["validation"], "sigmoid")
    if data.name in ("mnist", "fashion-mnist"):
        validation = validation[:1000]  # the paper: sigma on the first 1,000 of train[50000:60000]
    test = scale_images(data.splits["test"], "sigmoid")
    centres = unit_images(ctx.samples(10_000), ctx.info.output)
    fake = parzen_estimate(centres, validation, test)
    real_centres = scale_images(data.splits["train"][:10_000], "sigmoid")
    real = parzen_estimate(real_centres, validation, test)
    return {
        "settings": {
            "centres": len(centres),
            "validation": len(validation),
            "test": len(test),
            "sigma_grid": list(SIGMA_GRID),
            "split": "validation->sigma, test->score",
        },
        "log_likelihood": fake.mean,
        "stderr": fake.stderr,
        "sigma": fake.sigma,
        "real_centres": {
            "log_likelihood": real.mean,
            "stderr": real.stderr,
            "sigma": real.sigma,
            "centres": len(real_centres),
        },
    }


def _modes(ctx: EvalContext) -> dict[str, Any]:
    data = ctx.dataset
    assert isinstance(data, ToyData) and data.centers is not None and data.sigma is not None
    samples = ctx.samples(2500)
    result = mode_metrics(samples, data.centers, data.sigma)
    return {
        "settings": {"samples": len(samples), "threshold": f"3 sigma = {3 * data.sigma}"},
        **dataclasses.asdict(result),
    }


def _is_stacked(data: Dataset) -> bool:
    return isinstance(data, ImageData) and data.name.startswith("stacked-mnist")


def has_class_labels(data: Dataset) -> bool:
    """A labelled image set whose labels are single classes (not stacked-mnist's triples)."""
    labelled = isinstance(data, ImageData) and "train" in data.labels and "test" in data.labels
    return labelled and not _is_stacked(data)


@torch.no_grad()
def classify(model: torch.nn.Module, images: Tensor, batch: int = 1000) -> tuple[Tensor, Tensor]:
    """(penultimate features, class probabilities) for images in [0, 1]."""
    feats, probs = [], []
    for start in range(0, len(images), batch):
        f = model.features(images[start : start + batch].float())
        feats.append(f)
        probs.append(torch.softmax(model.head(f), dim=1))
    return torch.cat(feats), torch.cat(probs)


def _classifier_metrics(ctx: EvalContext) -> dict[str, Any]:
    from gankit.metrics.classifier import load_or_train_classifier
    from gankit.metrics.features import class_coverage, frechet_distance, inception_score, precision_recall

    data = ctx.dataset
    assert isinstance(data, ImageData)
    model, meta = load_or_train_classifier(data)
    fake = unit_images(ctx.samples(10_000), ctx.info.output)
    real = scale_images(data.splits["test"], "sigmoid")
    fake_feats, fake_probs = classify(model, fake)
    real_feats, real_probs = classify(model, real)
    m = min(len(fake_feats), len(real_feats))
    precision, recall = precision_recall(real_feats[:m], fake_feats[:m], k=3)
    return {
        "settings": {
            "classifier": meta,
            "generated": len(fake),
            "real_split": "test",
            "real": len(real),
            "precision_recall": {"k": 3, "samples_each": m, "distance": "squared euclidean"},
        },
        "frechet_distance": frechet_distance(fake_feats.numpy(), real_feats.numpy()),
        "inception_score": inception_score(fake_probs),
        "inception_score_real": inception_score(real_probs),
        "class_coverage": class_coverage(fake_probs),
        "precision": precision,
        "recall": recall,
    }


def _stacked_modes(ctx: EvalContext) -> dict[str, Any]:
    from gankit.data.stacked import channel_digits
    from gankit.metrics.classifier import load_or_train_classifier
    from gankit.metrics.features import label_coverage

    assert isinstance(ctx.dataset, ImageData)
    model, meta = load_or_train_classifier(stack_source(ctx.data_options))
    fake = unit_images(ctx.samples(26_000), ctx.info.output)
    real = scale_images(ctx.dataset.splits["train"][:26_000], "sigmoid")

    place = torch.tensor([100, 10, 1])

    def digits(images: Tensor) -> Tensor:
        """The classifier's digit in each channel, (n, 3)."""
        return torch.stack([classify(model, images[:, c : c + 1])[1].argmax(1) for c in range(3)], 1)

    fake_digits, real_read = digits(fake), digits(real)
    fake_cov = label_coverage(fake_digits @ place, 1000)  # modes in [0, 1000)
    real_cov = label_coverage(real_read @ place, 1000)
    real_digits = channel_digits(ctx.dataset.labels["train"][:26_000])
    real_acc = float((real_read == real_digits).all(1).double().mean())
    # where a large KL comes from: each channel's digit histogram; with independent channels
    # the KL over triples is the sum of the three channels' KLs
    channels = [label_coverage(fake_digits[:, c], 10) for c in range(3)]
    return {
        "settings": {"classifier": meta, "generated": len(fake), "real_split": "train", "real": len(real)},
        "modes_covered": fake_cov["classes_seen"],
        "kl_to_uniform": fake_cov["kl_to_uniform"],
        "channels": [{"digits": c["histogram"], "kl_to_uniform": c["kl_to_uniform"]} for c in channels],
        "real": {
            "modes_covered": real_cov["classes_seen"],
            "kl_to_uniform": real_cov["kl_to_uniform"],
            "triple_accuracy": real_acc,
        },
    }


def _inception(ctx: EvalContext) -> dict[str, Any]:
    from gankit.metrics.inception import inception_metrics

    data = ctx.dataset
    assert isinstance(data, ImageData)
    fake = to_uint8(ctx.samples(10_000), ctx.info.output)
    real = data.splits["test"][:10_000]
    return inception_metrics(fake, real, ctx.device)


METRICS: dict[str, Metric] = {
    "classifier": Metric(
        "classifier",
        "1",
        has_class_labels,
        _classifier_metrics,
        "Fréchet distance, IS analogue, class coverage, precision/recall on a gankit CNN",
        prepare=_prepare_classifier,
    ),
    "parzen": Metric(
        "parzen",
        "1",
        lambda d: isinstance(d, ImageData) and "validation" in d.splits,
        _parzen,
        "Parzen-window log-likelihood (Goodfellow et al. 2014, Table 1)",
    ),
    "modes": Metric(
        "modes",
        "1",
        lambda d: isinstance(d, ToyData) and d.centers is not None,
        _modes,
        "modes captured / high-quality samples / KL to uniform (PacGAN)",
    ),
    "stacked-modes": Metric(
        "stacked-modes",
        "1",
        _is_stacked,
        _stacked_modes,
        "Stacked MNIST: modes covered out of 1,000 and KL to uniform (VEEGAN/PacGAN)",
        prepare=_prepare_stacked,
    ),
    "inception": Metric(
        "inception",
        "1",
        lambda d: isinstance(d, ImageData),
        _inception,
        "FID, KID and IS on Inception-v3 features through torchmetrics (needs its weights)",
        default=False,
    ),
}


def parse_names(text: str | None) -> list[str] | None:
    """'a, b' -> ['a', 'b']; None or an empty list -> None (the defaults)."""
    names = [m.strip() for m in (text or "").split(",") if m.strip()]
    return names or None


def select_metrics(names: list[str] | None, dataset: Dataset, dataset_name: str) -> list[str]:
    """The metrics to run: `names` checked against the registry and the dataset, or the defaults."""
    unknown = [m for m in names or [] if m not in METRICS]
    if unknown:
        raise GankitError(f"unknown metric(s) {', '.join(unknown)}; choose from: {', '.join(METRICS)}")
    if not names:
        return [m for m, spec in METRICS.items() if spec.default and spec.applies(dataset)]
    for name in names:
        if not METRICS[name].applies(dataset):
            raise GankitError(f"metric {name} does not apply to dataset {dataset_name}")
    return list(names)


def evaluate_generator(
    generator: torch.nn.Module,
    info: GeneratorInfo,
    dataset: Dataset,
    names: list[str],
    *,
    seed: int = 0,
    n: int | None = None,
    data_options: DataOptions | None = None,
    device: torch.device | str = "cpu",
    dist: DistContext = SINGLE,
) -> dict[str, dict[str, Any]]:
    """Each metric in `names` on `generator`, with its version, seed and wall time.

    The generator is scored in eval mode and left in the mode it was in; the global
    random state is left untouched, so evaluating during training does not change it.
    In a process group every rank calls this: rank 0 computes the metrics and gets the
    results, the others draw their share of the samples and get `{}`.
    """
    device = torch.device(device)
    if dist.enabled and not dist.is_main:
        serve_samples(generator, info, device, dist)
        return {}
    ctx = EvalContext(generator, info, dataset, seed, n, data_options or DataOptions(), device, dist)
    results: dict[str, dict[str, Any]] = {}
    try:
        with eval_mode(generator), torch.random.fork_rng(devices=[]):
            for name in names:
                start = time.perf_counter()
                result = METRICS[name].compute(ctx)
                results[name] = {
                    "version": METRICS[name].version,
                    "seed": seed,
                    **result,
                    "wall_time_s": round(time.perf_counter() - start, 3),
                }
    finally:
        if dist.enabled:
            broadcast_int(0, dist, device)  # the other ranks stop serving samples
    return results


def scalar_summary(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The top-level numbers of each metric as flat `eval/<metric>/<name>` entries for metrics.jsonl."""
    return {
        f"eval/{metric}/{key}": float(value)
        for metric, result in results.items()
        for key, value in result.items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and key not in ("seed", "wall_time_s")
    }


def write_eval_json(run_dir: Path, dataset_name: str, step: int, results: dict[str, dict[str, Any]]) -> dict:
    """Merge `results` into RUN_DIR/eval.json (earlier metrics are kept), written atomically."""
    path = run_dir / "eval.json"
    report = read_json(path) if path.is_file() else {"metrics": {}}
    report.update(
        {
            "run": str(run_dir),
            "dataset": dataset_name,
            "generator_step": step,
            "gankit_version": __version__,
            "torch_version": torch.__version__,
        }
    )
    report["metrics"].update(results)
    atomic_write_json(path, report)
    return report


def evaluate_run(
    run_dir: str | Path,
    metrics: list[str] | None = None,
    n: int | None = None,
    seed: int = 0,
    ema: bool = True,
    drs: DRSOptions | None = None,
) -> dict[str, dict[str, Any]]:
    """Score the generator of `run_dir` with `metrics` (default: all that apply) into eval.json.

    With `drs`, the samples pass through discriminator rejection sampling with the run's
    last discriminator (`gankit.sampling.rejection`); those scores are kept as `<metric>+drs` (gamma 0)
    or `<metric>+drs-gamma<gamma>`, beside the plain ones, each with the sampler's acceptance.
    With `ema` False on a run that kept an EMA of G, G's own weights are scored, as
    `<metric>+no-ema` (before any DRS suffix), so the EMA's scores are not overwritten.
    Returns the results just computed, under those names.
    """
    run_dir = Path(run_dir)
    config = TrainConfig.load(run_dir / "config.json")
    generator, info = load_generator(run_dir, ema=ema)
    sampler = None
    if drs is not None:
        from gankit.sampling.rejection import load_rejection_sampler

        generator = sampler = load_rejection_sampler(run_dir, generator, info, drs, seed=seed)
    dataset = load_dataset(config.dataset, config.data_options())
    names = select_metrics(metrics, dataset, config.dataset)
    results = evaluate_generator(
        generator, info, dataset, names, seed=seed, n=n, data_options=config.data_options()
    )
    if sampler is not None and drs is not None:
        summary = sampler.summary()
        results = {name: {**result, "sampler": summary} for name, result in results.items()}
    suffix = ("+no-ema" if info.ema and not ema else "") + (drs.score_suffix if drs is not None else "")
    results = {f"{name}{suffix}": result for name, result in results.items()}
    write_eval_json(run_dir, config.dataset, info.step, results)
    return results
