"""The recipes the comparisons of docs/results.md train (`scripts/results.py`), by dataset family.

Each recipe is a preset shipped with gankit, `results-<family>-<recipe>` (`gankit presets`
lists them; `gankit train --preset results-image-ema` trains one): the family's base
settings and the recipe's own. `run_overrides` gives the options of one run.
"""

from __future__ import annotations

from typing import Any

from gankit.config.files import list_presets

__all__ = ["FAMILIES", "METRICS", "RECIPES", "family", "run_overrides"]

FAMILIES = ("toy", "image", "stacked")
METRICS = {"toy": ["modes"], "stacked": ["stacked-modes"], "image": ["classifier"]}


def _recipes() -> dict[str, dict[str, dict[str, Any]]]:
    """{family: {recipe: options}} from the `results-*` presets; the run chooses the dataset."""
    found: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in FAMILIES}
    for preset in list_presets():
        kind, _, recipe = preset.name.removeprefix("results-").partition("-")
        if preset.name.startswith("results-") and kind in found:
            found[kind][recipe] = {k: v for k, v in preset.options.items() if k != "dataset"}
    return found


RECIPES = _recipes()


def family(dataset: str) -> str:
    if dataset in ("ring8", "grid25"):
        return "toy"
    return "stacked" if dataset.startswith("stacked") else "image"


def run_overrides(dataset: str, recipe: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The config fields a run of `recipe` on `dataset` sets: the recipe's preset (the family's
    base settings and its own), then `extra` (`--steps` and `--set`)."""
    return {**RECIPES[family(dataset)][recipe], **extra}
