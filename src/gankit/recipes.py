"""The recipes the comparisons of docs/results.md train (`scripts/results.py`), by dataset family.

Each recipe is a set of config options on top of its family's base settings (`TOY` for the
2-D mixtures, `IMAGE` for image sets); `run_overrides` gives the options of one run.
"""

from __future__ import annotations

from typing import Any

__all__ = ["IMAGE", "METRICS", "RECIPES", "TOY", "family", "run_overrides"]

# Recipes by dataset family (toy, stacked, image). `vanilla` is the 2014 game with the
# non-saturating G loss; the others add the options their names list.
TOY = dict(model="toy-mlp", noise="normal", noise_dim=2, batch_size=256, steps=24000, lr_g=1e-3, lr_d=1e-3)
IMAGE = dict(model="dcgan", batch_size=64, steps=2000)
RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "toy": {
        "vanilla": {},
        "ema": dict(ema_half_life=50_000.0),
        "pack4-ema": dict(pack=4, ema_half_life=50_000.0),
        "pack2-ema": dict(pack=2, ema_half_life=50_000.0),
        # the best toy recipe: packing 2, minibatch std, EMA, learning rates decayed over the second half
        "pack2-mbstd-ema-decay": dict(pack=2, minibatch_std=True, ema_half_life=50_000.0, lr_decay_start=0.5),
        # the same with a deeper, wider G (three ReLU layers of 256); worse on 3 of 4 grid seeds tried
        "deep-pack2-mbstd-ema-decay": dict(
            model="toy-mlp-deep", pack=2, minibatch_std=True, ema_half_life=50_000.0, lr_decay_start=0.5
        ),
    },
    "image": {
        "vanilla": {},
        "hinge-sn": dict(loss="hinge", spectral_norm=True),
        "ema": dict(ema_half_life=10_000.0),
        "diffaugment-ema": dict(diffaugment="color,translation,cutout", ema_half_life=10_000.0),
        "pack2-mbstd-ema": dict(pack=2, minibatch_std=True, ema_half_life=10_000.0),
    },
    "stacked": {
        "vanilla": {},
        "pack2-mbstd-ema": dict(pack=2, minibatch_std=True, ema_half_life=10_000.0),
        "pack2": dict(pack=2),  # PacGAN's PacDCGAN2: D judges pairs of samples, nothing else added
        # two time-scale update rule (Heusel et al. 2017): D learns 4x faster than G
        "ttur": dict(lr_d=4e-4, lr_g=1e-4),
        "fast-d": dict(lr_d=4e-4),  # D at twice G's learning rate, G as in vanilla
        # DiffAugment (Zhao et al. 2020) without color: D sees shifted, cut-out reals and fakes
        "diffaugment": dict(diffaugment="translation,cutout"),
        "ema": dict(ema_half_life=10_000.0),  # vanilla, sampled from G's weight average
        "ema-decay": dict(ema_half_life=10_000.0, lr_decay_start=0.5),
        "hinge-sn-ema": dict(loss="hinge", spectral_norm=True, ema_half_life=10_000.0),
        # self-conditioned GAN (Liu et al. 2020): G and D conditioned on 100 k-means clusters of
        # D's features of the training images, clustered again every 1,000 steps
        "self-cond100": dict(self_condition=100, recluster_every=1000),
        # minibatch discrimination (Salimans et al. 2016) with 100 kernels: D sees how many close
        # neighbours each sample has in its batch, so a digit made too often stands out
        "mbdisc": dict(minibatch_disc=100),
        "self-cond100-mbdisc": dict(self_condition=100, recluster_every=1000, minibatch_disc=100),
    },
}
METRICS = {"toy": ["modes"], "stacked": ["stacked-modes"], "image": ["classifier"]}


def family(dataset: str) -> str:
    if dataset in ("ring8", "grid25"):
        return "toy"
    return "stacked" if dataset.startswith("stacked") else "image"


def run_overrides(dataset: str, recipe: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The config fields a run of `recipe` on `dataset` sets: the family's base settings, the
    recipe's, then `extra` (`--steps` and `--set`)."""
    kind = family(dataset)
    return {**(TOY if kind == "toy" else IMAGE), **RECIPES[kind][recipe], **extra}
