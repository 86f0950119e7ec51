"""GAN losses as pure functions of discriminator logits.

Every function takes raw logits l, with D(x) = sigmoid(l), and is written with
`logsigmoid`/`softplus` so that it stays finite where D saturates at 0 or 1:
log D = logsigmoid(l) and log(1 - D) = logsigmoid(-l).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.registry import lookup, note_origin

__all__ = [
    "GANLoss",
    "LOSSES",
    "discriminator_loss",
    "discriminator_summary",
    "generator_minimax",
    "generator_non_saturating",
    "get_loss",
    "hinge_d",
    "hinge_g",
    "jsd_lower_bound",
    "least_squares_d",
    "least_squares_g",
    "ragan_d",
    "ragan_g",
    "register_loss",
    "rsgan_d",
    "rsgan_g",
    "value_function",
    "wasserstein_d",
    "wasserstein_g",
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


def discriminator_summary(
    real_logits: Tensor, fake_logits: Tensor, probabilistic: bool = True
) -> dict[str, Tensor]:
    """What one batch of D's logits says about the game: the mean D(x) on real and on fake
    samples, the estimate of V(D, G) and the JSD lower bound it gives. For a loss whose D
    outputs a score rather than a probability (`probabilistic` False), the mean logits instead."""
    if not probabilistic:
        return {"logit/real": real_logits.mean(), "logit/fake": fake_logits.mean()}
    value = value_function(real_logits, fake_logits)
    return {
        "d/real": torch.sigmoid(real_logits).mean(),
        "d/fake": torch.sigmoid(fake_logits).mean(),
        "v/estimate": value,
        "jsd/lower_bound": jsd_lower_bound(value),
    }


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


def hinge_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]: the hinge loss of Lim & Ye 2017 (Geometric GAN),
    as used by SNGAN (Miyato et al. 2018, eq. (16)) and BigGAN. Here D(.) is the raw logit."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def hinge_g(real_logits: Tensor | None, fake_logits: Tensor) -> Tensor:
    """-E[D(G(z))], the generator side of the hinge loss (Lim & Ye 2017; Miyato et al. 2018)."""
    del real_logits
    return -fake_logits.mean()


def wasserstein_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """E[D(G(z))] - E[D(x)]: the critic loss of WGAN (Arjovsky et al. 2017, eq. (3)).

    D must be kept (close to) 1-Lipschitz: pair it with `--gp` (Gulrajani et al. 2017)
    or `--spectral-norm`; alone the loss is unbounded below.
    """
    return fake_logits.mean() - real_logits.mean()


def wasserstein_g(real_logits: Tensor | None, fake_logits: Tensor) -> Tensor:
    """-E[D(G(z))], the generator side of WGAN (Arjovsky et al. 2017)."""
    del real_logits
    return -fake_logits.mean()


def least_squares_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]: LSGAN with a=0, b=1 (Mao et al. 2017, eq. (2))."""
    return 0.5 * (real_logits - 1).square().mean() + 0.5 * fake_logits.square().mean()


def least_squares_g(real_logits: Tensor | None, fake_logits: Tensor) -> Tensor:
    """1/2 E[(D(G(z)) - 1)^2]: LSGAN's generator loss with c=1 (Mao et al. 2017, eq. (2))."""
    del real_logits
    return 0.5 * (fake_logits - 1).square().mean()


def _pairwise_differences(first: Tensor, second: Tensor) -> Tensor:
    """first_i - second_j for every pair (i, j), flattened: the relativistic comparisons."""
    return (first[:, None] - second[None, :]).flatten()  # (N * M,)


def rsgan_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-E[log sigmoid(C(x_r) - C(x_f))]: the relativistic standard GAN (Jolicoeur-Martineau 2019, eq. (9)).

    The expectation runs over all pairs of a real and a fake sample of the batch.
    """
    return -F.logsigmoid(_pairwise_differences(real_logits, fake_logits)).mean()


def rsgan_g(real_logits: Tensor | None, fake_logits: Tensor) -> Tensor:
    """-E[log sigmoid(C(x_f) - C(x_r))]: RSGAN's generator loss (Jolicoeur-Martineau 2019, eq. (10))."""
    return -F.logsigmoid(_pairwise_differences(fake_logits, _needs(real_logits))).mean()


