"""One iteration of Algorithm 1 (Goodfellow et al. 2014) as an object you can drive by hand.

`GANStep` holds G, D, their optimizers, the loss and the regularizer settings. Given the
inputs of one iteration (`Iteration`: k real batches with their labels, the noise of each of
D's k steps, and the noise and labels of G's step), it performs k discriminator updates and
one generator update through a frozen D, updates the EMA of G, and returns the statistics of
the iteration as tensors on the device. It reads no file, writes none and logs nothing; the
loop around it (`gankit.training.trainer`) draws the inputs and schedules everything else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gankit.augment import diff_augment
from gankit.ema import GeneratorEMA, ema_decay, ramped_half_life
from gankit.losses import GANLoss, discriminator_summary
from gankit.models.parts import eval_mode
from gankit.monitor.alarms import FiniteChecks
from gankit.regularizers import gradient_penalty, r1_penalty
from gankit.runtime.precision import autocast, step_numerics
from gankit.training.modules import StepModules, call_with_labels
from gankit.training.optim import grad_norm

__all__ = ["GANStep", "Iteration", "StepOptions"]


@dataclass(frozen=True)
class Iteration:
    """The inputs of one iteration: one entry per discriminator step in `real`, `real_labels` and
    `d_noise`; G's noise and labels (None where G reuses the last D step's fakes); and, for the
    relativistic losses only, a real batch for G's step."""

    real: tuple[Tensor, ...]  # k batches of (m, ...)
    real_labels: tuple[Tensor | None, ...]  # D's fakes take their real batch's labels
    d_noise: tuple[Tensor, ...]  # k batches of (m, noise_dim)
    g_noise: Tensor | None = None
    g_labels: Tensor | None = None
    g_real: Tensor | None = None
    g_real_labels: Tensor | None = None

    @property
    def k(self) -> int:
        return len(self.real)


@dataclass(frozen=True)
class StepOptions:
    """The settings of the update mathematics (see `gankit.regularizers`, `gankit.augment`, `gankit.ema`).

    `r1` is gamma of the R1 penalty, applied every `r1_interval` D steps and scaled by it (lazy
    regularization); `gp` is lambda of the gradient penalty; `reuse_fakes` steps G on the last
    D step's fakes; `augment` is a DiffAugment policy; the EMA decay follows `ema_half_life`
    images, ramped up by `ema_rampup`, with `images_per_step` images per iteration.
    """

    r1: float = 0.0
    r1_interval: int = 16
    gp: float = 0.0
    reuse_fakes: bool = False
    augment: tuple[str, ...] = ()
    ema_half_life: float | None = None
    ema_rampup: float | None = None
    images_per_step: int = 64
    d_loss_mean: bool = False  # D's loss halved: the mean over the concatenated 2m samples (Keras)
    d_fakes_eval: bool = False  # D's fakes from G in eval mode (Keras's g.predict)


