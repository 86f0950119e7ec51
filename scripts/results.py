"""Train recipes over seeds, score them with gankit's metrics, print the tables of docs/results.md.

    .venv/bin/python scripts/results.py --dataset ring8 --recipes vanilla,pack4-ema --seeds 10

Every run appends one JSON line to OUT/results.jsonl (a run already there is not trained
again), so an interrupted sweep continues where it stopped. Each row reports the mean and
its standard error over seeds, with the wall-clock training time and the images D saw.
`--rescore` scores runs already there through DRS with new settings, without training.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import time
from pathlib import Path
from typing import Any

import torch

from gankit.config import TrainConfig
from gankit.errors import GankitError
from gankit.outputs.files import atomic_write_bytes, dumps, read_json, restore_nonfinite
from gankit.recipes import METRICS, RECIPES, family, run_overrides
from gankit.sampling.rejection import DRSOptions
from gankit.training.trainer import Trainer


def run_one(
    dataset: str,
    recipe: str,
    seed: int,
    out: Path,
    extra: dict[str, Any],
    drs: bool = False,
    drs_gammas: tuple[float, ...] = (0.0,),
    drs_base: DRSOptions | None = None,
) -> dict[str, Any]:
    """Train one recipe on one seed (one CPU thread) and score its final generator.

    With `drs`, the same generator is scored again through discriminator rejection sampling
    with the final D (`gankit.sampling.rejection`), once for each of `drs_gammas`, with the other DRS
    settings of `drs_base`; those scores are `<metric>` plus `DRSOptions.score_suffix`.
    """
    kind = family(dataset)
    overrides = run_overrides(dataset, recipe, extra)
    defaults: dict[str, Any] = dict(
        device="cpu",
        eval_every=10**9,  # only the final evaluation, into eval.json
        eval_metrics=",".join(METRICS[kind]),
        sample_every=10**9,
        checkpoint_every=10**9,
        log_every=100,
        tensorboard=False,
        alarm_collapse=False,
    )
    # `--set` may override these too, e.g. checkpoint_every=2000 to keep the generator as it trains
    config = TrainConfig(
        dataset=dataset,
        seed=seed,
        out=str(out / dataset / recipe / f"seed{seed}"),
        **{**defaults, **overrides},
    )
    start = time.perf_counter()
    trainer = Trainer(config, progress=False)
    trainer.fit()
    scores = read_json(Path(config.run.out) / "eval.json")["metrics"]  # non-finite numbers restored
    c = trainer.config
    if drs:
        for options in drs_settings(drs_gammas, drs_base):
            scores.update(drs_scores(trainer, METRICS[kind], options))
    return {
        "dataset": dataset,
        "recipe": recipe,
        "seed": seed,
        "train_s": round(trainer.elapsed, 1),
        "total_s": round(time.perf_counter() - start, 1),
        "images_seen": c.optimization.steps * c.optimization.k * c.optimization.batch_size,
        "config": {k: v for k, v in overrides.items()},
        "scores": scores,
    }


def drs_settings(gammas: tuple[float, ...], base: DRSOptions | None = None) -> list[DRSOptions]:
    """One set of DRS settings per gamma, the others those of `base` (default: DRSOptions())."""
    return [dataclasses.replace(base or DRSOptions(), gamma=gamma).validated() for gamma in gammas]


def drs_key(gamma: float, refine_steps: int = 0) -> str:
    """The suffix of DRS scores, as `gankit eval` names them: `+drs`, `+drs-gamma3`, `+drs-refine2000`, ..."""
    return DRSOptions(gamma=gamma, refine_steps=refine_steps).score_suffix


def parse_set(items: list[str]) -> dict[str, Any]:
    """`--set FIELD=VALUE` items as config overrides. VALUE is JSON (`r1=1.0`, `pack=2`,
    `loss="hinge"`); for a text field a bare word is taken as it is (`loss=hinge`)."""
    kinds = {field.name: str(field.type) for _, field, _ in TrainConfig.options()}
    overrides: dict[str, Any] = {}
    for item in items:
        field, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item}: expected FIELD=VALUE")
        if field not in kinds:
            raise ValueError(f"--set {item}: {field!r} is not a TrainConfig field")
        try:
            overrides[field] = json.loads(value)
        except json.JSONDecodeError:
            if "str" not in kinds[field]:
                raise ValueError(f"--set {item}: {value!r} is not a JSON value for {field}") from None
            overrides[field] = value
    return overrides


def check_same_settings(row: dict[str, Any], extra: dict[str, Any], log: Path) -> None:
    """Raise ValueError when `row`, a run already in `log`, was trained with other settings
    than the same recipe and seed would be now with `extra` (`--steps` and `--set`): a
    finished run is reused, never retrained, so its settings must be the ones asked for."""
    # as the row stores them: tuples become lists
    wanted = json.loads(json.dumps(run_overrides(row["dataset"], row["recipe"], extra)))
    had = row.get("config", {})
    differ = sorted(k for k in set(wanted) | set(had) if wanted.get(k) != had.get(k))
    if differ:
        what = ", ".join(f"{k} {had.get(k, 'unset')} there, {wanted.get(k, 'unset')} here" for k in differ)
        raise ValueError(
            f"{log} already holds {row['dataset']} {row['recipe']} seed {row['seed']} trained with "
            f"other settings ({what}); use another --out"
        )


# `--set` fields that decide what a run writes and when, not what it learns: left out of table names.
OUTPUT_FIELDS = frozenset(
    {"sample_every", "checkpoint_every", "log_every", "eval_every", "tensorboard", "watch_every"}
)


def labelled(row: dict[str, Any]) -> str:
    """The table name of `row`'s run: its recipe, then the `--set` items it was trained with
    that change what it learns (`self-cond100 --set r1=1.0`; not `checkpoint_every=2000`)."""
    items = [item for item in row.get("set", []) if item.partition("=")[0] not in OUTPUT_FIELDS]
    return row["recipe"] + "".join(f" --set {item}" for item in items)


def parse_gammas(text: str) -> tuple[float, ...]:
    """`--drs-gamma`: one float or several, comma-separated, each finite and listed once."""
    try:
        gammas = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if not all(math.isfinite(g) for g in gammas) or len(set(gammas)) != len(gammas):
        raise argparse.ArgumentTypeError(f"gammas must be finite and distinct: {text!r}")
    return gammas


def drs_scores(trainer: Trainer, metrics: list[str], options: DRSOptions) -> dict[str, Any]:
    """`metrics` of the trainer's final generator through discriminator rejection sampling."""
    from gankit.metrics import evaluate_generator
    from gankit.sampling.rejection import RejectionSampler, real_source

    c, info = trainer.config, trainer.generator_info()
    real = real_source(trainer.dataset, info.output) if options.refine_steps else None
    pack, seed = c.architecture.pack, c.run.seed
    sampler = RejectionSampler(trainer.sampler, trainer.discriminator, info, options, pack, seed, real)
    try:
        results = evaluate_generator(
            sampler, info, trainer.dataset, metrics, seed=c.run.seed, data_options=c.data_options()
        )
    except GankitError as exc:  # e.g. too few candidates kept: the run's own scores still count
        print(f"DRS failed: {exc}", flush=True)
        return {}
    suffix = options.score_suffix
    return {f"{name}{suffix}": {**result, "sampler": sampler.summary()} for name, result in results.items()}


