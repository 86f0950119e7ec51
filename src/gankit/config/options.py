"""How a config option is declared and checked: its help text and whether a resume may change it
live beside its field (`option`), and small checks give one-line errors naming the flag."""

from __future__ import annotations

import dataclasses
from typing import Any

from gankit.errors import GankitError

__all__ = ["choice", "is_resumable", "option", "option_help", "positive_int", "positive_ints"]


def option(default: Any, help: str, *, resumable: bool = False) -> Any:
    """A config field with its `--help` text; `resumable`: `--resume` may give it a new value."""
    return dataclasses.field(default=default, metadata={"help": help, "resumable": resumable})


def option_help(field: dataclasses.Field) -> str:
    return str(field.metadata.get("help", ""))


def is_resumable(field: dataclasses.Field) -> bool:
    return bool(field.metadata.get("resumable", False))


def positive_int(name: str, value: Any) -> None:
    """`--name` must be an integer >= 1 (a bool is not an integer here)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise GankitError(f"--{name.replace('_', '-')} must be an integer >= 1, got {value!r}")


def positive_ints(group: object, *names: str, optional: bool = False) -> None:
    """`positive_int` for each field of `group` named; with `optional`, None passes."""
    for name in names:
        value = getattr(group, name)
        if not (optional and value is None):
            positive_int(name, value)


def choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise GankitError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")
