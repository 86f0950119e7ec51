"""How a config option is declared and checked: its help text and whether a resume may change it
live beside its field (`option`), and small checks give one-line errors naming the flag."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from typing import Any

from gankit.errors import GankitError

__all__ = [
    "MAX_SEED",
    "SIZE_LIMITS",
    "check_type",
    "choice",
    "has_control_character",
    "is_resumable",
    "option",
    "option_help",
    "positive_int",
    "positive_ints",
    "size_limit",
]


def option(default: Any, help: str, *, resumable: bool = False) -> Any:
    """A config field with its `--help` text; `resumable`: `--resume` may give it a new value."""
    return dataclasses.field(default=default, metadata={"help": help, "resumable": resumable})


def option_help(field: dataclasses.Field) -> str:
    return str(field.metadata.get("help", ""))


def is_resumable(field: dataclasses.Field) -> bool:
    return bool(field.metadata.get("resumable", False))


# Upper bounds on sizes that go straight to the allocator or to a loop: far above any sensible
# run on one machine, low enough that a typo is one clear line instead of an out-of-memory abort.
SIZE_LIMITS = {
    "batch_size": 1 << 16,
    "k": 1000,
    "steps": 10**9,
    "noise_dim": 1 << 16,
    "g_width": 1 << 12,
    "d_width": 1 << 12,
    "pack": 64,
    "image_size": 1024,
    "stack_size": 10**7,
    "eval_n": 10**7,
    "n": 10**7,
    "frames": 1000,
    "minibatch_disc": 1 << 12,
    "self_condition": 10**5,
    "r1_interval": 10**6,
    "alarm_window": 10**6,
}
NO_LIMITS_ENV = "GANKIT_NO_SIZE_LIMITS"


def size_limit(name: str, value: int) -> None:
    """Refuse `value` above `SIZE_LIMITS[name]`, saying how to lift the limit."""
    limit = SIZE_LIMITS.get(name)
    if limit is not None and value > limit and not os.environ.get(NO_LIMITS_ENV):
        raise GankitError(
            f"--{name.replace('_', '-')} {value} is above gankit's limit of {limit} "
            f"(set {NO_LIMITS_ENV}=1 to lift the size limits)"
        )


MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes up to 64 bits; JSON readers 63 safely


def seed_in_range(name: str, value: Any) -> None:
    """`--name` must be an integer seed in [0, MAX_SEED]."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SEED:
        raise GankitError(f"--{name.replace('_', '-')} must be an integer in [0, {MAX_SEED}], got {value!r}")


def positive_int(name: str, value: Any) -> None:
    """`--name` must be an integer >= 1 (a bool is not an integer here), within `SIZE_LIMITS`."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise GankitError(f"--{name.replace('_', '-')} must be an integer >= 1, got {value!r}")
    size_limit(name, value)


def positive_ints(group: object, *names: str, optional: bool = False) -> None:
    """`positive_int` for each field of `group` named; with `optional`, None passes."""
    for name in names:
        value = getattr(group, name)
        if not (optional and value is None):
            positive_int(name, value)


def has_control_character(text: str) -> bool:
    """Whether `text` holds a control character (ASCII 0-31 or DEL), which no option or path may."""
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def scalar_type(hint: Any) -> tuple[type, bool]:
    """(the scalar type, whether None is allowed) of a field annotation such as `int | None`."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = typing.get_args(hint)
        return next(a for a in args if a is not type(None)), type(None) in args
    return hint, False


def check_type(name: str, value: Any, hint: Any) -> None:
    """`value` must be of the field's type: a bool is not an int, an int is a float."""
    scalar, optional = scalar_type(hint)
    if value is None and optional:
        return
    if scalar is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif scalar is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, scalar)
    if not ok:
        kind = scalar.__name__ + (" or null" if optional else "")
        raise GankitError(f"{name} must be {kind}, got {value!r}")


def choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise GankitError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")