def rescore(row: dict[str, Any], out: Path, options: list[DRSOptions]) -> dict[str, Any]:
    """`row` with its run (under `out`) scored again through DRS with each of `options`.

    This is `gankit eval RUN --drs ... --seed SEED` on the run's final checkpoint, which
    scores what `run_one` would have with the same settings; nothing is trained.
    """
    from gankit.metrics import evaluate_run
    from gankit.sampling.rejection import rejection_wrapper

    run_dir = out / row["dataset"] / row["recipe"] / f"seed{row['seed']}"
    scores = dict(row["scores"])
    for drs in options:
        try:
            wrap = rejection_wrapper(run_dir, drs, seed=row["seed"])
            metrics = METRICS[family(row["dataset"])]
            scores.update(
                evaluate_run(run_dir, metrics, seed=row["seed"], wrap=wrap, variant=drs.score_suffix)
            )
        except GankitError as exc:
            print(f"DRS failed on {run_dir}: {exc}", flush=True)
    return {**row, "scores": scores}


_DRS_VARIANT = re.compile(
    r"(?:-gamma(?P<gamma>-?[0-9.e+-]+?))?(?P<fourier>-fourier(?P<scale>[0-9.e+-]*?))?"
    r"(?:-refine(?P<refine>[0-9]+)(?:-lr(?P<lr>[0-9.e+-]+))?)?"
)


