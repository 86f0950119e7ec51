"""The optimizers of G and D, their learning-rate schedule, and gradient norms."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gankit.config import TrainConfig

__all__ = ["grad_norm", "linear_decay", "make_optimizer", "match_param_layout"]


def make_optimizer(params: Any, config: TrainConfig, lr: float) -> torch.optim.Optimizer:
    """Adam(lr, (beta1, beta2)) as in DCGAN, or SGD with (Nesterov) momentum as in the Keras document."""
    if config.optimization.optimizer == "adam":
        return torch.optim.Adam(
            params,
            lr=lr,
            betas=(config.optimization.beta1, config.optimization.beta2),
            fused=config.run.fused_optimizer,
        )
    return torch.optim.SGD(
        params, lr=lr, momentum=config.optimization.momentum, nesterov=config.optimization.nesterov
    )


def match_param_layout(opt: torch.optim.Optimizer) -> None:
    """Give loaded optimizer moments their parameter's memory layout (checkpoints store them contiguous).

    A fused optimizer walks a parameter and its moments element by element in memory
    order, so a channels-last parameter needs channels-last moments.
    """
    for group in opt.param_groups:
        for param in group["params"]:
            for key, value in opt.state.get(param, {}).items():
                if (
                    isinstance(value, Tensor)
                    and value.shape == param.shape
                    and value.stride() != param.stride()
                ):
                    opt.state[param][key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def grad_norm(module: nn.Module) -> Tensor:
    """The L2 norm of all of `module`'s gradients together, as a tensor (no host sync)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return torch.nn.utils.get_total_norm(grads) if grads else torch.zeros(())


def exponential_decay(rate: float, step: int, factor: float | None, floor: float = 0.0) -> float:
    """`rate` divided by `factor` once per update so far, not below `floor` (pylearn2's
    ExponentialDecay, which the 2014 paper's MNIST run used with factor 1.000004)."""
    if factor is None:
        return rate
    return max(rate / factor**step, floor)


def momentum_ramp(start: float, final: float | None, epoch: float, ramp_epochs: float) -> float:
    """SGD momentum at `epoch`: linear from `start` to `final` over `ramp_epochs`, then `final`
    (pylearn2's MomentumAdjustor, as the 2014 paper's code ramps 0.5 to 0.7 over 250 epochs)."""
    if final is None:
        return start
    return start + (final - start) * min(epoch / ramp_epochs, 1.0)


def linear_decay(step: int, steps: int, start: float | None) -> float:
    """The learning-rate multiplier at `step` (0-based) of `steps`: 1, then linear to 0.

    With `start` None the rate is constant (multiplier 1). Otherwise it stays at 1 for
    the first `start` fraction of training and then falls linearly, reaching 0 after the
    last step: the step-wise linear decay that CycleGAN (Zhu et al. 2017) and many GAN
    recipes since end training with. A rate that shrinks to 0 lets G settle on D's last
    judgement instead of orbiting it, which sharpens samples at equal budget.
    """
    if start is None:
        return 1.0
    if not 0.0 <= start < 1.0:
        raise ValueError(f"decay start must be in [0, 1), got {start}")
    begin = start * steps
    if step < begin:
        return 1.0
    return max(0.0, (steps - step) / (steps - begin))
