"""Command-line interface: parse, validate into a config, call the library. Nothing else.

`gankit train` takes one flag per config option (`gankit.config`), grouped in `--help` as the
config is; the commands themselves are in `gankit.cli.commands`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
import typing
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

import torch.distributed as dist

from gankit import __version__
from gankit.cli.commands import COMMANDS
from gankit.cli.drs import add_drs_flags
from gankit.config import TrainConfig
from gankit.config.options import option_help, scalar_type
from gankit.errors import GankitError
from gankit.runtime.distributed import shutdown
from gankit.training.trainer import TrainingInterrupted

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one `error:` line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One flag per config option (`--lr-g` for `lr_g`), in an argument group per config group."""
    groups: dict[str, Any] = {}
    for group, field, kind in TrainConfig.options():
        if group not in groups:
            groups[group] = parser.add_argument_group(f"{group} options", (kind.__doc__ or "").strip())
        flag = "--" + field.name.replace("_", "-")
        scalar = scalar_type(typing.get_type_hints(kind)[field.name])[0]
        text = f"{option_help(field)} (default: {field.default})"
        if scalar is bool:
            groups[group].add_argument(
                flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text
            )
        else:
            groups[group].add_argument(
                flag, type=scalar, default=argparse.SUPPRESS, help=text, metavar=scalar.__name__.upper()
            )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gankit", description="Train, sample and check generative adversarial networks.")
    parser.add_argument("--version", action="version", version=f"gankit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (
        _train_parser,
        _presets_parser,
        _sample_parser,
        _eval_parser,
        _report_parser,
        _theory_parser,
        _dataset_parser,
    ):
        add(sub)
    return parser


def _train_parser(sub: Any) -> None:
    train = sub.add_parser("train", help="train a GAN (Algorithm 1 of Goodfellow et al. 2014)")
    add_config_options(train)
    train.add_argument(
        "--resume",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="continue the run in DIR from its latest checkpoint (default: none)",
    )
    train.add_argument(
        "--preset",
        metavar="NAME",
        default=None,
        help="start from a shipped recipe (`gankit presets` lists them); --config and flags override it",
    )
    train.add_argument(
        "--no-default-recipe",
        action="store_true",
        help="start a dcgan or resnet run from the library's defaults, not the demo preset's training "
        "settings that image models otherwise start from (default: off)",
    )
    train.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="options from a TOML file (tables named for the option groups) or a run's config.json; "
        "flags override it (default: none)",
    )
    train.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved config as a TOML file for --config, and exit (default: off)",
    )
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="if --out holds a run, delete that run's files first (default: refuse)",
    )
    train.add_argument(
        "--outdir",
        metavar="DIR",
        default=None,
        help="put the run in a new numbered sub-folder of DIR, e.g. DIR/00001-mnist-5k-dcgan (default: none)",
    )
    train.add_argument(
        "--dry-run", action="store_true", help="print the resolved config and exit (default: off)"
    )
    train.add_argument(
        "--quiet",
        "--no-progress",
        dest="no_progress",
        action="store_true",
        help="no progress bar: logs, alarms and errors only (default: off)",
    )


def _presets_parser(sub: Any) -> None:
    sub.add_parser("presets", help="list the shipped recipes for `gankit train --preset NAME`")


def _sample_parser(sub: Any) -> None:
    sample = sub.add_parser("sample", help="draw samples from a trained generator")
    sample.add_argument(
        "source", metavar="RUN_DIR_OR_GENERATOR", help="run directory or generator.safetensors"
    )
    sample.add_argument("--n", type=int, default=64, help="number of samples (default: 64)")
    sample.add_argument("--out", required=True, help="FILE.png (grid), FILE.npz, or a directory of PNGs")
    sample.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    sample.add_argument("--device", default="cpu", help="device to sample on (default: cpu)")
    sample.add_argument(
        "--class",
        dest="label",
        type=int,
        default=None,
        metavar="K",
        help="class to draw from a conditional generator (default: classes in turn)",
    )
    sample.add_argument(
        "--interpolate",
        action="store_true",
        help="a .png of --n strips, each walking between two noise vectors (default: off)",
    )
    sample.add_argument("--frames", type=int, default=10, help="images per --interpolate strip (default: 10)")
    _add_generator_flags(sample)


