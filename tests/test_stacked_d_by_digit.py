"""scripts/stacked_d_by_digit.py: per-digit shares and D's logits."""

from __future__ import annotations

import math

import pytest
import torch

from tests.conftest import load_script


@pytest.fixture(scope="module")
def script():
    yield from load_script("stacked_d_by_digit")


def test_by_digit_shares_means_and_reweighting(script):
    digits = torch.tensor([0, 0, 0, 1, 2, 2])
    logits = torch.tensor([0.0, 0.0, 0.0, math.log(3.0), 1.0, -1.0])
    share, mean_logit, reweighted = script.by_digit(digits, logits, n_digits=4)
    assert share.tolist() == pytest.approx([0.5, 1 / 6, 1 / 3, 0.0])
    assert mean_logit[:3].tolist() == pytest.approx([0.0, math.log(3.0), 0.0])
    assert math.isnan(mean_logit[3])
    # weights exp(logit): digit 0 has 3, digit 1 has 3, digit 2 has e + 1/e
    total = 6 + math.e + 1 / math.e
    assert reweighted.tolist() == pytest.approx([3 / total, 3 / total, (math.e + 1 / math.e) / total, 0.0])


def test_a_d_that_knows_the_density_ratio_restores_the_balance(script):
    """Logits log(p_data / p_g) reweight G's shares back to the data's, as DRS at gamma 0 does."""
    g_share = torch.tensor([0.4, 0.1, 0.5])
    counts = (g_share * 1000).long()
    digits = torch.repeat_interleave(torch.arange(3), counts)
    logits = torch.log(torch.full((3,), 1 / 3) / g_share)[digits]
    share, _, reweighted = script.by_digit(digits, logits, n_digits=3)
    assert share.tolist() == pytest.approx(g_share.tolist())
    assert reweighted.tolist() == pytest.approx([1 / 3] * 3)


def test_confidence_by_digit_soft_shares_and_unclear_reads(script):
    probs = torch.tensor(
        [
            [0.95, 0.05, 0.0],  # a clear 0
            [0.6, 0.4, 0.0],  # an unclear 0
            [0.0, 0.5, 0.5],  # a tie reads as 1, unclear
            [0.0, 0.0, 1.0],  # a clear 2
        ]
    )
    soft, unclear = script.confidence_by_digit(probs, threshold=0.9)
    assert soft.tolist() == pytest.approx([1.55 / 4, 0.95 / 4, 1.5 / 4])
    assert unclear.tolist() == pytest.approx([0.5, 1.0, 0.0])
    _, none_unclear = script.confidence_by_digit(probs, threshold=0.5)
    assert none_unclear.tolist() == pytest.approx([0.0, 0.0, 0.0])
    assert math.isnan(script.confidence_by_digit(probs[:1])[1][2])


def test_clear_share_counts_only_confident_reads(script):
    probs = torch.tensor(
        [
            [0.95, 0.05, 0.0],  # a clear 0
            [0.6, 0.4, 0.0],  # an unclear 0: left out
            [0.0, 0.1, 0.9],  # a clear 2 (at the threshold)
            [0.0, 0.0, 1.0],  # a clear 2
        ]
    )
    share, fraction = script.clear_share(probs, threshold=0.9)
    assert share.tolist() == pytest.approx([1 / 3, 0.0, 2 / 3])
    assert fraction == pytest.approx(0.75)
    nothing, none = script.clear_share(probs, threshold=0.99)
    assert nothing.tolist() == pytest.approx([0.0, 0.0, 1.0])  # only the last row
    assert none == pytest.approx(0.25)


def test_kl_to_uniform(script):
    assert script.kl_to_uniform(torch.full((10,), 0.1)) == pytest.approx(0.0, abs=1e-6)
    assert script.kl_to_uniform(torch.tensor([1.0, 0.0])) == pytest.approx(math.log(2))
    assert script.kl_to_uniform(torch.tensor([0.75, 0.25])) == pytest.approx(
        0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    )
