"""Learning-rate schedules, as pure functions of the step."""

from __future__ import annotations


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
