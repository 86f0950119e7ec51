"""KL and JS divergence, the optimal discriminator, V(D, G) and C(G) for known densities.

Densities are given one of three ways: discrete probability vectors (`x=None`),
density values on a grid `x` (integrated with Simpson's rule, or the midpoint rule
for piecewise-constant densities), or callables integrated by adaptive quadrature
over `bounds`, with `points` marking discontinuities. Natural log unless `base` is given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import integrate, special

Density = Callable[[np.ndarray], np.ndarray]
Values = np.ndarray | Sequence[float]


def integrate_grid(values: np.ndarray, x: np.ndarray | None, method: str = "simpson") -> float:
    """Integral of `values` over grid `x`; a plain sum when `x` is None (discrete case)."""
    values = np.asarray(values, dtype=np.float64)
    if x is None:
        return float(values.sum())
    x = np.asarray(x, dtype=np.float64)
    if method == "simpson":
        return float(integrate.simpson(values, x=x))
    if method == "trapezoid":
        return float(integrate.trapezoid(values, x=x))
    if method == "midpoint":  # x are cell centres of a uniform grid
        return float(values.sum() * (x[1] - x[0]))
    raise ValueError(f"unknown integration method {method!r}")


def _check_discrete(p: np.ndarray, name: str) -> None:
    if np.any(p < 0) or not math.isclose(float(p.sum()), 1.0, abs_tol=1e-6):
        raise ValueError(f"{name} must be a probability vector (non-negative, summing to 1)")


def _scale(value: float, base: float | None) -> float:
    return value / math.log(base) if base else value


def _quad(f: Callable[[float], float], bounds: tuple[float, float], points: Sequence[float] | None) -> float:
    value, _ = integrate.quad(f, *bounds, points=points, limit=500, epsabs=1e-12, epsrel=1e-10)
    return float(value)


def kl(
    p: Values | Density,
    q: Values | Density,
    x: np.ndarray | None = None,
    *,
    bounds: tuple[float, float] | None = None,
    points: Sequence[float] | None = None,
    method: str = "simpson",
    base: float | None = None,
) -> float:
    """KL(P || Q) = sum_x p log(p/q), or the integral of p(x) log(p(x)/q(x)) dx.

    Infinite where p > 0 and q = 0. Not symmetric: KL(P||Q) != KL(Q||P) in general.
    """
    if callable(p) and callable(q):
        if bounds is None:
            raise ValueError("kl of callables needs bounds=(low, high)")
        value = _quad(lambda t: float(special.rel_entr(p(np.array(t)), q(np.array(t)))), bounds, points)
        return _scale(value, base)
    p_arr, q_arr = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if x is None:
        _check_discrete(p_arr, "p")
        _check_discrete(q_arr, "q")
    return _scale(integrate_grid(special.rel_entr(p_arr, q_arr), x, method), base)


def jsd(
    p: Values | Density,
    q: Values | Density,
    x: np.ndarray | None = None,
    *,
    bounds: tuple[float, float] | None = None,
    points: Sequence[float] | None = None,
    method: str = "simpson",
    base: float | None = None,
) -> float:
    """JSD(P || Q) = KL(P || M)/2 + KL(Q || M)/2 with M = (P + Q)/2; 0 <= JSD <= log 2."""
    if callable(p) and callable(q):

        def m(t: np.ndarray) -> np.ndarray:
            return (p(t) + q(t)) / 2

        kw = {"bounds": bounds, "points": points, "base": base}
        return 0.5 * kl(p, m, **kw) + 0.5 * kl(q, m, **kw)
    p_arr, q_arr = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    m_arr = (p_arr + q_arr) / 2
    # M >= P/2 > 0 wherever P > 0; only a subnormal P can make M round to 0: drop those points.
    p_arr, q_arr = np.where(m_arr > 0, p_arr, 0.0), np.where(m_arr > 0, q_arr, 0.0)
    kw2 = {"x": x, "method": method, "base": base}
    return 0.5 * kl(p_arr, m_arr, **kw2) + 0.5 * kl(q_arr, m_arr, **kw2)


def optimal_discriminator(p_data: Values, p_g: Values) -> np.ndarray:
    """D*_G(x) = p_data(x) / (p_data(x) + p_g(x)): Proposition 1 of Goodfellow et al. 2014.

    Where both densities vanish D* is undefined; 1/2 is returned there.
    """
    a, b = np.asarray(p_data, dtype=np.float64), np.asarray(p_g, dtype=np.float64)
    total = a + b
    return np.divide(a, total, out=np.full_like(total, 0.5), where=total > 0)


def value_function(
    d: Values, p_data: Values, p_g: Values, x: np.ndarray | None = None, method: str = "simpson"
) -> float:
    """V(D, G) = integral of p_data(x) log D(x) + p_g(x) log(1 - D(x)) dx: eq. (1) written in x (eq. 3)."""
    d_arr = np.asarray(d, dtype=np.float64)
    # Where one density is ~1e-16 of the other, 1 - D* rounds to 0; the clip keeps that
    # term's contribution at its true size (~0) instead of 0 * -inf.
    tiny = np.finfo(np.float64).tiny
    integrand = special.xlogy(p_data, np.maximum(d_arr, tiny)) + special.xlogy(
        p_g, np.maximum(1 - d_arr, tiny)
    )
    return integrate_grid(integrand, x, method)


def virtual_criterion(
    p_data: Values, p_g: Values, x: np.ndarray | None = None, method: str = "simpson"
) -> float:
    """C(G) = max_D V(D, G) = V(D*_G, G), which Theorem 1 shows equals -log 4 + 2 JSD(p_data || p_g)."""
    return value_function(optimal_discriminator(p_data, p_g), p_data, p_g, x, method)


def pointwise_argmax(a: float, b: float) -> float:
    """argmax over y in (0, 1) of a log y + b log(1 - y) is a / (a + b), for a, b > 0 (proof of Prop. 1)."""
    return a / (a + b)


def kl_gaussian(mu_p: float, sigma_p: float, mu_q: float, sigma_q: float) -> float:
    """Closed form KL(N(mu_p, sigma_p^2) || N(mu_q, sigma_q^2))."""
    return math.log(sigma_q / sigma_p) + (sigma_p**2 + (mu_p - mu_q) ** 2) / (2 * sigma_q**2) - 0.5


def gaussian_pdf(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def uniform_pdf(x: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.where((x >= low) & (x < high), 1.0 / (high - low), 0.0)
