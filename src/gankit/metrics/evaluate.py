"""Scoring a generator: `evaluate_generator` runs metrics by name, `evaluate_run` scores a run
directory into its `eval.json` (behind `gankit eval`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit import __version__
from gankit.config import TrainConfig
from gankit.data import DataOptions, Dataset, load_dataset
from gankit.errors import GankitError
from gankit.metrics.context import EvalContext, serve_samples
from gankit.metrics.registry import applicability, get_metric, select_metrics
from gankit.models.parts import eval_mode
from gankit.outputs.files import atomic_write_json, read_json
from gankit.runtime.distributed import SINGLE, DistContext, broadcast_int
from gankit.sampling.generator import GeneratorInfo, load_generator

__all__ = ["evaluate_generator", "evaluate_run", "scalar_summary", "write_eval_json"]

Wrapper = Callable[[nn.Module, GeneratorInfo], nn.Module]


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
    inception_weights: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Each metric in `names` on `generator`, with its version, seed and wall time
    (`inception_weights`: the Inception-v3 weights file, for the inception metric).

    The generator is scored in eval mode and left in the mode it was in; the global
    random state is left untouched, so evaluating during training does not change it.
    In a process group every rank calls this: rank 0 computes the metrics and gets the
    results, the others draw their share of the samples and get `{}`.
    """
    device = torch.device(device)
    if dist.enabled and not dist.is_main:
        serve_samples(generator, info, device, dist)
        return {}
    options = data_options or DataOptions()
    ctx = EvalContext(generator, info, dataset, seed, n, options, device, dist, inception_weights)
    results: dict[str, dict[str, Any]] = {}
    try:
        with eval_mode(generator), torch.random.fork_rng(devices=[]):
            for name in names:
                start = time.perf_counter()
                result = get_metric(name).compute(ctx)
                results[name] = {
                    "version": get_metric(name).version,
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


def read_eval_json(path: str | Path) -> dict[str, Any]:
    """An `eval.json` whose `metrics` map each metric's name to its results (else a GankitError);
    an empty one where the file does not exist."""
    path = Path(path)
    if not path.exists():
        return {"metrics": {}}
    report = read_json(path)
    metrics = report.get("metrics")
    if not isinstance(metrics, dict) or not all(isinstance(v, dict) for v in metrics.values()):
        raise GankitError(f"{path} is damaged: its metrics are not a map of results (move it away)")
    return report


def write_eval_json(run_dir: Path, dataset_name: str, step: int, results: dict[str, dict[str, Any]]) -> dict:
    """Merge `results` into RUN_DIR/eval.json (earlier metrics are kept), written atomically."""
    path = run_dir / "eval.json"
    report = read_eval_json(path)
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
    wrap: Wrapper | None = None,
    variant: str = "",
    inception_weights: str | None = None,
    announce: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Score the generator of `run_dir` with `metrics` (default: all that apply) into eval.json.

    `wrap(generator, info)` puts a sampler around the generator (e.g. rejection sampling,
    `gankit.sampling.rejection`); where the sampler has a `summary()`, each result carries it
    as `sampler`. The scores are kept as `<metric><variant>` beside earlier ones; with `ema`
    False on a run that kept an EMA of G, G's own weights are scored, as `<metric>+no-ema`
    (before the variant), so the EMA's scores are not overwritten. `inception_weights` overrides
    the run's own setting. `announce(line)` is told, once they are computed, which metrics ran
    and, for each registered one that does not apply to the run's data, what it needs. Returns
    the results just computed, under those names.
    """
    run_dir = Path(run_dir)
    config = TrainConfig.load(run_dir / "config.json")
    read_eval_json(run_dir / "eval.json")  # a damaged eval.json stops us before the work, not after
    generator, info = load_generator(run_dir, ema=ema)
    if wrap is not None:
        generator = wrap(generator, info)
    dataset = load_dataset(config.data.dataset, config.data_options())
    names = select_metrics(metrics, dataset, config.data.dataset)
    weights = inception_weights or config.evaluation.inception_weights
    results = evaluate_generator(
        generator,
        info,
        dataset,
        names,
        seed=seed,
        n=n,
        data_options=config.data_options(),
        inception_weights=weights,
    )
    if announce is not None:
        announce(f"scored {config.data.dataset}: {', '.join(names)}")
        for name, needs in applicability(dataset).items():
            if needs is not None:
                announce(f"  {name}: does not apply (needs {needs})")
    summary = getattr(generator, "summary", None)
    if wrap is not None and callable(summary):
        results = {name: {**result, "sampler": summary()} for name, result in results.items()}
    suffix = ("+no-ema" if info.ema and not ema else "") + variant
    results = {f"{name}{suffix}": result for name, result in results.items()}
    write_eval_json(run_dir, config.data.dataset, info.step, results)
    return results
