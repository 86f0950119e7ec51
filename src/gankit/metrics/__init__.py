"""Evaluation metrics by name, and `evaluate_run` behind `gankit eval`.

Each metric records its version and settings beside its numbers, so a score in `eval.json`
says how it was computed. The registry is `gankit.metrics.registry`; each built-in metric is
one file that registers itself (imported here in the order `gankit eval` runs them).
"""

from __future__ import annotations

import importlib

from gankit.metrics.context import (
    EvalContext,
    classify,
    has_class_labels,
    is_stacked,
    serve_samples,
    stack_source,
    unit_images,
)
from gankit.metrics.evaluate import evaluate_generator, evaluate_run, scalar_summary, write_eval_json
from gankit.metrics.registry import (
    METRICS,
    Metric,
    get_metric,
    parse_names,
    prepare_metrics,
    register_metric,
    select_metrics,
)

# the built-in metrics register themselves on import, in the order `gankit eval` runs them
for _module in ("classifier_scores", "parzen", "modes", "stacked_modes", "inception"):
    importlib.import_module(f"gankit.metrics.{_module}")

__all__ = [
    "METRICS",
    "EvalContext",
    "Metric",
    "classify",
    "evaluate_generator",
    "evaluate_run",
    "get_metric",
    "has_class_labels",
    "is_stacked",
    "parse_names",
    "prepare_metrics",
    "register_metric",
    "scalar_summary",
    "select_metrics",
    "serve_samples",
    "stack_source",
    "unit_images",
    "write_eval_json",
]
