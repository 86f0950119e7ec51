"""The typed training configuration, saved as `config.json` in every run directory.

`TrainConfig` holds one frozen group per component (`gankit.config.groups`, and each
experiment's own group). It is built from flat options, the way the command line gives them
(`TrainConfig(dataset="ring8", steps=500)`), from whole groups, or both; every option name is
unique across groups, so `config.flat()` and the CLI flags stay flat. `config.json` stores the
nested layout; a flat `config.json` of gankit 0.1.0 loads as well.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gankit.config.groups import (
    COMPILE_MODES,
    CUDA_GRAPH_MODES,
    DEFAULT_LR,
    DEVICES,
    OPTIMIZERS,
    ArchitectureConfig,
    DataConfig,
    DistributedConfig,
    EvaluationConfig,
    ObjectiveConfig,
    OptimizationConfig,
    RunConfig,
    WatchConfig,
)
from gankit.config.options import check_type, has_control_character, is_resumable
from gankit.data.base import DataOptions
from gankit.errors import GankitError
from gankit.experiments.config import CLUSTER_SPACES, CLUSTERED_ONCE, SelfConditioningConfig
from gankit.models import ModelOptions
from gankit.outputs.files import read_json
from gankit.registry import import_plugins

__all__ = [
    "CLUSTERED_ONCE",
    "CLUSTER_SPACES",
    "COMPILE_MODES",
    "CUDA_GRAPH_MODES",
    "DEFAULT_LR",
    "DEVICES",
    "OPTIMIZERS",
    "RUN_KEYS",
    "TrainConfig",
    "config_differences",
    "flat_view",
]

# Keys a run writes into config.json beside the config itself (the process layout, plugins).
RUN_KEYS = (
    "gankit_version",
    "world_size",
    "batch_size_per_rank",
    "global_batch_size",
    "lr_scale",
    "plugins",
    "run_id",
    "data_source",
)


@dataclass(frozen=True, init=False)
class TrainConfig:
    """Everything that defines a training run, in groups. `steps` counts generator updates.

    Each step is one iteration of Algorithm 1 of Goodfellow et al. 2014: `k` discriminator
    updates on `batch_size` real and `batch_size` fake samples each, then one generator
    update. Under torchrun `batch_size` is per rank. Read an option through its group
    (`config.optimization.lr_g`) or by name (`config.option("lr_g")`).
    """

    data: DataConfig
    architecture: ArchitectureConfig
    objective: ObjectiveConfig
    optimization: OptimizationConfig
    run: RunConfig
    evaluation: EvaluationConfig
    watch: WatchConfig
    distributed: DistributedConfig
    self_conditioning: SelfConditioningConfig

    def __init__(self, **options: Any) -> None:
        """Groups by name (`run=RunConfig(...)`) and/or flat options (`seed=3`); flat options
        are applied on top of the groups. An unknown name is an error that names it."""
        owners = _owners()
        unknown = sorted(name for name in options if name not in owners and name not in _GROUPS)
        if unknown:
            raise GankitError(f"unknown config field(s): {', '.join(unknown)}")
        for group, kind in _GROUPS.items():
            value = options.get(group, kind())
            if not isinstance(value, kind):
                raise GankitError(
                    f"config group {group} must be a {kind.__name__}, got {type(value).__name__}"
                )
            mine = {name: v for name, v in options.items() if owners.get(name) == group}
            object.__setattr__(self, group, dataclasses.replace(value, **mine) if mine else value)

    # -- reading and writing ---------------------------------------------------------------------
    def option(self, name: str) -> Any:
        """The value of flat option `name`, from whichever group holds it."""
        try:
            return getattr(getattr(self, _owners()[name]), name)
        except KeyError:
            raise GankitError(f"unknown config field: {name}") from None

    def flat(self) -> dict[str, Any]:
        """Every option by its flat name (the CLI's flags with `_` for `-`)."""
        return {name: getattr(getattr(self, group), name) for name, group in _owners().items()}

    def replace(self, **options: Any) -> TrainConfig:
        """A copy with the given flat options (or groups) changed."""
        return TrainConfig(**{**{group: getattr(self, group) for group in _GROUPS}, **options})

    def to_dict(self) -> dict[str, Any]:
        """The nested layout of config.json: {group: {option: value}}."""
        return {group: dataclasses.asdict(getattr(self, group)) for group in _GROUPS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build a config from config.json's nested layout, or from the flat layout of gankit
        0.1.0 (migrated), refusing unknown keys by name."""
        groups, flat = {}, {}
        for key, value in data.items():
            if key in _GROUPS and isinstance(value, dict):
                fields = {f.name for f in dataclasses.fields(_GROUPS[key])}
                unknown = sorted(set(value) - fields)
                if unknown:
                    raise GankitError(f"unknown config field(s) in {key}: {', '.join(unknown)}")
                groups[key] = _GROUPS[key](**value)
            else:
                flat[key] = value
        return cls(**groups, **flat)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """Read a run's `config.json`, first importing the plugin modules it recorded."""
        data = read_json(path)
        present = [group for group in _GROUPS if group in data]
        if present and len(present) < len(_GROUPS):  # nested, with groups lost (flat: gankit 0.1.0)
            missing = ", ".join(group for group in _GROUPS if group not in data)
            raise GankitError(f"{path} is damaged: config group(s) missing: {missing}")
        plugins = data.get("plugins", [])
        if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
            raise GankitError(f"{path} is damaged: plugins must be a list of module names")
        import_plugins(plugins)
        data = {k: v for k, v in data.items() if k not in RUN_KEYS}
        # a run trained for --epochs records the steps they came to as well; the epochs decide
        o = optimization = data.get("optimization", data)
        if isinstance(o, dict) and o.get("epochs") is not None and o.get("steps") is not None:
            optimization = {**optimization, "steps": None}
            data = {**data, "optimization": optimization} if "optimization" in data else optimization
        try:
            return cls.from_dict(data).validated()
        except GankitError as err:
            raise GankitError(f"{path}: {err}") from None

    @staticmethod
    def options() -> Iterator[tuple[str, dataclasses.Field, type]]:
        """(group, field, group class) for every option, group by group, in declaration order."""
        for group, kind in _GROUPS.items():
            for field in dataclasses.fields(kind):
                yield group, field, kind

    # -- what the parts of gankit take -----------------------------------------------------------
    def data_options(self) -> DataOptions:
        """The dataset settings of this config."""
        d = self.data
        return DataOptions(
            d.image_size,
            d.channels,
            d.data_dir,
            d.gaussian_mean,
            d.gaussian_std,
            d.stack_source,
            d.stack_size,
            d.loader,
        )

    def model_options(self, n_classes: int = 0, label_factors: tuple[int, ...] = ()) -> ModelOptions:
        """The model settings of this config, for a G and D conditioned on `n_classes` (0: none),
        seen factor by factor where `label_factors` is given (`--cluster-space channels`)."""
        a = self.architecture
        return ModelOptions(
            n_classes,
            a.pack,
            a.minibatch_std,
            a.spectral_norm,
            a.g_width,
            a.d_width,
            a.minibatch_disc,
            tuple(label_factors),
        )

    def validated(self) -> TrainConfig:
        """Each group checks itself, then the rules that span groups; fills in the learning rates."""
        for _, field, kind in self.options():
            value = self.option(field.name)
            check_type(field.name, value, typing.get_type_hints(kind)[field.name])
            if isinstance(value, str) and has_control_character(value):
                raise GankitError(f"--{field.name.replace('_', '-')} {value!r} holds a control character")
        for group in _GROUPS:
            getattr(self, group).validate()
        if not self.run.out.strip():
            raise GankitError("--out must name a directory, got an empty string")
        a, o, s = self.architecture, self.optimization, self.self_conditioning
        if o.batch_size % a.pack:
            raise GankitError(f"--pack {a.pack} must divide --batch-size {o.batch_size}")
        if o.d_concat and (a.minibatch_std or a.minibatch_disc):
            raise GankitError(
                "--d-concat cannot be combined with --minibatch-std or --minibatch-disc "
                "(D's minibatch features would mix real and fake samples)"
            )
        if s.self_condition and a.conditional:
            raise GankitError("--self-condition and --conditional cannot be combined (labels come from one)")
        if s.self_condition and a.pack > 1:
            raise GankitError("--self-condition and --pack cannot be combined (a pack has no single label)")
        return self.replace(optimization=o.with_default_lr())


_GROUPS: dict[str, type] = {
    "data": DataConfig,
    "architecture": ArchitectureConfig,
    "objective": ObjectiveConfig,
    "optimization": OptimizationConfig,
    "run": RunConfig,
    "evaluation": EvaluationConfig,
    "watch": WatchConfig,
    "distributed": DistributedConfig,
    "self_conditioning": SelfConditioningConfig,
}


def _owners() -> dict[str, str]:
    """{option name: the group that holds it}."""
    return {field.name: group for group, field, _ in TrainConfig.options()}


def flat_view(saved: dict[str, Any]) -> dict[str, Any]:
    """A config.json's content with its options flat (either layout), beside the run keys."""
    config = TrainConfig.from_dict({k: v for k, v in saved.items() if k not in RUN_KEYS})
    return {**config.flat(), **{k: v for k, v in saved.items() if k in RUN_KEYS}}


def config_differences(saved: TrainConfig, requested: TrainConfig) -> list[str]:
    """Names of the options that differ and may not change on resume."""
    return [
        field.name
        for group, field, _ in TrainConfig.options()
        if not is_resumable(field)
        and getattr(getattr(saved, group), field.name) != getattr(getattr(requested, group), field.name)
    ]
