"""The metric registry: each metric is a `Metric` registered by name (`register_metric`), one file
per metric (`gankit.metrics.parzen`, `modes`, `classifier_scores`, `stacked_modes`, `inception`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gankit.data import DataOptions, Dataset
from gankit.errors import GankitError
from gankit.metrics.context import EvalContext
from gankit.registry import adopt_reference, is_reference, note_origin

__all__ = [
    "METRICS",
    "Metric",
    "applicability",
    "get_metric",
    "parse_names",
    "prepare_metrics",
    "register_metric",
    "select_metrics",
]

Compute = Callable[[EvalContext], dict[str, Any]]


@dataclass(frozen=True)
class Metric:
    """A metric: `compute(ctx)` gives its numbers where `applies(dataset)`; `version` goes into
    eval.json beside them; `default` metrics run when none are named; `prepare` loads or trains
    what it needs before training starts (every rank calls it)."""

    name: str
    version: str
    applies: Callable[[Dataset], bool]
    compute: Callable[[EvalContext], dict[str, Any]]
    summary: str
    default: bool = True  # run when no metrics are named (False: only when no default applies)
    prepare: Callable[[Dataset, DataOptions], None] | None = None  # load or train what it needs
    needs: str = ""  # what a dataset must have for it to apply, said when it does not


def prepare_metrics(names: list[str], dataset: Dataset, options: DataOptions) -> None:
    """Load (or train and cache) what the metrics `names` need, such as their classifiers.

    Every rank of a process group calls this before training, so that no rank later
    waits on a collective while rank 0 trains a classifier.
    """
    for name in names:
        prepare = get_metric(name).prepare
        if prepare is not None:
            prepare(dataset, options)


def parse_names(text: str | None) -> list[str] | None:
    """'a, b' -> ['a', 'b']; None -> None (the defaults). Text that names no metric is an error."""
    if text is None:
        return None
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise GankitError(f"--metrics {text!r} names no metric (leave it out for all that apply)")
    return names


def select_metrics(names: list[str] | None, dataset: Dataset, dataset_name: str) -> list[str]:
    """The metrics to run: `names` checked against the registry and the dataset, or the defaults."""
    unknown = [m for m in names or [] if m not in METRICS and not is_reference(m)]
    if unknown:
        raise GankitError(f"unknown metric(s) {', '.join(unknown)}; choose from: {', '.join(METRICS)}")
    for name in names or []:
        get_metric(name)
    if not names:
        chosen = [m for m, spec in METRICS.items() if spec.default and spec.applies(dataset)]
        # where no default applies (a folder of the user's own images), the others that do
        chosen = chosen or [m for m, spec in METRICS.items() if spec.applies(dataset)]
        if not chosen:
            why = "; ".join(f"{name} needs {spec.needs or 'other data'}" for name, spec in METRICS.items())
            raise GankitError(f"no metric applies to dataset {dataset_name}: {why}")
        return chosen
    for name in names:
        spec = get_metric(name)
        if not spec.applies(dataset):
            reason = f": it needs {spec.needs}" if spec.needs else ""
            raise GankitError(f"metric {name} does not apply to dataset {dataset_name}{reason}")
    return list(names)


def applicability(dataset: Dataset) -> dict[str, str | None]:
    """Each registered metric: None where it applies to `dataset`, else what it needs."""
    return {
        name: None if spec.applies(dataset) else spec.needs or "other data" for name, spec in METRICS.items()
    }


METRICS: dict[str, Metric] = {}


def register_metric(
    name: str,
    compute: Compute | None = None,
    *,
    applies: Callable[[Dataset], bool] = lambda dataset: True,
    summary: str = "",
    version: str = "1",
    default: bool = True,
    prepare: Callable[[Dataset, DataOptions], None] | None = None,
    needs: str = "",
) -> Any:
    """Register `compute(ctx) -> dict` as metric `name`; as a call or as a decorator. `needs` says
    what a dataset must have for `applies` to hold (printed where it does not)."""

    def register(function: Compute) -> Compute:
        METRICS[name] = Metric(name, version, applies, function, summary, default, prepare, needs)
        note_origin("metric", name, function)
        return function

    return register if compute is None else register(compute)


def get_metric(name: str) -> Metric:
    """The metric registered as `name`, or the `Metric` that `package.module:name` names."""
    adopt_reference(METRICS, name, "metric", Metric)
    if name not in METRICS:
        raise GankitError(f"unknown metric(s) {name}; choose from: {', '.join(METRICS)}")
    return METRICS[name]
