"""The theory of Goodfellow et al. 2014 as code that can be checked.

`divergence` holds the formulas (KL, JSD, D*, V, C(G)); `checks` compares each to an
independent route; `empirical` trains real networks against the theory; `figures`
draws the paper's Figure 1 and its 2-D counterpart.
"""

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

__all__ = [
    "gaussian_pdf",
    "jsd",
    "kl",
    "kl_gaussian",
    "optimal_discriminator",
    "pointwise_argmax",
    "uniform_pdf",
    "value_function",
    "virtual_criterion",
]
