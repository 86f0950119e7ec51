"""Discriminator regularizers as pure functions: gradient penalties and spectral normalization.

The penalties take D as a callable and return a scalar to add to D's loss; the trainer
decides when to apply them (R1's lazy interval) and with what weight.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = ["apply_spectral_norm", "gradient_penalty", "input_gradient", "r1_penalty"]


def input_gradient(logits: Tensor, inputs: Tensor) -> Tensor:
    """d(sum of logits)/d(inputs), kept in the graph so that a penalty on it can be trained."""
    (grad,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return grad.flatten(1)  # (N, prod(shape))


def r1_penalty(real_logits: Tensor, real: Tensor) -> Tensor:
    """E_x ||grad_x D(x)||^2 on real data (Mescheder et al. 2018, eq. (9); weight gamma/2 outside).

    `real` must have been passed to D with `requires_grad=True`.
    """
    return input_gradient(real_logits, real).square().sum(dim=1).mean()


def gradient_penalty(
    discriminator: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, generator: torch.Generator
) -> Tensor:
    """E[(||grad D(x_hat)||_2 - 1)^2] at x_hat = e x + (1 - e) G(z), e ~ U[0, 1] drawn per example.

    The penalty of WGAN-GP (Gulrajani et al. 2017, eq. (3); weight lambda outside).
    """
    shape = (len(real),) + (1,) * (real.dim() - 1)
    weight = torch.rand(shape, generator=generator, device=generator.device).to(real.device)
    mixed = (weight * real.detach() + (1 - weight) * fake.detach()).requires_grad_(True)  # (N, *shape)
    norms = input_gradient(discriminator(mixed), mixed).norm(dim=1)  # (N,)
    return (norms - 1).square().mean()


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalization (Miyato et al. 2018) on every linear, convolution and embedding weight.

    Each weight is divided by its largest singular value, estimated by one step of power
    iteration per training forward pass, so that each layer is (about) 1-Lipschitz.
    """
    layers = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)
    for layer in list(module.modules()):
        if isinstance(layer, layers):
            nn.utils.parametrizations.spectral_norm(layer)
    return module