def _dataset_parser(sub: Any) -> None:
    dataset = sub.add_parser("dataset", help="prepare a folder or zip of images for training")
    actions = dataset.add_subparsers(dest="action", required=True, parser_class=_Parser)
    prepare = actions.add_parser(
        "prepare",
        help="decode, resize and centre-crop every image once into DEST (train on it as folder:DEST)",
    )
    prepare.add_argument("source", metavar="SRC", help="a folder of images (recursive) or a zip archive")
    prepare.add_argument("dest", metavar="DEST", help="the prepared dataset's folder (must not exist)")
    prepare.add_argument("--size", type=int, required=True, help="image size in pixels, a power of two")
    prepare.add_argument(
        "--channels", type=int, default=None, help="1 (gray) or 3 (RGB) (default: 3 if any image is colour)"
    )
    prepare.add_argument("--overwrite", action="store_true", help="replace a prepared dataset at DEST")


def _eval_parser(sub: Any) -> None:
    evaluate = sub.add_parser("eval", help="score a trained generator; writes RUN_DIR/eval.json")
    evaluate.add_argument("run_dir", metavar="RUN_DIR", help="a run directory")
    evaluate.add_argument("--metrics", default=None, help="comma-separated names (default: all that apply)")
    evaluate.add_argument("--n", type=int, default=None, help="generator samples (default: per metric)")
    evaluate.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    evaluate.add_argument(
        "--inception-weights",
        metavar="PATH",
        default=None,
        help="Inception-v3 weights file for the inception metric (default: the run's setting, "
        "$GANKIT_INCEPTION_WEIGHTS, then torch's hub cache)",
    )
    _add_generator_flags(evaluate)


def _add_generator_flags(parser: argparse.ArgumentParser) -> None:
    """What `sample` and `eval` share: which weights to load, and rejection sampling around them."""
    parser.add_argument(
        "--no-ema",
        action="store_true",
        help="G's own weights instead of their EMA, where kept (default: EMA)",
    )
    add_drs_flags(parser)


def _report_parser(sub: Any) -> None:
    report = sub.add_parser("report", help="write RUN_DIR/report.html (or serve it live with --serve)")
    report.add_argument("run_dir", metavar="RUN_DIR", help="a run directory")
    report.add_argument(
        "--serve", action="store_true", help="serve it on 127.0.0.1, refreshing while training runs"
    )
    report.add_argument("--port", type=int, default=8000, help="port for --serve (default: 8000)")


def _theory_parser(sub: Any) -> None:
    theory = sub.add_parser("theory", help="check the theory of Goodfellow et al. 2014 and draw its figures")
    theory.add_argument(
        "--out", default="runs/theory", help="directory for the figures (default: runs/theory)"
    )
    theory.add_argument(
        "--quick", action="store_true", help="short training runs, under a minute (default: off)"
    )
    theory.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gankit` console script.

    The error boundary: a `GankitError` (bad input) or a failed file operation is one `error:`
    line and exit code 2; a rank that lost its process group exits 3; anything else is one line
    naming a log file that holds the traceback, exit 1 (`gankit --debug ...` raises it instead).
    """
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            return COMMANDS[args.command](args)
    except GankitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TrainingInterrupted as exc:
        print(f"{exc}; checkpoint written. Continue with: gankit train --resume DIR", file=sys.stderr)
        return 130
    except OSError as exc:
        if args.debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        lost = _lost_group_message(exc) if isinstance(exc, RuntimeError) else None
        if lost is not None:
            print(lost, file=sys.stderr)
            return 3
        if args.debug:
            raise
        print(f"error: {_unexpected(exc)}", file=sys.stderr)
        return 1
    finally:
        shutdown()


def _one_line_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """A warning as one `warning:` line on stderr (the CLI's form; Python's shows source lines)."""
    print(f"warning: {message}", file=sys.stderr)


def _unexpected(exc: Exception) -> str:
    """One line for an error gankit did not expect, with the traceback written to a log file."""
    handle, path = tempfile.mkstemp(prefix="gankit-error-", suffix=".log")
    with os.fdopen(handle, "w") as log:
        log.write("".join(traceback.format_exception(exc)))
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"unexpected {type(exc).__name__}: {detail} (traceback in {path}; gankit --debug shows it)"


def _lost_group_message(exc: RuntimeError) -> str | None:
    """One line for a collective that failed because another rank died or timed out (else None)."""
    if not dist.is_initialized():
        return None
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"error: rank {dist.get_rank()} of {dist.get_world_size()} lost the process group "
        f"(another rank died or --dist-timeout passed): {detail}"
    )
