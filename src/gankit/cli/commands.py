"""What each `gankit` command does once its arguments are parsed: call the library, print a line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from gankit.cli.drs import drs_options
from gankit.config import TrainConfig
from gankit.config.defaults import default_recipe, describe
from gankit.config.files import compose, list_presets, load_preset, read_config_file, to_toml
from gankit.config.options import has_control_character, positive_int, seed_in_range
from gankit.errors import GankitError
from gankit.metrics import evaluate_run, parse_names
from gankit.outputs.report import make_server, write_report
from gankit.outputs.rundir import RunLock, clear_run, find_run, numbered_run_dir
from gankit.runtime.distributed import environment_world_size, restart_count
from gankit.sampling.generator import generate, interpolate, load_generator, write_samples
from gankit.sampling.rejection import load_rejection_sampler, rejection_wrapper
from gankit.theory.report import format_report, run_theory
from gankit.training.resume import resume
from gankit.training.setup import data_line, resolve_device
from gankit.training.trainer import Trainer

__all__ = ["COMMANDS"]


def _paths(args: argparse.Namespace, *names: str) -> None:
    """Each path argument named must be a usable path: not empty, no control characters."""
    for name in names:
        value = getattr(args, name, None)
        if value is None:
            continue
        if not value.strip() or has_control_character(value):
            flag = name.upper() if name in ("run_dir", "source", "dest") else "--" + name.replace("_", "-")
            raise GankitError(f"{flag} {value!r} is not a usable path")


def _cmd_theory(args: argparse.Namespace) -> int:
    seed_in_range("seed", args.seed)
    _paths(args, "out")
    report = run_theory(Path(args.out), quick=args.quick, seed=args.seed)
    print(format_report(report))
    return 0 if report.passed else 1


def _cmd_report(args: argparse.Namespace) -> int:
    _paths(args, "run_dir")
    if not args.serve:
        with RunLock(args.run_dir, "report"):
            print(f"wrote {write_report(args.run_dir)}")
        return 0
    if not 0 <= args.port <= 65535:
        raise GankitError(f"--port must be in 0..65535 (0: any free port), got {args.port}")
    try:
        server = make_server(args.run_dir, args.port)
    except OSError as err:
        raise GankitError(f"cannot serve on 127.0.0.1:{args.port}: {err.strerror}") from None
    print(
        f"serving the report of {args.run_dir} on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    if args.n is not None:
        positive_int("n", args.n)
    seed_in_range("seed", args.seed)
    _paths(args, "run_dir", "inception_weights")
    if args.inception_weights is not None and not Path(args.inception_weights).is_file():
        raise GankitError(f"--inception-weights {args.inception_weights}: no such file")
    drs = drs_options(args)
    wrap, variant = None, ""  # the CLI names the variant: `<metric>+drs...` beside the plain scores
    if drs is not None:
        wrap, variant = rejection_wrapper(args.run_dir, drs, seed=args.seed), drs.score_suffix
    names = parse_names(args.metrics)
    with RunLock(args.run_dir, "eval"):
        results = evaluate_run(
            args.run_dir,
            names,
            args.n,
            args.seed,
            ema=not args.no_ema,
            wrap=wrap,
            variant=variant,
            inception_weights=args.inception_weights,
            announce=lambda line: print(line, file=sys.stderr),
        )
    print(json.dumps(results, indent=2))
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    presets = list_presets()
    width = max(len(p.name) for p in presets)
    for preset in presets:
        print(f"{preset.name:<{width}}  {preset.description} [{preset.source}]")
    return 0


def _train_options(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's options: the preset's, then the config file's, then the flags given; and the
    recipe settings a new run without preset or file took by default (`gankit.config.defaults`)."""
    flags = {
        field.name: getattr(args, field.name)
        for _, field, _ in TrainConfig.options()
        if hasattr(args, field.name)
    }
    layers = []
    if args.preset is not None or args.config is not None:
        if hasattr(args, "resume"):
            raise GankitError("--preset and --config start a new run: a resume keeps its saved config")
        if args.preset is not None:
            layers.append(load_preset(args.preset).options)
        if args.config is not None:
            _paths(args, "config")
            layers.append(read_config_file(args.config))
        return compose(*layers, flags), {}
    distributed = environment_world_size() > 1
    recipe = {} if hasattr(args, "resume") or args.no_default_recipe else default_recipe(flags, distributed)
    return compose(recipe, flags), recipe


