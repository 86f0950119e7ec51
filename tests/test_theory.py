import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gankit.theory import (
    gaussian_pdf,
    jsd,
    kl,
    kl_gaussian,
    optimal_discriminator,
    pointwise_argmax,
    value_function,
    virtual_criterion,
)
from gankit.theory.checks import exact_checks, saturation_gradients
from gankit.theory.empirical import fit_discriminator, histogram_jsd

LOG2 = math.log(2)


def _prob(size: int):
    return (
        arrays(np.float64, size, elements=st.floats(0.0, 1.0))
        .filter(lambda a: a.sum() > 1e-3)
        .map(lambda a: a / a.sum())
    )


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 8).flatmap(lambda n: st.tuples(_prob(n), _prob(n))))
def test_divergence_laws(pq):
    p, q = pq
    m = (p + q) / 2
    assert kl(p, m) >= -1e-12  # KL >= 0 (M > 0 wherever P > 0)
    value = jsd(p, q)
    assert -1e-12 <= value <= LOG2 + 1e-12
    assert value == pytest.approx(jsd(q, p), abs=1e-12)
    assert jsd(p, q, base=2) == pytest.approx(value / LOG2, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.floats(-3, 3), st.floats(0.3, 3), st.floats(-3, 3), st.floats(0.3, 3))
def test_criterion_is_at_least_minus_log4(mu1, s1, mu2, s2):
    x = np.linspace(-25, 25, 20_001)
    p, q = gaussian_pdf(x, mu1, s1), gaussian_pdf(x, mu2, s2)
    c = virtual_criterion(p, q, x)
    assert c >= -math.log(4) - 1e-9
    assert c == pytest.approx(-math.log(4) + 2 * jsd(p, q, x), abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(st.floats(-2, 2), st.floats(0.6, 2), st.floats(-2, 2), st.floats(0.6, 2))
def test_numerical_kl_matches_gaussian_closed_form(mu1, s1, mu2, s2):
    # a grid over p's mass where neither density underflows to 0
    x = np.linspace(mu1 - 9 * s1, mu1 + 9 * s1, 20_001)
    p, q = gaussian_pdf(x, mu1, s1), gaussian_pdf(x, mu2, s2)
    assert kl(p, q, x) == pytest.approx(kl_gaussian(mu1, s1, mu2, s2), abs=1e-6)


@given(st.floats(0.01, 10), st.floats(0.01, 10))
def test_pointwise_argmax_beats_neighbours(a, b):
    y = pointwise_argmax(a, b)
    f = lambda t: a * math.log(t) + b * math.log(1 - t)  # noqa: E731
    for t in (y * 0.99, min(y * 1.01, 1 - 1e-9), (y + 1) / 2, y / 2):
        assert f(t) <= f(y) + 1e-12


def test_kl_is_asymmetric_and_infinite_off_support():
    assert kl([0.5, 0.5], [0.9, 0.1]) != pytest.approx(kl([0.9, 0.1], [0.5, 0.5]))
    assert kl([0.5, 0.5], [1.0, 0.0]) == math.inf
    with pytest.raises(ValueError, match="probability vector"):
        kl([0.5, 0.6], [0.5, 0.5])


def test_optimal_discriminator_and_value_function():
    x = np.linspace(-15, 15, 30_001)
    p, q = gaussian_pdf(x, 0, 1), gaussian_pdf(x, 1, 1)
    d_star = optimal_discriminator(p, q)
    # for equal variances, D*(x) = sigmoid(log p - log q) = sigmoid(0.5 - x)
    np.testing.assert_allclose(d_star[::1000], 1 / (1 + np.exp(-(0.5 - x[::1000]))), atol=1e-12)
    assert value_function(np.full_like(x, 0.5), p, q, x) == pytest.approx(-math.log(4), abs=1e-9)
    assert value_function(d_star, p, q, x) > value_function(np.full_like(x, 0.5), p, q, x)
    assert optimal_discriminator([0.0], [0.0])[0] == 0.5


def test_every_exact_check_passes():
    failed = [(r.name, r.expected, r.measured) for r in exact_checks() if not r.passed]
    assert not failed


def test_saturation_gradient_ratio_at_early_training():
    minimax, non_saturating = saturation_gradients(0.001)
    assert minimax == pytest.approx(-0.001) and non_saturating == pytest.approx(-0.999)


def test_neural_discriminator_reaches_the_optimal_discriminator():
    fit = fit_discriminator(steps=1000, seed=0)
    assert fit.max_abs_error < 0.05
    assert fit.v_estimate == pytest.approx(fit.c_of_g, abs=0.02)


def test_histogram_jsd_of_true_samples_is_small_and_of_shifted_is_large():
    rng = np.random.default_rng(0)
    assert histogram_jsd(rng.normal(4, 0.5, 100_000), 4, 0.5) < 0.002
    assert histogram_jsd(rng.normal(5, 0.5, 100_000), 4, 0.5) > 0.2


@pytest.mark.slow
def test_figure1_run_meets_the_end_thresholds():
    """The full seeded Figure 1 run (about 6 min, one thread): p_g reaches p_data and D flattens to 1/2.

    The issue's thresholds: JSD(p_data || p_g) < 0.01 nats from 100k samples, and
    |D(x) - 1/2| < 0.05 wherever p_data has 99% of its mass; the JSD curve falls towards 0.
    """
    from gankit.theory.empirical import train_figure1

    run = train_figure1(seed=0)
    steps, values = zip(*run.jsd_curve, strict=True)
    assert values[0] > 0.3  # G starts two standard deviations off the data
    assert max(values[len(values) // 2 :]) < 0.05
    assert run.final_jsd < 0.01
    assert run.final_d_max_dev < 0.05


def test_quick_figure1_rows_fail_for_a_generator_that_did_not_move():
    from types import SimpleNamespace

    import numpy as np

    from gankit.theory.report import figure1_quick_checks

    def run(jsd_end, samples_mean):
        samples = np.full(1000, samples_mean, dtype=np.float32)
        return SimpleNamespace(jsd_curve=[(0, 0.6), (600, jsd_end)], final_jsd=jsd_end,
                               snapshots=[SimpleNamespace(samples=samples)])  # fmt: skip

    assert all(row.passed for row in figure1_quick_checks(run(0.05, 4.05)))
    stuck = figure1_quick_checks(run(0.55, 3.0))  # G still where it started
    assert [row.passed for row in stuck] == [False, False]
    assert [row.passed for row in figure1_quick_checks(run(0.2, 4.0))] == [False, True]
