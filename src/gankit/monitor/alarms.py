"""Watching a run: alarms for the failure modes the reference documents show.

- *Discriminator dominance*: D separates real from fake almost perfectly (the documents'
  `d_loss 0.000318, g_loss 7.6`) for a sustained window, while G's gradient collapses
  (minimax loss) or its loss climbs (non-saturating loss).
- *Mode collapse*: samples of the fixed noise batch lose their diversity against the
  real data's, or (with a cached classifier) their predicted classes concentrate.
- *Non-finite values*: a NaN/Inf loss or gradient, caught before the weights change
  (see `NonFiniteError`; the trainer restores a checkpoint and halves the learning rates).

Each alarm is a small state machine fed with the logged numbers; it reports an `AlarmEvent`
once when it starts and once when it clears.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class AlarmEvent:
    """An alarm starting or clearing at a step, with what it means and what usually helps."""

    step: int
    name: str
    state: str  # "start" or "clear"
    message: str

    def record(self) -> dict[str, object]:
        return {"step": self.step, "alarm": self.name, "state": self.state, "message": self.message}

    def line(self) -> str:
        verb = "ALARM" if self.state == "start" else "cleared"
        return f"[step {self.step}] {verb} {self.name}: {self.message}"


class NonFiniteError(RuntimeError):
    """A loss or gradient was NaN/Inf; raised before the optimizer step, so no weight changed."""

    def __init__(self, step: int, tensor: str) -> None:
        super().__init__(f"non-finite {tensor} at step {step}")
        self.step, self.tensor = step, tensor


def check_finite(step: int, **tensors: Tensor) -> None:
    """Raise `NonFiniteError` naming the first of `tensors` (scalars) that is NaN or Inf."""
    flags = torch.stack([torch.isfinite(t).all() for t in tensors.values()])
    if not bool(flags.all()):  # one host sync for all of them
        raise NonFiniteError(step, next(n for n, ok in zip(tensors, flags.tolist(), strict=True) if not ok))


class FiniteChecks:
    """NaN/Inf checks of each step's losses and gradient norms, at once or deferred.

    With `every` == 1, `check` raises `NonFiniteError` before the optimizer step (one host sync
    per call). With `every` > 1 it only accumulates the flags on the device, and `verify` reads
    them (one host sync) every `every` steps and before each checkpoint. Under DDP only the
    gradient norm is checked: it is averaged over ranks, so every rank sees the same value and
    all of them stop together.
    """

    def __init__(self, every: int, distributed: bool = False) -> None:
        if every < 1:
            raise ValueError(f"NaN/Inf checks need every >= 1, got {every}")
        self.every, self.distributed = every, distributed
        self._pending: Tensor | None = None  # flags accumulated since the last verify

    def check(self, step: int, loss_name: str, loss: Tensor, grad_name: str, grad: Tensor) -> None:
        """Check the loss and gradient norm of training step `step` (raise now, or defer)."""
        tensors = {grad_name: grad} if self.distributed else {loss_name: loss, grad_name: grad}
        if self.every == 1:
            check_finite(step, **tensors)
            return
        finite = torch.stack([torch.isfinite(t).all() for t in tensors.values()]).all()
        self._pending = finite if self._pending is None else self._pending & finite

    def verify(self, step: int) -> None:
        """Raise `NonFiniteError` if a deferred check up to `step` saw a NaN/Inf; clears the flags."""
        finite, self._pending = self._pending, None
        if finite is not None and not bool(finite):
            raise NonFiniteError(step, f"loss or gradient within the last {self.every} steps")

    def clear(self) -> None:
        """Drop the pending flags (after restoring a checkpoint)."""
        self._pending = None


class _Alarm:
    name = ""

    def __init__(self) -> None:
        self.active = False

    def _transition(self, step: int, firing: bool, start: str, clear: str) -> AlarmEvent | None:
        if firing == self.active:
            return None
        self.active = firing
        return AlarmEvent(step, self.name, "start" if firing else "clear", start if firing else clear)


class DominanceAlarm(_Alarm):
    """D wins: mean D(real) > `real_above` and mean D(fake) < `fake_below` in every logged record
    over `window` steps. Its message gives G's gradient norm against its peak: under the minimax
    loss that gradient vanishes; under the non-saturating loss it stays while g_loss climbs."""

    name = "dominance"

    def __init__(self, window: int, real_above: float = 0.9, fake_below: float = 0.1) -> None:
        super().__init__()
        self.window, self.real_above, self.fake_below = window, real_above, fake_below
        self.peak_grad = 0.0
        self.since: int | None = None  # first step of the current run of dominated records

    def observe(self, step: int, record: dict[str, float]) -> AlarmEvent | None:
        if not {"d/real", "d/fake"} <= record.keys():
            return None
        grad = record.get("grad/g", float("nan"))
        self.peak_grad = max(self.peak_grad, grad) if math.isfinite(grad) else self.peak_grad
        dominated = record["d/real"] > self.real_above and record["d/fake"] < self.fake_below
        self.since = (self.since if self.since is not None else step) if dominated else None
        firing = self.since is not None and step - self.since >= self.window
        return self._transition(
            step,
            firing if not self.active else dominated,
            f"for {self.window}+ steps D has told real (D={record['d/real']:.3f}) from fake "
            f"(D={record['d/fake']:.3f}); g_loss {record.get('loss/g', float('nan')):.3g}, G's gradient "
            f"{grad:.3g} ({grad / max(self.peak_grad, 1e-12):.0%} of its peak): G gets little useful "
            "signal. Usually helps: the non-saturating loss, a lower D learning rate (--lr-d), fewer D "
            "steps (--k 1).",
            f"D no longer dominates (D(real)={record['d/real']:.3f}, D(fake)={record['d/fake']:.3f}).",
        )


def pairwise_diversity(x: Tensor) -> float:
    """Mean Euclidean distance between distinct rows of x (n, ...) flattened."""
    flat = x.flatten(1).double()
    n = len(flat)
    return float(torch.cdist(flat, flat).sum() / (n * (n - 1)))


class CollapseAlarm(_Alarm):
    """Mode collapse on the fixed noise batch: diversity ratio (fake / real mean pairwise distance)
    below `ratio_below`, or predicted classes' KL to uniform above `kl_above` when a classifier is given.
    It clears once the ratio is back above `ratio_clear` and the KL below `kl_above`. Nothing fires
    before step `warmup`: an untrained generator's samples are all alike without being collapsed."""

    name = "collapse"

    def __init__(
        self, warmup: int, ratio_below: float = 0.25, ratio_clear: float = 0.4, kl_above: float = 1.0
    ) -> None:
        super().__init__()
        self.warmup = warmup
        self.ratio_below, self.ratio_clear, self.kl_above = ratio_below, ratio_clear, kl_above

    def observe(self, step: int, ratio: float, kl: float | None = None) -> AlarmEvent | None:
        if step < self.warmup:
            return None
        concentrated = kl is not None and kl > self.kl_above
        firing = ratio < (self.ratio_clear if self.active else self.ratio_below) or concentrated
        kl_text = (
            f", predicted-class KL to uniform {kl:.2f} (max {math.log(10):.2f})" if kl is not None else ""
        )
        return self._transition(
            step,
            firing,
            f"samples of the fixed noise batch are {ratio:.0%} as diverse as real data{kl_text}: G covers "
            "few modes. Usually helps: a lower learning rate, the non-saturating loss, restarting from an "
            "earlier checkpoint, or a model with minibatch features.",
            f"sample diversity recovered ({ratio:.0%} of real{kl_text}).",
        )