def _cmd_train(args: argparse.Namespace) -> int:
    options, recipe = _train_options(args)
    progress = not args.no_progress
    _paths(args, "outdir", "resume")
    if args.print_config:
        if hasattr(args, "resume"):
            raise GankitError("--print-config shows a new run's config: a resumed run's is its config.json")
        print(to_toml(TrainConfig(**options).validated()), end="")
        return 0
    if args.outdir is not None:
        if "out" in options or hasattr(args, "resume"):
            raise GankitError("--outdir makes a new numbered run folder: give it without --out and --resume")
        if environment_world_size() > 1:
            raise GankitError("--outdir cannot number runs under torchrun: give every rank the same --out")
        config = TrainConfig(**options).validated()
        options["out"] = str(numbered_run_dir(args.outdir, config.data.dataset, config.architecture.model))
    if args.overwrite and hasattr(args, "resume"):
        raise GankitError("--overwrite starts a new run in place of the old: it does not go with --resume")
    if not hasattr(args, "resume") and restart_count() > 0 and not args.dry_run:
        out = options.get("out", TrainConfig().run.out)
        if (Path(out) / "checkpoint" / "latest.json").is_file():  # torchrun --max-restarts restarted us
            args.resume = out
    if hasattr(args, "resume"):
        if "out" in options and options["out"] != args.resume:
            raise GankitError("--resume DIR and --out name different directories")
        options.pop("out", None)
        if args.dry_run:
            print(json.dumps(options, indent=2))
            return 0
        trainer = resume(args.resume, options, progress=progress)
    else:
        config = TrainConfig(**options).validated()
        if args.dry_run:
            print(json.dumps(config.to_dict(), indent=2))
            return 0
        trainer = Trainer(config, progress=progress)
        if args.overwrite and trainer.dist.is_main:
            _clear_for(trainer)
    main = trainer.dist.is_main
    if main and recipe:
        print(describe(recipe, distributed=trainer.dist.enabled))
    if main and (line := data_line(trainer.dataset, trainer.batches)) is not None:
        print(line)
    if main and trainer.config.run.precision == "bf16-native":
        print(f"precision: bf16-native is {trainer.precision} on this {trainer.device.type}")
    if main and trainer.dist.enabled:
        if restart_count() > 0:
            print(f"elastic restart {restart_count()}: resuming {trainer.run_dir} at step {trainer.step}")
        print(trainer.layout_line())
    trainer.fit()
    c = trainer.config
    if main:
        print(
            f"trained {c.architecture.model} on {c.data.dataset} for {c.optimization.steps} steps "
            f"in {trainer.elapsed:.1f} s -> {trainer.run_dir}"
        )
    return 0


def _clear_for(trainer: Trainer) -> None:
    """--overwrite: take the run directory and remove the old run's files; the trainer keeps the lock."""
    lock = RunLock(trainer.run_dir, "training", create=True).acquire()
    found = find_run(trainer.run_dir)
    try:
        removed = clear_run(trainer.run_dir)
    except BaseException:
        lock.release()
        raise
    trainer.run_lock = lock
    if removed:
        print(f"--overwrite: removed the run in {trainer.run_dir} ({found}): {', '.join(removed)}")


def _cmd_sample(args: argparse.Namespace) -> int:
    positive_int("n", args.n)
    positive_int("frames", args.frames)
    seed_in_range("seed", args.seed)
    _paths(args, "source", "out")
    resolve_device(args.device)
    generator, info = load_generator(args.source, args.device, ema=not args.no_ema)
    drs = drs_options(args)
    if drs is not None:
        if args.interpolate:
            raise GankitError("--drs drops samples, so it cannot draw --interpolate strips")
        source = Path(args.source)
        run_dir = source.parent if source.suffix == ".safetensors" else source
        generator = load_rejection_sampler(run_dir, generator, info, drs, args.seed, args.device)
    if args.interpolate:
        if info.kind != "image" or Path(args.out).suffix != ".png":
            raise GankitError(
                "--interpolate writes image strips: it needs an image generator and --out FILE.png"
            )
        strips = interpolate(generator, info, args.n, args.frames, args.seed, args.device, args.label)
        path = write_samples(strips, info, args.out, nrow=args.frames)
        print(f"wrote {args.n} interpolation strips of {args.frames} images to {path}")
        return 0
    samples = generate(generator, info, args.n, seed=args.seed, device=args.device, label=args.label)
    path = write_samples(samples, info, args.out)
    print(f"wrote {args.n} samples to {path}")
    return 0


def _cmd_dataset(args: argparse.Namespace) -> int:
    from gankit.data.prepared import prepare_dataset

    _paths(args, "source", "dest")
    positive_int("size", args.size)
    if args.channels not in (None, 1, 3):
        raise GankitError(f"--channels must be 1 or 3, got {args.channels}")
    start = time.perf_counter()
    manifest = prepare_dataset(args.source, args.dest, args.size, args.channels, args.overwrite)
    classes = f", {len(manifest['classes'])} classes from sub-folders" if manifest["classes"] else ""
    print(
        f"prepared {manifest['count']} images of {args.size}x{args.size}x{manifest['channels']}{classes} "
        f"in {time.perf_counter() - start:.1f} s -> {args.dest} (sha256 {manifest['sha256'][:16]})"
    )
    return 0


COMMANDS = {
    "dataset": _cmd_dataset,
    "train": _cmd_train,
    "presets": _cmd_presets,
    "sample": _cmd_sample,
    "eval": _cmd_eval,
    "report": _cmd_report,
    "theory": _cmd_theory,
}
