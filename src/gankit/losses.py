"""GAN losses as pure functions of discriminator logits.

Every function takes raw logits l, with D(x) = sigmoid(l), and is written with
`logsigmoid`/`softplus` so that it stays finite where D saturates at 0 or 1:
log D = logsigmoid(l) and log(1 - D) = logsigmoid(-l).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "GANLoss",
    "LOSSES",
    "discriminator_loss",
    "generator_minimax",
    "generator_non_saturating",
    "get_loss",
    "value_function",
    "jsd_lower_bound",
]


def value_function(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Minibatch estimate of V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))].

    Eq. (1) of Goodfellow et al. 2014. `real_logits` are D's logits on data,
    `fake_logits` on generated samples.
    """
    return F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean()


def jsd_lower_bound(value: Tensor) -> Tensor:
    """(V + log 4) / 2 clipped at 0: a lower bound on JSD(p_data || p_g) from any D.

    V(D, G) <= max_D V = C(G) = -log 4 + 2 JSD (Theorem 1 of Goodfellow et al. 2014).
    """
    return ((value + math.log(4)) / 2).clamp_min(0)


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-V(D, G): D ascends V (Algorithm 1, step 1 of Goodfellow et al. 2014).

    Equals the binary cross-entropy with label 1 on real and 0 on fake samples.
    """
    return -value_function(real_logits, fake_logits)


def generator_minimax(real_logits: Tensor | None, fake_logits: Tensor) -> Tensor:
    """E_z[log(1 - D(G(z)))], the term of V that G minimizes in eq. (1).

    Saturates: d/dl log(1 - sigmoid(l)) = -D, so its gradient vanishes when D
    confidently rejects the fakes (D(G(z)) -> 0), as early in training.
    """
    del real_logits
    return F.logsigmoid(-fake_logits).mean()


def generator_non_saturating(real_logits: Tensor | None, fake_logits: Tensor) -> Tensor:
    """-E_z[log D(G(z))], the heuristic of Section 3 of Goodfellow et al. 2014.

    Same fixed point as the minimax game, but d/dl = -(1 - D) stays near -1 when
    D(G(z)) -> 0: "fake samples labelled real" in G's step.
    """
    del real_logits
    return -F.logsigmoid(fake_logits).mean()


@dataclass(frozen=True)
class GANLoss:
    """A pair of pure losses: `d(real_logits, fake_logits)` and `g(real_logits, fake_logits)`.

    `g_needs_real` is False for losses whose generator term ignores real logits,
    so the trainer can skip a forward pass of D on real data during G's step.
    """

    d: Callable[[Tensor, Tensor], Tensor]
    g: Callable[[Tensor | None, Tensor], Tensor]
    g_needs_real: bool = False


LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss(d=discriminator_loss, g=generator_minimax),
    "non-saturating": GANLoss(d=discriminator_loss, g=generator_non_saturating),
}


def get_loss(name: str) -> GANLoss:
    """The loss registered under `name`; a GankitError lists the choices otherwise."""
    from gankit.errors import GankitError

    try:
        return LOSSES[name]
    except KeyError:
        raise GankitError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}") from None
