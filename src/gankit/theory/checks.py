"""Exact checks: every identity of the theory computed two independent ways."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from gankit.losses import generator_minimax, generator_non_saturating
from gankit.theory.divergence import (
    gaussian_pdf,
    jsd,
    kl,
    kl_gaussian,
    optimal_discriminator,
    pointwise_argmax,
    uniform_pdf,
    value_function,
    virtual_criterion,
)

LOG4 = math.log(4)
GRID = np.linspace(-20, 20, 400_001)


@dataclass(frozen=True)
class Check:
    """One row of the table: what theory says, what was measured, and whether they agree."""

    name: str
    expected: float
    measured: float
    tolerance: float
    # "==": within tolerance; "<": measured below expected; "!=": differ by more than tolerance
    relation: str = "=="

    @property
    def error(self) -> float:
        return abs(self.measured - self.expected)

    @property
    def passed(self) -> bool:
        if self.relation == "<":
            return self.measured < self.expected
        if self.relation == "!=":
            return self.error > self.tolerance
        return self.error <= self.tolerance


def argmax_checks() -> list[Check]:
    """argmax_y a log y + b log(1-y) = a/(a+b): analytic vs a dense grid."""
    y = np.linspace(1e-7, 1 - 1e-7, 2_000_001)
    rows = []
    for a, b in ((0.3, 0.7), (2.0, 1.0), (0.01, 5.0)):
        grid_best = float(y[np.argmax(a * np.log(y) + b * np.log1p(-y))])
        rows.append(
            Check(f"argmax a·log y + b·log(1−y), a={a}, b={b}", pointwise_argmax(a, b), grid_best, 1e-6)
        )
    return rows


def _density_pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    mixture = 0.5 * gaussian_pdf(GRID, -2, 0.5) + 0.5 * gaussian_pdf(GRID, 2, 0.5)
    return {
        "N(0,1) vs N(1,1.5²)": (gaussian_pdf(GRID, 0, 1), gaussian_pdf(GRID, 1, 1.5)),
        "N(0,1) vs mixture ½N(−2,.5²)+½N(2,.5²)": (gaussian_pdf(GRID, 0, 1), mixture),
    }


def criterion_checks() -> list[Check]:
    """C(G) = V(D*, G) = −log 4 + 2·JSD, and any other D does worse (Theorem 1)."""
    rows = []
    for name, (p_data, p_g) in _density_pairs().items():
        c_of_g = virtual_criterion(p_data, p_g, GRID)
        rows.append(
            Check(f"{name}: V(D*,G) = −log4 + 2·JSD", -LOG4 + 2 * jsd(p_data, p_g, GRID), c_of_g, 1e-6)
        )
        d_star = optimal_discriminator(p_data, p_g)
        worst = max(
            value_function(np.clip(d_star + eps * np.sin(GRID), 1e-9, 1 - 1e-9), p_data, p_g, GRID)
            for eps in (-0.05, -0.01, 0.01, 0.05)
        )
        rows.append(Check(f"{name}: V(D*±ε·sin x, G) < V(D*, G)", c_of_g, worst, 0.0, "<"))
    # Disjoint supports: uniform densities integrated by quadrature with their breakpoints.
    u1, u2 = (lambda t: uniform_pdf(t, 0.0, 1.0)), (lambda t: uniform_pdf(t, 2.0, 3.0))
    rows.append(
        Check(
            "U[0,1] vs U[2,3]: JSD = log 2",
            math.log(2),
            jsd(u1, u2, bounds=(-1, 4), points=[0, 1, 2, 3]),
            1e-9,
        )
    )
    same = gaussian_pdf(GRID, 0, 1)
    rows.append(Check("p_g = p_data: JSD = 0", 0.0, jsd(same, same, GRID), 1e-12))
    rows.append(
        Check(
            "p_g = p_data: max |D* − 1/2|",
            0.0,
            float(np.abs(optimal_discriminator(same, same) - 0.5).max()),
            1e-12,
        )
    )
    rows.append(Check("p_g = p_data: C(G) = −log 4", -LOG4, virtual_criterion(same, same, GRID), 1e-6))
    return rows


def kl_checks() -> list[Check]:
    """Numerical KL against the Gaussian closed form, and KL's asymmetry."""
    p, q = gaussian_pdf(GRID, 0, 1), gaussian_pdf(GRID, 1, 2)
    forward, backward = kl(p, q, GRID), kl(q, p, GRID)
    return [
        Check("KL(N(0,1)‖N(1,2²)) vs closed form", kl_gaussian(0, 1, 1, 2), forward, 1e-6),
        Check("KL(N(1,2²)‖N(0,1)) vs closed form", kl_gaussian(1, 2, 0, 1), backward, 1e-6),
        Check("KL(P‖Q) ≠ KL(Q‖P)", backward, forward, 0.1, "!="),
        Check(
            "KL via quadrature of callables",
            kl_gaussian(0, 1, 1, 2),
            kl(lambda t: gaussian_pdf(t, 0, 1), lambda t: gaussian_pdf(t, 1, 2), bounds=(-30, 30)),
            1e-8,
        ),
    ]


D_VALUES = (0.001, 0.01, 0.1, 0.5)


def saturation_gradients(d_value: float) -> tuple[float, float]:
    """d/dl of gankit's minimax and non-saturating G losses at D(G(z)) = sigmoid(l) = d_value (autograd)."""
    grads = []
    for loss in (generator_minimax, generator_non_saturating):
        logit = torch.tensor([math.log(d_value / (1 - d_value))], dtype=torch.float64, requires_grad=True)
        loss(None, logit).backward()
        grads.append(float(logit.grad))
    return grads[0], grads[1]


def saturation_checks() -> list[Check]:
    """Autograd gradients vs the analytic −D (minimax) and −(1 − D) (non-saturating)."""
    rows = []
    for d in D_VALUES:
        minimax, non_sat = saturation_gradients(d)
        rows.append(Check(f"∂/∂logit log(1−D(G(z))) at D={d}", -d, minimax, 1e-12))
        rows.append(Check(f"∂/∂logit −log D(G(z)) at D={d}", -(1 - d), non_sat, 1e-12))
    return rows


def exact_checks() -> list[Check]:
    return argmax_checks() + criterion_checks() + kl_checks() + saturation_checks()


def format_table(rows: list[Check]) -> str:
    """The checks as a fixed-width text table: name, expected, measured, |error|, pass."""
    width = max(len(r.name) for r in rows)
    lines = [f"{'check':<{width}}  {'expected':>12}  {'measured':>12}  {'|error|':>9}  pass"]
    for r in rows:
        mark = "yes" if r.passed else "NO"
        lines.append(f"{r.name:<{width}}  {r.expected:>12.6g}  {r.measured:>12.6g}  {r.error:>9.2e}  {mark}")
    return "\n".join(lines)
