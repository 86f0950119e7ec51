"""An exponential moving average of the generator's weights (Karras et al. 2018; Yazici et al. 2019).

Sampling from the averaged weights removes much of the step-to-step jitter of G that the
adversarial game causes. The decay is set by a half-life counted in training images, so it
does not depend on the batch size: after `half_life` images an old weight counts half.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["GeneratorEMA", "ema_decay", "ramped_half_life"]


def ema_decay(half_life_images: float, images_per_step: int) -> float:
    """beta with beta ** (half_life / images_per_step) = 1/2."""
    if not half_life_images > 0:
        raise ValueError(f"EMA half-life must be > 0 images, got {half_life_images}")
    return 0.5 ** (images_per_step / half_life_images)


def ramped_half_life(half_life_images: float, images_seen: int, rampup: float | None) -> float:
    """The half-life in use after `images_seen` images: at most `rampup` x images seen.

    StyleGAN2-ADA's ramp-up (Karras et al. 2020): early in training, G's weights move fast
    and an average over a long window would trail far behind them, so the window grows with
    the images seen until it reaches `half_life_images`. None turns the ramp-up off.
    """
    if rampup is None:
        return half_life_images
    if not rampup > 0:
        raise ValueError(f"EMA ramp-up must be > 0, got {rampup}")
    return min(half_life_images, rampup * max(images_seen, 1))


class GeneratorEMA:
    """A frozen copy of G whose parameters follow theta_ema <- beta theta_ema + (1 - beta) theta.

    Buffers (BatchNorm running statistics) are copied from G at each update.
    """

    def __init__(self, generator: nn.Module, beta: float) -> None:
        self.beta = beta
        self.module = copy.deepcopy(generator).requires_grad_(False).eval()

    @torch.no_grad()
    def update(self, generator: nn.Module, beta: float | None = None) -> None:
        """One averaging step, with decay `beta` (default: the fixed one given at creation)."""
        beta = self.beta if beta is None else beta
        params = list(self.module.parameters())
        torch._foreach_lerp_(params, [p.detach() for p in generator.parameters()], 1 - beta)
        for mine, theirs in zip(self.module.buffers(), generator.buffers(), strict=True):
            mine.copy_(theirs)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)