def drs_row_name(variant: str) -> str:
    """The table name of a DRS suffix's settings.

    `-gamma3-refine2000` (of `modes+drs-gamma3-refine2000`) -> ` + DRS γ=3, D refined 2,000 steps`;
    `-gamma-10-fourier-refine1500` -> ` + DRS γ=-10, Fourier critic trained 1,500 steps`.
    """
    match = _DRS_VARIANT.fullmatch(variant)
    if match is None:
        raise ValueError(f"not a DRS score suffix: +drs{variant}")
    name = " + DRS" + (f" γ={match['gamma']}" if match["gamma"] else "")
    if match["refine"]:
        what = "D refined"
        if match["fourier"]:
            what = "Fourier critic" + (f" (scale {match['scale']})" if match["scale"] else "") + " trained"
        name += f", {what} {int(match['refine']):,} steps" + (f" at lr {match['lr']}" if match["lr"] else "")
    return name


def with_drs_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows`, then for each run scored with DRS a copy holding those scores, named by
    `drs_row_name` for each DRS setting it was scored with."""
    extra = []
    for row in rows:
        variants: dict[str, dict[str, Any]] = {}
        for key, value in row["scores"].items():
            metric, sep, variant = key.partition("+drs")
            if sep:
                variants.setdefault(drs_row_name(variant), {})[metric] = value
        extra += [
            {**row, "recipe": row["recipe"] + name, "scores": s} for name, s in sorted(variants.items())
        ]
    return rows + extra


def figure(value: float, digits: int) -> str:
    """`value` to `digits` significant digits, but whole from 100 up: 1000, not 1e+03."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.{digits}g}"


def mean_se(values: list[float]) -> str:
    """The mean, and with two or more values its standard error: "93.6 ± 0.3"."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return figure(mean, 3)
    se = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)
    return f"{figure(mean, 3)} ± {figure(se, 2)}"


def smallest_class(scores: dict[str, Any]) -> float:
    """The share of samples, in %, that the classifier put in the class it found least often."""
    counts = scores["class_coverage"]["histogram"]
    return 100 * min(counts) / sum(counts)


def table(rows: list[dict[str, Any]], dataset: str) -> str:
    """The markdown table for one dataset: one line per recipe."""
    kind, lines = family(dataset), []
    rows = with_drs_rows(rows)
    recipes = sorted({r["recipe"] for r in rows}, key=[r["recipe"] for r in rows].index)
    if kind == "toy":
        n_modes = rows[0]["scores"]["modes"]["n_modes"]
        lines += [
            f"| recipe | seeds | modes (of {n_modes}) | seeds with all modes | high-quality % "
            "| lowest seed's high-quality % | KL to uniform | train s | images seen |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
    elif kind == "stacked":
        lines += [
            "| recipe | seeds | modes (of 1000) | KL to uniform | train s | images seen |",
            "|---|---|---|---|---|---|",
        ]
    else:
        lines += [
            "| recipe | seeds | Fréchet distance | precision | recall | smallest class % | train s "
            "| images seen |",
            "|---|---|---|---|---|---|---|---|",
        ]
    for recipe in recipes:
        mine = [r for r in rows if r["recipe"] == recipe]
        s = [r["scores"] for r in mine]
        cost = f"{mean_se([r['train_s'] for r in mine])} | {mine[0]['images_seen']:,}"
        if kind == "toy":
            modes = [x["modes"]["modes_captured"] for x in s]
            full = sum(m == x["modes"]["n_modes"] for m, x in zip(modes, s, strict=True))
            hq = [100 * x["modes"]["high_quality"] for x in s]
            kl = [x["modes"]["kl_to_uniform"] for x in s]
            lines.append(
                f"| {recipe} | {len(mine)} | {mean_se(modes)} | {full}/{len(mine)} | {mean_se(hq)} "
                f"| {min(hq):.1f} | {mean_se(kl)} | {cost} |"
            )
        elif kind == "stacked":
            modes = [x["stacked-modes"]["modes_covered"] for x in s]
            kl = [x["stacked-modes"]["kl_to_uniform"] for x in s]
            lines.append(f"| {recipe} | {len(mine)} | {mean_se(modes)} | {mean_se(kl)} | {cost} |")
        else:
            fd = [x["classifier"]["frechet_distance"] for x in s]
            p = [x["classifier"]["precision"] for x in s]
            r = [x["classifier"]["recall"] for x in s]
            least = [smallest_class(x["classifier"]) for x in s]
            lines.append(
                f"| {recipe} | {len(mine)} | {mean_se(fd)} | {mean_se(p)} | {mean_se(r)} | {mean_se(least)} "
                f"| {cost} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--recipes", default="vanilla", help="comma-separated recipe names (see RECIPES)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1")
    parser.add_argument("--seed-list", default=None, help="these seeds instead, e.g. 0,2,4,8")
    parser.add_argument("--steps", type=int, default=None, help="override the recipes' step budget")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a config field of every run: VALUE is JSON (noise_dim=8, r1=1.0), or a bare word "
        "for a text field (loss=hinge); the table names each run's recipe with them; use another --out",
    )
    parser.add_argument("--out", default="runs/results")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument(
        "--drs", action="store_true", help="also score each run through discriminator rejection sampling"
    )
    parser.add_argument(
        "--drs-gamma",
        type=parse_gammas,
        default=(0.0,),
        help="DRS's gamma, or several comma-separated, each scored (default: 0)",
    )
    parser.add_argument(
        "--drs-refine-steps",
        type=int,
        default=0,
        help="train a copy of the final D this many more steps against the sampled G before DRS (default: 0)",
    )
    parser.add_argument(
        "--drs-refine-lr", type=float, default=1e-4, help="Adam learning rate of --drs-refine-steps"
    )
    parser.add_argument(
        "--drs-critic",
        choices=("discriminator", "fourier"),
        default="discriminator",
        help="judge with the run's D or a fresh Fourier-feature classifier trained --drs-refine-steps steps",
    )
    parser.add_argument(
        "--drs-fourier-scale", type=float, default=2.0, help="frequency scale of --drs-critic fourier"
    )
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="train nothing: score the runs already in OUT/results.jsonl through DRS with these settings",
    )
    parser.add_argument("--table-only", action="store_true", help="print the table of runs already done")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "results.jsonl"
    done = (
        [restore_nonfinite(json.loads(line)) for line in log.read_text().splitlines()]
        if log.is_file()
        else []
    )
    extra = {"steps": args.steps} if args.steps else {}
    try:
        extra.update(parse_set(args.set))
    except ValueError as exc:
        parser.error(str(exc))
    seeds = [int(x) for x in args.seed_list.split(",")] if args.seed_list else range(args.seeds)
    recipes = args.recipes.split(",")
    known = RECIPES[family(args.dataset)]
    unknown = [r for r in recipes if r not in known]
    if unknown and not (args.table_only or args.rescore):
        parser.error(
            f"unknown recipe {', '.join(unknown)} for {args.dataset}; choose from {', '.join(known)}"
        )
    try:
        base = DRSOptions(
            refine_steps=args.drs_refine_steps,
            refine_lr=args.drs_refine_lr,
            critic=args.drs_critic,
            fourier_scale=args.drs_fourier_scale,
        ).validated()
    except GankitError as exc:
        parser.error(str(exc))
    if args.rescore:
        if not args.drs:
            parser.error("--rescore needs --drs")
        options = drs_settings(args.drs_gamma, base)
        for i, row in enumerate(done):
            if row["dataset"] == args.dataset and row["recipe"] in recipes and row["seed"] in seeds:
                done[i] = rescore(row, out, options)
                print(f"{args.dataset} {row['recipe']} seed {row['seed']}: rescored", flush=True)
                atomic_write_bytes(log, "".join(dumps(r) + "\n" for r in done).encode())
    for recipe in recipes if not (args.table_only or args.rescore) else []:
        for seed in seeds:
            earlier = next(
                (
                    r
                    for r in done
                    if r["dataset"] == args.dataset and r["recipe"] == recipe and r["seed"] == seed
                ),
                None,
            )
            if earlier is not None:
                try:
                    check_same_settings(earlier, extra, log)
                except ValueError as exc:
                    parser.error(str(exc))
                continue
            row = run_one(
                args.dataset, recipe, seed, out, extra, drs=args.drs, drs_gammas=args.drs_gamma, drs_base=base
            )
            row["set"] = list(args.set)
            done.append(row)
            with log.open("a") as f:
                f.write(dumps(row) + "\n")
            print(f"{args.dataset} {recipe} seed {seed}: {row['train_s']} s", flush=True)
    rows = [r for r in done if r["dataset"] == args.dataset and r["recipe"] in recipes]
    if not rows:
        parser.error(f"{log} holds no runs of {args.dataset} with recipes {', '.join(recipes)}")
    print(table([{**r, "recipe": labelled(r)} for r in rows], args.dataset))


if __name__ == "__main__":
    main()
