"""The command line's discriminator rejection sampling flags (`gankit sample` and `gankit eval`),
and the `DRSOptions` they give (`gankit.sampling.rejection`)."""

from __future__ import annotations

import argparse

from gankit.errors import GankitError
from gankit.sampling.rejection import DRSOptions

__all__ = ["add_drs_flags", "drs_options"]


def add_drs_flags(parser: argparse.ArgumentParser) -> None:
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


def drs_options(args: argparse.Namespace) -> DRSOptions | None:
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
