"""The settings of discriminator rejection sampling (`gankit.sampling.rejection`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gankit.errors import GankitError

__all__ = ["CRITICS", "DRSOptions"]

CRITICS = ("discriminator", "fourier")
"""What judges candidates: the run's D, or a fresh `FourierCritic` trained for the purpose."""


@dataclass(frozen=True)
class DRSOptions:
    """Settings of discriminator rejection sampling.

    `burn_in`: candidates whose largest score sets log M before any sample is kept;
    `gamma`: the shift of F (0: exact rejection sampling with D's density ratio);
    `partners`: for a packed D (PacGAN), how many random pairings each candidate's score
    averages; `min_acceptance`: stop with an error when fewer candidates pass than this;
    `refine_steps`: train a copy of D this many more steps against the sampled G before
    judging (0: judge with D as trained), with Adam at `refine_lr` (beta1 0.5) on batches of
    `refine_batch` real and as many generated samples; `critic`: `discriminator` (the run's
    D) or `fourier` (a fresh `FourierCritic` of frequency scale `fourier_scale`, trained
    `refine_steps` steps; points only).
    """

    burn_in: int = 10_000
    gamma: float = 0.0
    partners: int = 4
    min_acceptance: float = 1e-3
    refine_steps: int = 0
    refine_lr: float = 1e-4
    refine_batch: int = 256
    critic: str = "discriminator"
    fourier_scale: float = 2.0

    def validated(self) -> DRSOptions:
        if self.burn_in < 1:
            raise GankitError(f"DRS burn-in must be >= 1 sample, got {self.burn_in}")
        if self.partners < 1:
            raise GankitError(f"DRS partners must be >= 1, got {self.partners}")
        if not 0 < self.min_acceptance < 1:
            raise GankitError(f"DRS min_acceptance must be in (0, 1), got {self.min_acceptance}")
        if not math.isfinite(self.gamma):
            raise GankitError(f"DRS gamma must be finite, got {self.gamma}")
        if self.refine_steps < 0:
            raise GankitError(f"DRS refine steps must be >= 0, got {self.refine_steps}")
        if not (math.isfinite(self.refine_lr) and self.refine_lr > 0):
            raise GankitError(f"DRS refine learning rate must be > 0, got {self.refine_lr}")
        if self.refine_batch < 1:
            raise GankitError(f"DRS refine batch must be >= 1, got {self.refine_batch}")
        if self.critic not in CRITICS:
            raise GankitError(f"DRS critic must be one of {', '.join(CRITICS)}, got {self.critic!r}")
        if self.critic == "fourier" and self.refine_steps == 0:
            raise GankitError(
                "the fourier DRS critic starts untrained: give it refine steps (--drs-refine-steps)"
            )
        if not (math.isfinite(self.fourier_scale) and self.fourier_scale > 0):
            raise GankitError(f"DRS fourier scale must be > 0, got {self.fourier_scale}")
        if self.critic != "fourier" and self.fourier_scale != DRSOptions.fourier_scale:
            raise GankitError("a DRS fourier scale applies only to the fourier critic (--drs-critic fourier)")
        return self

    @property
    def score_suffix(self) -> str:
        """What names scores taken through this sampler: `+drs`, then `-gamma<gamma>` for a gamma
        other than 0, then `-fourier` for the Fourier critic (`-fourier<scale>` at a scale other
        than 2), then `-refine<steps>` when D was refined, with `-lr<lr>` for a learning rate other
        than the default (`+drs-gamma3-refine2000`, `+drs-gamma-10-fourier-refine1500-lr0.001`).

        Scores with different settings thus sit side by side in eval.json, none overwriting another.
        """
        gamma = f"-gamma{self.gamma:g}" if self.gamma != 0 else ""
        critic = ""
        if self.critic == "fourier":
            scale = self.fourier_scale
            critic = "-fourier" + (f"{scale:g}" if scale != DRSOptions.fourier_scale else "")
        refine = f"-refine{self.refine_steps}" if self.refine_steps else ""
        if self.refine_steps and self.refine_lr != DRSOptions.refine_lr:
            refine += f"-lr{self.refine_lr:g}"
        return f"+drs{gamma}{critic}{refine}"
