"""The training recipe `gankit train` starts an image model from when no preset or file is given.

The recipe is the `demo` preset's: the best measured at the demo's budget (docs/results.md,
"A sharper demo"). Of that preset it takes the objective and optimization settings (the loss,
its regularizers, the optimizer and its rates, the batch size), not the data, the model, the
budget or where the run writes; and on a labelled set of single images (`LABELLED_SETS`) it
conditions G and D on the labels as the preset does (`--conditional`), which measured best at
the demo's budget and at the default 1,000 steps alike ("Labels into G and D"). It lies beneath
the flags, so each flag given overrides its field (`--no-conditional` keeps a run
unconditional); `--preset` and `--config` start from their own settings instead, and a resumed
run keeps its saved config. Models other than `dcgan` and `resnet`, and the toy sets, keep the
library's defaults (the `TrainConfig` field defaults, which are also what `TrainConfig()` gives
in Python).
"""

from __future__ import annotations

from typing import Any

from gankit.config import TrainConfig, _owners
from gankit.config.files import load_preset
from gankit.data import VECTOR_DATASETS

__all__ = ["IMAGE_MODELS", "LABELLED_SETS", "RECIPE_PRESET", "default_recipe", "describe", "image_recipe"]

IMAGE_MODELS = frozenset({"dcgan", "resnet"})
RECIPE_PRESET = "demo"
RECIPE_GROUPS = ("objective", "optimization")
BUDGET = frozenset({"steps", "epochs"})
# Tuned together with the recipe's optimizer: dropped where the flags choose another optimizer.
OPTIMIZER_FIELDS = frozenset({"lr_g", "lr_d", "beta1", "beta2"})
# Sets whose every image has one class label: the recipe conditions on them where the preset does.
# (A folder: set has labels only where sub-folders name classes, unknown before it loads;
# stacked-mnist's label is the mode its experiments count.)
LABELLED_SETS = frozenset({"mnist-5k", "mnist", "fashion-mnist", "digits"})
# Flags that replace or refuse the dataset's labels: the recipe leaves conditioning to them.
LABEL_FLAGS = frozenset({"pack", "self_condition"})
# Refused under torchrun (`gankit.training.modules`): the recipe leaves them out there.
DISTRIBUTED_UNSUPPORTED = frozenset({"r1", "r1_interval"})


def image_recipe() -> dict[str, Any]:
    """The `demo` preset's training settings: its objective and optimization fields but the budget."""
    return _training_settings(load_preset(RECIPE_PRESET).options)


def _training_settings(options: dict[str, Any]) -> dict[str, Any]:
    owners = _owners()
    return {k: v for k, v in options.items() if owners[k] in RECIPE_GROUPS and k not in BUDGET}


def default_recipe(options: dict[str, Any], distributed: bool = False) -> dict[str, Any]:
    """The recipe layer beneath `options` (a new run's flags): `image_recipe()` for an image model
    on image data, with `conditional` where the preset is conditional and the set is one of
    `LABELLED_SETS` (unless `options` packs or self-conditions), less the fields `options` sets
    itself, less the optimizer's rates where `options` chooses another optimizer, and less R1
    when `distributed` (torchrun does not support its double backward); `{}` for every other
    model or dataset."""
    defaults = TrainConfig()
    model = options.get("model", defaults.architecture.model)
    dataset = options.get("dataset", defaults.data.dataset)
    if model not in IMAGE_MODELS or dataset in VECTOR_DATASETS:
        return {}
    preset = load_preset(RECIPE_PRESET).options
    recipe = _training_settings(preset)
    library = defaults.flat()
    labelled = dataset in LABELLED_SETS and all(options.get(k, library[k]) == library[k] for k in LABEL_FLAGS)
    if labelled and preset.get("conditional"):
        recipe["conditional"] = True
    optimizer = recipe.get("optimizer", defaults.optimization.optimizer)
    if options.get("optimizer", optimizer) != optimizer:
        recipe = {k: v for k, v in recipe.items() if k not in OPTIMIZER_FIELDS and k != "optimizer"}
    if distributed:
        recipe = {k: v for k, v in recipe.items() if k not in DISTRIBUTED_UNSUPPORTED}
    return {k: v for k, v in recipe.items() if k not in options}


def describe(recipe: dict[str, Any], distributed: bool = False) -> str:
    """The start-up line that says which recipe settings a run took by default."""
    flags = " ".join(
        f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in sorted(recipe.items())
    )
    left = "; R1 left out: torchrun does not support it" if distributed and "r1" in image_recipe() else ""
    return (
        f"recipe: image models start from the {RECIPE_PRESET} preset's settings (docs/results.md): "
        f"{flags}; a flag overrides each{left}"
    )
