"""Stacked MNIST: which digits G makes too often or too rarely, and whether its D can tell.

    .venv/bin/python scripts/stacked_d_by_digit.py RUN [--n 5000] [--seed 0]

For each of the three channels of `--n` samples from the run's generator (its EMA where kept),
the cached classifier's digit splits the samples. Per digit it prints how often G makes it,
D's mean logit on those samples, and the share that digit would have after reweighting
every sample by exp(logit), which is what discriminator rejection sampling with gamma 0
does where it keeps all it should. Where D's mean logit is flat across digits, D has not
learnt that some digits are rare in G's output, and rejection sampling cannot restore them.

Two more rows per channel check that the shares are not an artefact of ambiguous samples:
the classifier's mean probability per digit (a soft share, which splits an unclear sample
between its candidates) and, per digit, the share of samples read with top probability
below 0.9. A last row gives each digit's share among the samples read at 0.9 or above, and a
table each channel's KL to uniform over all samples and over those alone: if the imbalance
came from unclear samples read as some digits more than others, the second would be near 0.
A last table gives the share read below 0.9 for the stack source's real test digits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import Tensor

from gankit.config import TrainConfig
from gankit.errors import GankitError
from gankit.metrics import classify, stack_source, unit_images
from gankit.metrics.classifier import load_or_train_classifier
from gankit.sampling.generator import generate, load_generator
from gankit.sampling.rejection import load_rejection_sampler


def by_digit(digits: Tensor, logits: Tensor, n_digits: int = 10) -> tuple[Tensor, Tensor, Tensor]:
    """(share of samples, mean logit, share after weighting by exp(logit)) per digit, each (n_digits,).

    A digit no sample has gets share 0 and a NaN mean logit.
    """
    counts = torch.bincount(digits, minlength=n_digits).double()
    sums = torch.zeros(n_digits, dtype=torch.float64).index_add_(0, digits, logits.double())
    weights = torch.zeros(n_digits, dtype=torch.float64).index_add_(0, digits, logits.double().exp())
    return counts / counts.sum(), sums / counts, weights / weights.sum()


def confidence_by_digit(probs: Tensor, threshold: float = 0.9) -> tuple[Tensor, Tensor]:
    """(mean probability per digit, share of each digit's samples read below `threshold`).

    `probs` is (N, n_digits), rows summing to 1; a sample's digit is its most probable one.
    A digit no sample has gets a NaN share.
    """
    top, digits = probs.max(1)
    n_digits = probs.shape[1]
    counts = torch.bincount(digits, minlength=n_digits).double()
    low = torch.bincount(digits[top < threshold], minlength=n_digits).double()
    return probs.double().mean(0), low / counts


def clear_share(probs: Tensor, threshold: float = 0.9) -> tuple[Tensor, float]:
    """(share of each digit among the samples read with top probability >= `threshold`,
    the fraction of samples so read). If the imbalance of G's digits came from unclear
    samples being read as some digits more than others, these shares would be the even ones."""
    top, digits = probs.max(1)
    clear = top >= threshold
    counts = torch.bincount(digits[clear], minlength=probs.shape[1]).double()
    return counts / counts.sum().clamp_min(1), float(clear.double().mean())


def kl_to_uniform(share: Tensor) -> float:
    """KL(share || uniform) in nats; empty bins count 0."""
    share = share.double()
    nonzero = share[share > 0]
    return float((nonzero * (nonzero * len(share)).log()).sum())


def _row(name: str, values: Tensor, fmt: str) -> str:
    return f"| {name} | " + " | ".join(fmt.format(float(v)) for v in values) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a stacked-mnist run directory with a checkpoint")
    parser.add_argument("--n", type=int, default=5000, help="samples to classify and score")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.n < 1:
        raise SystemExit(f"error: --n must be >= 1, got {args.n}")
    try:
        config = TrainConfig.load(args.run / "config.json")
        if not config.data.dataset.startswith("stacked-mnist"):
            raise GankitError(f"{args.run} trained on {config.data.dataset}, not stacked-mnist")
        generator, info = load_generator(args.run)
        # DRS does not judge conditional samples: a conditional G's rows leave D out
        judge = None if info.n_classes else load_rejection_sampler(args.run, generator, info, seed=args.seed)
        source = stack_source(config.data_options())
        classifier, _ = load_or_train_classifier(source)
        real = source.tensor("test", "sigmoid")
    except GankitError as exc:
        raise SystemExit(f"error: {exc}") from None
    x = generate(generator, info, args.n, seed=args.seed)
    pixels = unit_images(x, info.output)
    if judge is None:
        logits = torch.zeros(args.n)
        print(f"{args.n} samples of a conditional G (classes by its prior); D's rows left out")
    else:
        logits = judge.score(x)
        print(f"{args.n} samples; D's logit: mean {logits.mean():.3f}, std {logits.std():.3f}")
    print("| channel | | " + " | ".join(str(d) for d in range(10)) + " |")
    print("|---|---|" + "---|" * 10)
    balance: list[tuple[float, float]] = []
    for c in range(3):
        probs = classify(classifier, pixels[:, c : c + 1])[1]
        share, mean_logit, reweighted = by_digit(probs.argmax(1), logits)
        soft, unclear = confidence_by_digit(probs)
        clear, clear_fraction = clear_share(probs)
        rows = [("share of samples", share, "{:.3f}")]
        if judge is not None:
            rows += [
                ("D's mean logit", mean_logit, "{:.2f}"),
                ("share reweighted by exp(logit)", reweighted, "{:.3f}"),
            ]
        for name, row, fmt in (
            *rows,
            ("classifier's mean probability", soft, "{:.3f}"),
            ("share read below 0.9", unclear, "{:.3f}"),
            (f"share among the {clear_fraction:.1%} read at 0.9 or above", clear, "{:.3f}"),
        ):
            print(_row(f"{'RGB'[c]} | {name}", row, fmt))
        balance.append((kl_to_uniform(share), kl_to_uniform(clear)))
    print("\n| channel | KL to uniform, all samples | KL to uniform, samples read at 0.9 or above |")
    print("|---|---|---|")
    for c, (every, clear_only) in enumerate(balance):
        print(f"| {'RGB'[c]} | {every:.4f} | {clear_only:.4f} |")
    _, unclear = confidence_by_digit(classify(classifier, real)[1])
    print(f"\n{len(real)} real test digits of {source.name}:")
    print("| | " + " | ".join(str(d) for d in range(10)) + " |")
    print("|---|" + "---|" * 10)
    print(_row("share read below 0.9", unclear, "{:.3f}"))


if __name__ == "__main__":
    main()