def ragan_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Relativistic average GAN (Jolicoeur-Martineau 2019, eq. (13)) with the standard (logistic) loss:
    -E[log sigmoid(C(x_r) - E C(x_f))] - E[log(1 - sigmoid(C(x_f) - E C(x_r)))]."""
    return (
        -F.logsigmoid(real_logits - fake_logits.mean()).mean()
        - F.logsigmoid(-(fake_logits - real_logits.mean())).mean()
    )


def ragan_g(real_logits: Tensor | None, fake_logits: Tensor) -> Tensor:
    """RaGAN's generator loss (Jolicoeur-Martineau 2019, eq. (14)): D's loss with real and fake swapped."""
    return ragan_d(fake_logits, _needs(real_logits))


def _needs(real_logits: Tensor | None) -> Tensor:
    if real_logits is None:
        raise ValueError("a relativistic generator loss needs D's logits on real data")
    return real_logits


KERAS_EPSILON = 1e-7  # keras.backend.epsilon(): binary_crossentropy clips probabilities to [eps, 1 - eps]


def _keras_bce(logits: Tensor, target: float) -> Tensor:
    """Keras's binary cross-entropy of sigmoid(logits) against `target`, probabilities clipped."""
    p = torch.sigmoid(logits).clamp(KERAS_EPSILON, 1 - KERAS_EPSILON)
    return -(target * torch.log(p) + (1 - target) * torch.log(1 - p)).mean()


def keras_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """D's binary cross-entropy (real 1, fake 0) as Keras computes it: D's probabilities clipped
    to [1e-7, 1 - 1e-7], which bounds each term by -log(1e-7) = 16.1 and zeroes its gradient there."""
    return _keras_bce(real_logits, 1.0) + _keras_bce(fake_logits, 0.0)


def keras_g(real_logits: Tensor | None, fake_logits: Tensor) -> Tensor:
    """G's step of the Keras article: fakes labelled real through the frozen D, -log D(G(z)) with
    Keras's clipping (the non-saturating loss, bounded at 16.1)."""
    del real_logits
    return _keras_bce(fake_logits, 1.0)


@dataclass(frozen=True)
class GANLoss:
    """A pair of pure losses: `d(real_logits, fake_logits)` and `g(real_logits, fake_logits)`.

    `g_needs_real` is False for losses whose generator term ignores real logits,
    so the trainer can skip a forward pass of D on real data during G's step.
    `probabilistic` is True where sigmoid(logit) is D's probability that x is real,
    so that V(D, G) and its JSD bound are meaningful; `paper` names the source.
    """

    d: Callable[[Tensor, Tensor], Tensor]
    g: Callable[[Tensor | None, Tensor], Tensor]
    g_needs_real: bool = False
    probabilistic: bool = False
    paper: str = ""


LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss(discriminator_loss, generator_minimax, False, True, "Goodfellow et al. 2014"),
    "non-saturating": GANLoss(
        discriminator_loss, generator_non_saturating, False, True, "Goodfellow et al. 2014, Sec. 3"
    ),
    "keras-bce": GANLoss(keras_d, keras_g, False, True, "Keras binary_crossentropy (clipped), article 000"),
    "hinge": GANLoss(hinge_d, hinge_g, paper="Lim & Ye 2017; Miyato et al. 2018"),
    "wasserstein": GANLoss(wasserstein_d, wasserstein_g, paper="Arjovsky et al. 2017"),
    "least-squares": GANLoss(least_squares_d, least_squares_g, paper="Mao et al. 2017"),
    "rsgan": GANLoss(rsgan_d, rsgan_g, g_needs_real=True, paper="Jolicoeur-Martineau 2019"),
    "ragan": GANLoss(ragan_d, ragan_g, g_needs_real=True, paper="Jolicoeur-Martineau 2019"),
}


def register_loss(
    name: str,
    d: Callable[[Tensor, Tensor], Tensor],
    g: Callable[[Tensor | None, Tensor], Tensor],
    *,
    g_needs_real: bool = False,
    probabilistic: bool = False,
    paper: str = "",
) -> GANLoss:
    """Register the pure pair `d(real_logits, fake_logits)`, `g(real_logits, fake_logits)` as `name`."""
    LOSSES[name] = GANLoss(d, g, g_needs_real, probabilistic, paper)
    note_origin("loss", name, d)
    return LOSSES[name]


def get_loss(name: str) -> GANLoss:
    """The loss registered under `name`, or the `GANLoss` that `package.module:name` names."""
    return lookup(LOSSES, name, "loss", GANLoss)
