"""Plugins: models, datasets, losses and metrics registered from Python or named `package.module:name`.

A name that is not registered but has the form `package.module:attribute` is imported and
its attribute registered under that name (a `ModelEntry`, a dataset loader, a `GANLoss` or a
`Metric`). A thing registered from Python with `gankit.register_*` remembers the module that
defined it; a run saves those modules in `config.json` and `generator.json` (`plugins`), and
`gankit sample`, `eval` and `--resume` import them again before they look the names up.
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Iterable
from typing import Any

from gankit.errors import GankitError

__all__ = [
    "adopt_reference",
    "import_plugins",
    "import_reference",
    "is_reference",
    "lookup",
    "note_origin",
    "plugin_modules",
]

_REFERENCE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
_ORIGINS: dict[tuple[str, str], str] = {}  # (kind, name) -> module that registered it


def is_reference(name: str) -> bool:
    """Whether `name` reads `package.module:attribute`."""
    return bool(_REFERENCE.fullmatch(name))


def import_reference(reference: str, what: str) -> Any:
    """The object `package.module:attribute` names; a one-line error naming what failed."""
    module_name, _, attribute = reference.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise GankitError(f"cannot import the module of {what} {reference!r}: {exc}") from None
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise GankitError(f"{what} {reference!r}: {module_name} has no attribute {attribute!r}")
        obj = getattr(obj, part)
    return obj


def adopt_reference(registry: dict[str, Any], name: str, what: str, kind: type | None = None) -> None:
    """Where `name` is not in `registry` but reads `package.module:attribute`, import the object
    it names (which must be a `kind`, where given) and register it under `name`."""
    if name in registry or not is_reference(name):
        return
    obj = import_reference(name, what)
    if kind is not None and not isinstance(obj, kind):
        raise GankitError(f"{what} {name!r} names a {type(obj).__name__}, not a gankit {kind.__name__}")
    registry[name] = obj


def lookup(registry: dict[str, Any], name: str, what: str, kind: type) -> Any:
    """`registry[name]`, adopting a `package.module:attribute` reference first; an unknown name
    is a one-line error that lists the choices."""
    adopt_reference(registry, name, what, kind)
    try:
        return registry[name]
    except KeyError:
        raise GankitError(f"unknown {what} {name!r}; choose one of: {', '.join(registry)}") from None


def note_origin(kind: str, name: str, obj: Any) -> None:
    """Remember which module defined the registered `kind` `name` (so a new process can find it)."""
    module = getattr(obj, "__module__", None)
    if module and not module.startswith("gankit.") and not is_reference(name):
        _ORIGINS[(kind, name)] = module


def plugin_modules(**names: str | Iterable[str] | None) -> list[str]:
    """The modules that registered the named things, e.g. `plugin_modules(model="mine")`."""
    found = set()
    for kind, value in names.items():
        for name in [value] if isinstance(value, str) else value or []:
            if (kind, name) in _ORIGINS:
                found.add(_ORIGINS[(kind, name)])
    if "__main__" in found:
        warnings.warn(
            "a plugin registered in __main__ cannot be imported by another process: gankit sample, "
            "eval and --resume will not find it; register it in an importable module",
            stacklevel=3,
        )
        found.discard("__main__")
    return sorted(found)


def import_plugins(modules: Iterable[str]) -> None:
    """Import the modules a run recorded as its plugins, which register what it used."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise GankitError(f"cannot import plugin module {module!r} that this run used: {exc}") from None