class GANStep:
    """k discriminator updates, then one generator update through a frozen D, then the EMA of G.

    `modules` says what each part calls (DDP wrappers or compiled callables around G and D;
    `StepModules.plain(G, D)` for the models themselves). `finite` checks each loss and gradient
    norm for NaN/Inf before the weights change; `augment_rng` drives DiffAugment and the
    gradient penalty's interpolation; `precision` and `device` set the autocast of the forward
    passes. `last_d_logits` keeps D's logits of the last D step (for histograms).
    """

    def __init__(
        self,
        modules: StepModules,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        loss: GANLoss,
        options: StepOptions | None = None,
        ema: GeneratorEMA | None = None,
        finite: FiniteChecks | None = None,
        augment_rng: torch.Generator | None = None,
        precision: str = "fp32",
        device: torch.device | str = "cpu",
        cuda_graphs: bool = False,
    ) -> None:
        self.modules, self.opt_g, self.opt_d, self.loss = modules, opt_g, opt_d, loss
        self.options = options or StepOptions()
        self.ema, self.finite = ema, finite
        self.device = torch.device(device)
        self.augment_rng = augment_rng or torch.Generator(self.device)
        self.precision, self.cuda_graphs = precision, cuda_graphs
        self.last_d_logits: tuple[Tensor, Tensor] | None = None

    @property
    def generator(self) -> nn.Module:
        return self.modules.generator

    @property
    def discriminator(self) -> nn.Module:
        return self.modules.discriminator

    def __call__(self, inputs: Iteration, step: int = 0) -> dict[str, Tensor]:
        """Iteration `step` (0-based; it sets the lazy R1 schedule and the EMA ramp-up)."""
        with step_numerics(self.precision, self.device):
            if self.cuda_graphs:
                torch.compiler.cudagraph_mark_step_begin()  # the last step's graph outputs are consumed
            return self._iterate(inputs, step)

    def _iterate(self, inputs: Iteration, step: int) -> dict[str, Tensor]:
        o, fake, stats = self.options, None, {}
        for i in range(inputs.k):
            real, labels, noise = inputs.real[i], inputs.real_labels[i], inputs.d_noise[i]
            r1_due = o.r1 > 0 and (step * inputs.k + i) % o.r1_interval == 0
            if o.reuse_fakes and i == inputs.k - 1:  # G's step reuses these fakes: they keep G's graph
                with self._autocast():
                    fake = call_with_labels(self.modules.g_train, noise, labels)
            stats = self.d_step(real, noise, labels, r1_due, fake=fake, step=step)
        if fake is None:  # Algorithm 1: fresh noise for G's step
            noise, labels = inputs.g_noise, inputs.g_labels
        g_stats = self.g_step(noise, inputs.g_real, labels, inputs.g_real_labels, fake=fake, step=step)
        return {**stats, **g_stats}

    def d_step(
        self,
        real: Tensor,
        noise: Tensor,
        labels: Tensor | None = None,
        r1_due: bool = False,
        fake: Tensor | None = None,
        step: int = 0,
    ) -> dict[str, Tensor]:
        """One discriminator update on m real and m fresh fake samples (fakes carry no graph to G).

        Fakes take the real batch's labels when conditional. `r1_due` adds the lazy R1 penalty,
        scaled by its interval; the gradient penalty is added at every step. `fake` is G's
        output for `noise` when the caller already made it (`reuse_fakes`); D sees it detached.
        """
        o, m = self.options, self.modules
        if fake is None:
            mode = eval_mode(m.generator) if o.d_fakes_eval else contextlib.nullcontext()
            with torch.no_grad(), self._autocast(), mode:
                fake = call_with_labels(m.g_sample, noise, labels)
        else:
            fake = fake.detach()
        if r1_due:
            real = real.detach().requires_grad_(True)
        with self._autocast():
            real_logits, fake_logits = m.d_pair(self._augmented(real), self._augmented(fake), labels)
        real_logits, fake_logits = real_logits.float(), fake_logits.float()  # losses in fp32
        loss = self.loss.d(real_logits, fake_logits)
        if o.d_loss_mean:  # both batches hold m samples: the mean over 2m is half the sum of means
            loss = loss / 2
        penalties = self._d_penalties(real, fake, real_logits, labels, r1_due)
        weights = {"reg/r1": (o.r1 / 2) * o.r1_interval, "reg/gp": o.gp}
        for name, penalty in penalties.items():
            loss = loss + weights[name] * penalty
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        grad = grad_norm(m.discriminator)
        if self.finite is not None:
            self.finite.check(step + 1, "loss/d", loss.detach(), "grad/d", grad)
        self.opt_d.step()
        real_logits, fake_logits = real_logits.detach(), fake_logits.detach()
        self.last_d_logits = (real_logits, fake_logits)
        return {
            "loss/d": loss.detach(),
            **{name: penalty.detach() for name, penalty in penalties.items()},
            "grad/d": grad,
            **discriminator_summary(real_logits, fake_logits, self.loss.probabilistic),
        }

    def _d_penalties(
        self, real: Tensor, fake: Tensor, real_logits: Tensor, labels: Tensor | None, r1_due: bool
    ) -> dict[str, Tensor]:
        """D's regularizers at this step, unweighted: the lazy R1 penalty on the real batch when
        due (`real` must require grad), and the gradient penalty when its weight is set."""
        penalties: dict[str, Tensor] = {}
        if r1_due:
            penalties["reg/r1"] = r1_penalty(real_logits, real)
        if self.options.gp:

            def d_fp32(x: Tensor) -> Tensor:
                with self._autocast():
                    return call_with_labels(self.modules.discriminator, x, labels).float()

            penalties["reg/gp"] = gradient_penalty(d_fp32, real, fake, self.augment_rng)
        return penalties

    def g_step(
        self,
        noise: Tensor | None,
        real: Tensor | None = None,
        labels: Tensor | None = None,
        real_labels: Tensor | None = None,
        fake: Tensor | None = None,
        step: int = 0,
    ) -> dict[str, Tensor]:
        """One generator update through D; D's parameters take no gradient and are not updated.

        D is called unwrapped: under DDP only G's gradients are averaged over ranks here.
        `real` (with `real_labels`) is needed by the relativistic losses only. `fake`, with its
        graph to G, replaces G's forward pass on `noise` (`reuse_fakes`).
        """
        m = self.modules
        with self._frozen_discriminator():
            with self._autocast():
                if fake is None:
                    fake = call_with_labels(m.g_train, noise, labels)
                fake_logits = call_with_labels(m.d_frozen, self._augmented(fake), labels).float()
                real_logits = None
                if self.loss.g_needs_real and real is not None:
                    real_logits = call_with_labels(m.d_frozen, self._augmented(real), real_labels).float()
            loss = self.loss.g(real_logits, fake_logits)
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
            grad = grad_norm(m.generator)
            if self.finite is not None:
                self.finite.check(step + 1, "loss/g", loss.detach(), "grad/g", grad)
            self.opt_g.step()
        if self.ema is not None:
            self.ema.update(m.generator, self.ema_beta(step))
        return {"loss/g": loss.detach(), "grad/g": grad}

    @contextlib.contextmanager
    def _frozen_discriminator(self) -> Iterator[None]:
        self.modules.discriminator.requires_grad_(False)
        try:
            yield
        finally:
            self.modules.discriminator.requires_grad_(True)

    def ema_beta(self, step: int) -> float | None:
        """The EMA decay after iteration `step` from the ramped half-life; None: the fixed one."""
        o = self.options
        if o.ema_rampup is None or o.ema_half_life is None:
            return None
        half_life = ramped_half_life(o.ema_half_life, (step + 1) * o.images_per_step, o.ema_rampup)
        return ema_decay(half_life, o.images_per_step)

    def _augmented(self, x: Tensor) -> Tensor:
        return diff_augment(x, self.options.augment, self.augment_rng) if self.options.augment else x

    def _autocast(self) -> torch.autocast:
        """bf16 autocast of the forward passes under bf16 precision (a no-op otherwise)."""
        return autocast(self.precision, self.device)
