"""Command-line interface: parse, validate into a config, call the library. Nothing else."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from gankit import __version__
from gankit.config import TrainConfig
from gankit.errors import GankitError

if TYPE_CHECKING:
    from gankit.sampling.rejection import DRSOptions

HELP = {
    "dataset": (
        "mnist-5k, mnist, fashion-mnist, digits, stacked-mnist, gaussian-1d, ring8, grid25 or folder:PATH"
    ),
    "model": "model name: dcgan, mlp, keras-mnist, resnet, toy-mlp, toy-mlp-deep, toy-pacgan",
    "loss": "loss: non-saturating, minimax, hinge, wasserstein, least-squares, rsgan or ragan",
    "k": "discriminator steps per generator step",
    "batch_size": "m: real and fake samples per discriminator step",
    "steps": "training iterations (generator updates); default 1000 unless --epochs",
    "epochs": "passes of D over the training split, instead of --steps",
    "optimizer": "adam or sgd",
    "lr_g": "generator learning rate (default: 2e-4 for adam, 1e-3 for sgd)",
    "lr_d": "discriminator learning rate (default: 2e-4 for adam, 1e-3 for sgd)",
    "beta1": "Adam beta1",
    "beta2": "Adam beta2",
    "momentum": "SGD momentum",
    "nesterov": "SGD Nesterov momentum",
    "noise": "noise prior p_z: uniform on [-1,1] or normal",
    "noise_dim": "noise dimension",
    "image_size": "resize images to this size (default: the dataset's own; 64 for folder:)",
    "channels": "convert images to 1 (gray) or 3 (RGB) channels",
    "gaussian_mean": "mean of the gaussian-1d data density",
    "gaussian_std": "standard deviation of the gaussian-1d data density",
    "stack_source": "stacked-mnist: the one-channel labelled set whose digits are stacked",
    "stack_size": "stacked-mnist: images in the train split",
    "seed": "random seed",
    "device": "auto (cuda, then mps, then cpu), cpu, cuda or mps",
    "deterministic": "use deterministic algorithms (exact resume on CPU)",
    "out": "run directory",
    "data_dir": "where to look for (and download) IDX files; also $GANKIT_DATA",
    "sample_every": "write a sample grid every N steps",
    "checkpoint_every": "write a checkpoint every N steps",
    "log_every": "append to metrics.jsonl every N steps",
    "eval_every": "evaluate the generator every N steps into metrics.jsonl (eval.json at the end)",
    "eval_metrics": "comma-separated metrics for --eval-every (default: all that apply)",
    "eval_n": "generated samples per metric during training (default: each metric's own)",
    "alarm_dominance": "alarm when D dominates and G's gradient collapses",
    "alarm_collapse": "alarm when samples of the fixed noise batch lose diversity (mode collapse)",
    "alarm_window": "steps a dominance pattern must last, and steps before the collapse alarm may start",
    "watch_every": "steps between sample-diversity checks for the collapse alarm (at a logged step)",
    "nan_watchdog": "on a NaN/Inf loss or gradient: restore the last checkpoint and halve the learning rates",
    "max_recoveries": "NaN/Inf recoveries before training stops with an error",
    "tensorboard": "log to RUN_DIR/tensorboard when the tensorboard package is installed",
    "sync_bn": "under torchrun: BatchNorm statistics over all ranks (SyncBatchNorm, CUDA only)",
    "lr_scaling": "under torchrun: scale learning rates by world size: none, linear or sqrt",
    "dist_timeout": "under torchrun: seconds a collective may wait (e.g. on a dead rank) before failing",
    "channels_last": "fast path: image models and batches in channels-last memory layout "
    "(same math; not under --compile)",
    "fused_optimizer": "fast path: Adam's fused kernel (same math up to float rounding)",
    "spectral_norm": "spectral normalization on every weight of D (Miyato et al. 2018)",
    "r1": "R1 penalty weight gamma on real data (Mescheder et al. 2018); 0 is off",
    "r1_interval": "apply R1 every N discriminator steps, scaled by N (lazy regularization, StyleGAN2)",
    "gp": "gradient penalty weight lambda at real/fake interpolates (WGAN-GP); 0 is off",
    "pack": "PacGAN: D judges m samples at once (Lin et al. 2018); 1 is off",
    "minibatch_std": "minibatch standard deviation feature before D's last layer (Karras et al. 2018)",
    "minibatch_disc": "minibatch discrimination before D's last layer with this many kernels "
    "(Salimans et al. 2016); 0 is off",
    "diffaugment": "DiffAugment policy for real and fake images, e.g. color,translation,cutout",
    "ema_half_life": "keep an EMA of G's weights with this half-life in images; sample/eval use it",
    "conditional": "class-conditional G (one-hot labels) and projection D (Miyato & Koyama 2018)",
    "self_condition": "self-conditioned GAN (Liu et al. 2020): conditional G and projection D on K "
    "k-means clusters of D's features of the training images; 0 is off",
    "recluster_every": "--self-condition: cluster the training images again every N steps",
    "cluster_space": "--self-condition: cluster D's features of the training images (discriminator, "
    "as Liu et al.), the images themselves (pixels: one clustering, since pixels do not change), or "
    "each channel on its own (channels: K clusters per channel, an image's label the tuple of them)",
    "recluster_until": "--self-condition: no new clustering after this fraction of the steps (e.g. where "
    "--lr-decay-start begins), so G ends on the labels it trained with",
    "compile": "torch.compile G's and D's forward passes (same math; compile time at the first steps)",
    "compile_mode": "torch.compile mode; reduce-overhead adds CUDA graphs (CUDA only)",
    "precision": "auto (bf16 on CUDA, fp32 elsewhere), fp32, tf32 (CUDA) or bf16: autocast of G's and D's "
    "forward passes; weights, optimizer state and losses stay fp32. On a CPU with bf16 instructions "
    "(avx512_bf16, amx_bf16) bf16 is opt-in and faster: see docs/performance.md",
    "d_concat": "D sees real and fake as one batch (one pass; changes BatchNorm statistics, as in "
    "Keras; with a BatchNorm D, e.g. dcgan, G may not learn: see docs/performance.md)",
    "reuse_fakes": "G's step reuses the last D step's fakes instead of fresh noise, as pytorch/examples "
    "does (one G forward fewer; changes Algorithm 1)",
    "nan_check_every": "NaN/Inf watchdog: check every N steps, one host sync each (default: 1 on CPU, "
    "--log-every on CUDA)",
    "ema_rampup": "EMA half-life at most this fraction of the images seen so far (StyleGAN2-ADA's ramp-up)",
    "lr_decay_start": "after this fraction of the steps, both learning rates fall linearly to 0 at the end",
    "g_width": "G's base channel count (dcgan: ngf; resnet: channels per block; default: 64)",
    "d_width": "D's base channel count (dcgan: ndf; resnet: channels per block; default: 64)",
}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one `error:` line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _scalar_type(hint: Any) -> Any:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(TrainConfig)
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        kind = _scalar_type(hints[field.name])
        text = f"{HELP[field.name]} (default: {field.default})"
        if kind is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text
            )
        else:
            parser.add_argument(
                flag, type=kind, default=argparse.SUPPRESS, help=text, metavar=kind.__name__.upper()
            )


def _add_drs_flags(parser: argparse.ArgumentParser) -> None:
    """--drs and its settings, for `sample` and `eval` (see gankit.sampling.rejection)."""
    parser.add_argument(
        "--drs",
        action="store_true",
        help="keep samples by discriminator rejection sampling with the run's last D (default: off)",
    )
    parser.add_argument(
        "--drs-gamma",
        type=float,
        default=0.0,
        help="DRS shift of the acceptance logit: > 0 keeps fewer, more convincing samples (default: 0)",
    )
    parser.add_argument(
        "--drs-burn-in",
        type=int,
        default=10_000,
        metavar="N",
        help="DRS candidates whose largest score sets log M (default: 10000)",
    )
    parser.add_argument(
        "--drs-refine-steps",
        type=int,
        default=0,
        metavar="N",
        help="first train a copy of D N more steps against the sampled G, frozen, on the run's "
        "training data, so its logit estimates log p_data/p_g for that G (default: 0)",
    )
    parser.add_argument(
        "--drs-refine-lr",
        type=float,
        default=1e-4,
        metavar="LR",
        help="Adam learning rate of --drs-refine-steps (default: 0.0001)",
    )
    parser.add_argument(
        "--drs-critic",
        choices=("discriminator", "fourier"),
        default="discriminator",
        help="what judges candidates: the run's D, or (points only) a fresh classifier on random "
        "Fourier features trained --drs-refine-steps steps (default: discriminator)",
    )
    parser.add_argument(
        "--drs-fourier-scale",
        type=float,
        default=2.0,
        metavar="S",
        help="standard deviation of the fourier critic's random frequencies, per data unit: it sees "
        "detail down to about 1/(2S) data units (default: 2)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gankit", description="Train, sample and check generative adversarial networks.")
    parser.add_argument("--version", action="version", version=f"gankit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = sub.add_parser("train", help="train a GAN (Algorithm 1 of Goodfellow et al. 2014)")
    _add_config_options(train)
    train.add_argument(
        "--resume",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="continue the run in DIR from its latest checkpoint (default: none)",
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
    sample.add_argument(
        "--no-ema",
        action="store_true",
        help="G's own weights instead of their EMA, where kept (default: EMA)",
    )
    _add_drs_flags(sample)

    evaluate = sub.add_parser("eval", help="score a trained generator; writes RUN_DIR/eval.json")
    evaluate.add_argument("run_dir", metavar="RUN_DIR", help="a run directory")
    evaluate.add_argument("--metrics", default=None, help="comma-separated names (default: all that apply)")
    evaluate.add_argument("--n", type=int, default=None, help="generator samples (default: per metric)")
    evaluate.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    evaluate.add_argument(
        "--no-ema",
        action="store_true",
        help="G's own weights instead of their EMA, where kept (default: EMA)",
    )
    _add_drs_flags(evaluate)

    report = sub.add_parser("report", help="write RUN_DIR/report.html (or serve it live with --serve)")
    report.add_argument("run_dir", metavar="RUN_DIR", help="a run directory")
    report.add_argument(
        "--serve", action="store_true", help="serve it on 127.0.0.1, refreshing while training runs"
    )
    report.add_argument("--port", type=int, default=8000, help="port for --serve (default: 8000)")

    theory = sub.add_parser("theory", help="check the theory of Goodfellow et al. 2014 and draw its figures")
    theory.add_argument(
        "--out", default="runs/theory", help="directory for the figures (default: runs/theory)"
    )
    theory.add_argument(
        "--quick", action="store_true", help="short training runs, under a minute (default: off)"
    )
    theory.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    return parser


def _cmd_theory(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gankit.theory.report import format_report, run_theory

    report = run_theory(Path(args.out), quick=args.quick, seed=args.seed)
    print(format_report(report))
    return 0 if report.passed else 1


def _cmd_report(args: argparse.Namespace) -> int:
    from gankit.outputs.report import make_server, write_report

    if not args.serve:
        print(f"wrote {write_report(args.run_dir)}")
        return 0
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
    from gankit.metrics import evaluate_run, parse_names

    if args.n is not None and args.n < 1:
        raise GankitError(f"--n must be >= 1, got {args.n}")
    drs = _drs_options(args)
    wrap, variant = None, ""  # the CLI names the variant: `<metric>+drs...` beside the plain scores
    if drs is not None:
        from gankit.sampling.rejection import rejection_wrapper

        wrap, variant = rejection_wrapper(args.run_dir, drs, seed=args.seed), drs.score_suffix
    names = parse_names(args.metrics)
    results = evaluate_run(
        args.run_dir, names, args.n, args.seed, ema=not args.no_ema, wrap=wrap, variant=variant
    )
    print(json.dumps(results, indent=2))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gankit.runtime.distributed import restart_count
    from gankit.training.resume import resume
    from gankit.training.trainer import Trainer

    options = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)
    }
    progress = not args.no_progress
    if not hasattr(args, "resume") and restart_count() > 0 and not args.dry_run:
        out = options.get("out", TrainConfig.out)
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
    main = trainer.dist.is_main
    if main and trainer.dist.enabled:
        if restart_count() > 0:
            print(f"elastic restart {restart_count()}: resuming {trainer.run_dir} at step {trainer.step}")
        print(trainer.layout_line())
    trainer.fit()
    c = trainer.config
    if main:
        print(
            f"trained {c.model} on {c.dataset} for {c.steps} steps "
            f"in {trainer.elapsed:.1f} s -> {trainer.run_dir}"
        )
    return 0


def _drs_options(args: argparse.Namespace) -> DRSOptions | None:
    from gankit.sampling.rejection import DRSOptions

    defaults = DRSOptions()
    options = DRSOptions(
        burn_in=args.drs_burn_in,
        gamma=args.drs_gamma,
        refine_steps=args.drs_refine_steps,
        refine_lr=args.drs_refine_lr,
        critic=args.drs_critic,
        fourier_scale=args.drs_fourier_scale,
    )
    if not args.drs:
        if options != defaults:
            raise GankitError(
                "--drs-gamma, --drs-burn-in, --drs-critic, --drs-fourier-scale and --drs-refine-* need --drs"
            )
        return None
    return options.validated()


def _cmd_sample(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gankit.sampling.generator import generate, interpolate, load_generator, write_samples

    if args.n < 1:
        raise GankitError(f"--n must be >= 1, got {args.n}")
    generator, info = load_generator(args.source, args.device, ema=not args.no_ema)
    drs = _drs_options(args)
    if drs is not None:
        from gankit.sampling.rejection import load_rejection_sampler

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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gankit` console script."""
    from gankit.training.trainer import TrainingInterrupted

    args = build_parser().parse_args(argv)
    try:
        commands = {"report": _cmd_report, "train": _cmd_train, "sample": _cmd_sample}
        commands.update(theory=_cmd_theory, eval=_cmd_eval)
        return commands[args.command](args)
    except GankitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TrainingInterrupted as exc:
        print(f"{exc}; checkpoint written. Continue with: gankit train --resume DIR", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        lost = _lost_group_message(exc)
        if lost is None:
            raise
        print(lost, file=sys.stderr)
        return 3
    finally:
        from gankit.runtime.distributed import shutdown

        shutdown()


def _lost_group_message(exc: RuntimeError) -> str | None:
    """One line for a collective that failed because another rank died or timed out (else None)."""
    import torch.distributed as dist

    if not dist.is_initialized():
        return None
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"error: rank {dist.get_rank()} of {dist.get_world_size()} lost the process group "
        f"(another rank died or --dist-timeout passed): {detail}"
    )
