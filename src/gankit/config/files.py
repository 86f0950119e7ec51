"""Config files: TOML whose tables are the config groups, a run's `config.json`, and presets.

    [optimization]
    lr_g = 2e-4
    batch_size = 64

`read_config_file` turns either kind of file into flat options (`{"lr_g": 2e-4, ...}`),
checking every key and type and naming the file in each error; `to_toml` writes a config back
as such a file (`gankit train --print-config`). Presets are TOML files shipped in
`gankit/presets/`, each with a `[preset]` table (`description`, `source`); `gankit train
--preset NAME` starts from one. Layers compose as preset < `--config` file < flags.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import typing
from importlib import resources
from pathlib import Path
from typing import Any

from gankit import __version__
from gankit.config import _GROUPS, RUN_KEYS, TrainConfig, _owners
from gankit.config.options import check_type
from gankit.errors import GankitError
from gankit.outputs.files import read_json

__all__ = ["Preset", "compose", "list_presets", "load_preset", "read_config_file", "to_toml"]

PRESET_TABLE = "preset"


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named recipe shipped with gankit: its options and where they come from."""

    name: str
    description: str
    source: str
    options: dict[str, Any]


def _hint(group: str, name: str) -> Any:
    return typing.get_type_hints(_GROUPS[group])[name]


def options_from_tree(data: dict[str, Any], source: str) -> dict[str, Any]:
    """Flat options from a nested tree (tables named for the groups) or a flat one (gankit
    0.1.0's config.json); an unknown table or key, or a value of the wrong type, is an error
    naming `source` and the key."""
    owners, flat = _owners(), {}
    for key, value in data.items():
        if key in _GROUPS:
            if not isinstance(value, dict):
                raise GankitError(f"{source}: [{key}] must be a table of options, got {value!r}")
            for name, item in value.items():
                if owners.get(name) != key:
                    where = f" (it belongs in [{owners[name]}])" if name in owners else ""
                    raise GankitError(f"{source}: unknown key {key}.{name}{where}")
                check_type(f"{source}: {key}.{name}", item, _hint(key, name))
                flat[name] = item
        elif key in owners:
            check_type(f"{source}: {key}", value, _hint(owners[key], key))
            flat[key] = value
        else:
            raise GankitError(f"{source}: unknown key {key}; the tables are {', '.join(_GROUPS)}")
    try:  # each group's own ranges, with the file named (rules across groups wait for the flags)
        partial = TrainConfig(**flat)
        for group in _GROUPS:
            getattr(partial, group).validate()
    except GankitError as err:
        raise GankitError(f"{source}: {err}") from None
    return flat


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The flat options of a `.toml` config file or of a run's `config.json` (`--config`)."""
    path = Path(path)
    if path.suffix == ".json":
        data = read_json(path)
        data = {k: v for k, v in data.items() if k not in RUN_KEYS}
    elif path.suffix == ".toml":
        data = _read_toml(path)
        if PRESET_TABLE in data:
            data = {k: v for k, v in data.items() if k != PRESET_TABLE}
    else:
        raise GankitError(f"--config {path}: give a .toml file or a run's config.json")
    return options_from_tree(data, str(path))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise GankitError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise GankitError(f"{path} is a directory, not a config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GankitError(f"{path} is not valid TOML ({exc})") from None


def _preset_files() -> dict[str, Any]:
    folder = resources.files("gankit") / "presets"
    return {entry.name[: -len(".toml")]: entry for entry in folder.iterdir() if entry.name.endswith(".toml")}


def load_preset(name: str) -> Preset:
    """The preset `name` (a TOML file in gankit/presets/), checked like any config file."""
    files = _preset_files()
    if name not in files:
        raise GankitError(f"unknown preset {name!r}; `gankit presets` lists them: {', '.join(sorted(files))}")
    source = f"preset {name}"
    try:
        data = tomllib.loads(files[name].read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise GankitError(f"{source} is not valid TOML ({exc})") from None
    meta = data.pop(PRESET_TABLE, {})
    if not isinstance(meta, dict) or not {"description", "source"} <= set(meta):
        raise GankitError(f"{source}: its [preset] table needs a description and a source")
    return Preset(name, str(meta["description"]), str(meta["source"]), options_from_tree(data, source))


def list_presets() -> list[Preset]:
    """Every preset shipped with gankit, by name."""
    return [load_preset(name) for name in sorted(_preset_files())]


def compose(*layers: dict[str, Any]) -> dict[str, Any]:
    """Flat options of `layers`, each later one over the earlier (preset < file < flags). A
    layer that sets only one of `steps` and `epochs` replaces the other's budget below it."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if "epochs" in layer and "steps" not in layer:
            merged.pop("steps", None)
        if "steps" in layer and "epochs" not in layer:
            merged.pop("epochs", None)
        merged.update(layer)
    return merged


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)  # a TOML basic string: JSON's escapes are TOML's


def to_toml(config: TrainConfig, header: str | None = None) -> str:
    """`config` as a TOML config file, group by group; an unset option (None) is a comment."""
    lines = [f"# {header or f'gankit {__version__} config'}: gankit train --config FILE"]
    for group, kind in _GROUPS.items():
        lines += ["", f"[{group}]"]
        values = getattr(config, group)
        for field in dataclasses.fields(kind):
            value = getattr(values, field.name)
            lines.append(f"# {field.name} unset" if value is None else f"{field.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
