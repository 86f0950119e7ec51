import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gankit.losses import (
    LOSSES,
    discriminator_loss,
    discriminator_summary,
    generator_minimax,
    generator_non_saturating,
    value_function,
)


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_value_function_matches_hand_computed_case():
    # D(x) = 0.8 on real, D(G(z)) = 0.3 on fake: V = log 0.8 + log 0.7
    real = torch.tensor([logit(0.8)] * 3)
    fake = torch.tensor([logit(0.3)] * 5)
    assert value_function(real, fake).item() == pytest.approx(math.log(0.8) + math.log(0.7), abs=1e-6)
    assert discriminator_loss(real, fake).item() == pytest.approx(-(math.log(0.8) + math.log(0.7)), abs=1e-6)


def test_discriminator_summary_hand_values():
    # D = 0.8 and 0.6 on real, 0.3 on fake: V = mean log D(x) + log 0.7
    real = torch.tensor([logit(0.8), logit(0.6)])
    fake = torch.tensor([logit(0.3)] * 4)
    summary = discriminator_summary(real, fake)
    value = (math.log(0.8) + math.log(0.6)) / 2 + math.log(0.7)
    assert summary["d/real"].item() == pytest.approx(0.7, abs=1e-6)
    assert summary["d/fake"].item() == pytest.approx(0.3, abs=1e-6)
    assert summary["v/estimate"].item() == pytest.approx(value, abs=1e-6)
    assert summary["jsd/lower_bound"].item() == pytest.approx(max(0.0, (value + math.log(4)) / 2), abs=1e-6)
    at_half = discriminator_summary(torch.zeros(3), torch.zeros(3))  # D = 1/2: V = -log 4, bound 0
    assert at_half["jsd/lower_bound"].item() == pytest.approx(0.0, abs=1e-7)
    scores = discriminator_summary(torch.tensor([2.0, 4.0]), torch.tensor([-1.0]), probabilistic=False)
    assert set(scores) == {"logit/real", "logit/fake"}
    assert scores["logit/real"].item() == pytest.approx(3.0) and scores["logit/fake"].item() == pytest.approx(
        -1.0
    )


def test_discriminator_loss_equals_binary_cross_entropy():
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(7, generator=gen), torch.randn(9, generator=gen)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = bce(real, torch.ones(7)) + bce(fake, torch.zeros(9))
    torch.testing.assert_close(discriminator_loss(real, fake), expected)


def test_generator_losses_hand_values():
    fake = torch.tensor([logit(0.25)])
    assert generator_minimax(None, fake).item() == pytest.approx(math.log(0.75), abs=1e-6)
    assert generator_non_saturating(None, fake).item() == pytest.approx(-math.log(0.25), abs=1e-6)


def _grad(loss_fn, d_value: float) -> float:
    x = torch.tensor([logit(d_value)], dtype=torch.float64, requires_grad=True)
    loss_fn(None, x).backward()
    return x.grad.item()


@pytest.mark.parametrize("d_value", [0.001, 0.01, 0.1, 0.5, 0.9])
def test_gradients_with_respect_to_logit(d_value):
    # d/dl log(1 - sigmoid(l)) = -D ;  d/dl -log sigmoid(l) = -(1 - D)
    assert _grad(generator_minimax, d_value) == pytest.approx(-d_value, rel=1e-9)
    assert _grad(generator_non_saturating, d_value) == pytest.approx(-(1 - d_value), rel=1e-9)


def test_minimax_saturates_where_non_saturating_does_not():
    # At D(G(z)) = 0.01 the saturating loss gives a gradient 99x weaker.
    ratio = _grad(generator_non_saturating, 0.01) / _grad(generator_minimax, 0.01)
    assert ratio == pytest.approx(99.0, rel=1e-9)


def test_same_fixed_point_at_d_one_half():
    # At D = 1/2 both generator losses have logit-gradients of equal size (-1/2),
    # and the optimal D of either game is the same, D* = p_data / (p_data + p_g).
    assert _grad(generator_minimax, 0.5) == pytest.approx(_grad(generator_non_saturating, 0.5))
    half = torch.zeros(4)
    assert value_function(half, half).item() == pytest.approx(-math.log(4), abs=1e-6)


def test_stable_for_extreme_logits():
    big = torch.tensor([1e4, -1e4])
    for fn in (generator_minimax, generator_non_saturating):
        assert torch.isfinite(fn(None, big))
    assert torch.isfinite(discriminator_loss(big, big))


@given(st.floats(-30, 30), st.floats(-30, 30))
def test_value_function_is_at_most_zero(real, fake):
    assert value_function(torch.tensor([real]), torch.tensor([fake])).item() <= 1e-7


def test_registry_names():
    assert {"minimax", "non-saturating"} <= set(LOSSES)


def test_new_losses_hand_values():
    from gankit.losses import (
        hinge_d,
        hinge_g,
        least_squares_d,
        least_squares_g,
        ragan_d,
        ragan_g,
        rsgan_d,
        rsgan_g,
        wasserstein_d,
        wasserstein_g,
    )

    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    # hinge: mean(max(0, 1 - r)) = (0 + 0.5)/2; mean(max(0, 1 + f)) = (0 + 1)/2
    assert hinge_d(real, fake).item() == pytest.approx(0.75)
    assert hinge_g(None, fake).item() == pytest.approx(1.0)
    assert wasserstein_d(real, fake).item() == pytest.approx(-1.0 - 1.25)
    assert wasserstein_g(None, fake).item() == pytest.approx(1.0)
    # LSGAN: 0.5 * mean((r - 1)^2) + 0.5 * mean(f^2) = 0.5 * 0.625 + 0.5 * 2
    assert least_squares_d(real, fake).item() == pytest.approx(0.3125 + 1.0)
    assert least_squares_g(None, fake).item() == pytest.approx(0.5 * (9 + 1) / 2)
    sp = torch.nn.functional.softplus
    pairs = torch.tensor([4.0, 2.0, 2.5, 0.5])  # r_i - f_j over all pairs
    assert rsgan_d(real, fake).item() == pytest.approx(sp(-pairs).mean().item())
    assert rsgan_g(real, fake).item() == pytest.approx(sp(pairs).mean().item())
    r_mean, f_mean = 1.25, -1.0
    expected = sp(-(real - f_mean)).mean() + sp(fake - r_mean).mean()
    assert ragan_d(real, fake).item() == pytest.approx(expected.item())
    assert ragan_g(real, fake).item() == pytest.approx(ragan_d(fake, real).item())
    with pytest.raises(ValueError, match="needs D's logits on real data"):
        rsgan_g(None, fake)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_pushes_d_and_g_the_right_way(name):
    # D's loss falls when real logits rise and fake logits fall; G's loss falls when fake logits rise.
    loss = LOSSES[name]
    real = torch.zeros(4, requires_grad=True)
    fake = torch.full((4,), 0.5, requires_grad=True)
    loss.d(real, fake).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()
    fake.grad = None
    loss.g(real.detach() if loss.g_needs_real else None, fake).backward()
    assert (fake.grad < 0).all()
    assert loss.paper
