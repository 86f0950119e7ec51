"""Discriminator rejection sampling (Azadi et al. 2019, "Discriminator Rejection Sampling").

A discriminator trained to optimality gives D*(x) = p_data / (p_data + p_g) (Goodfellow
et al. 2014, Prop. 1), so its logit is log(p_data(x) / p_g(x)). Keeping each of G's
samples with probability exp(logit(x) - log M), with M the largest ratio, turns samples of
p_g into samples of p_data: the textbook rejection sampler, with D's ratio as the proposal
correction. A trained D is only near-optimal, so the sampler corrects only as well as D
judges; it changes which samples are kept, never G.

The acceptance probability is the paper's sigmoid(F(x)), with

    F(x) = s(x) - log M - log(1 - exp(s(x) - log M - eps)) - gamma,

where s is D's logit. gamma = 0 gives exactly exp(s(x) - log M); a positive gamma keeps
fewer samples (only the most convincing), a negative one more. log M is the largest score
seen in a burn-in draw, raised whenever a later candidate scores higher (as in the paper).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.noise import sample_noise
from gankit.sample import GeneratorInfo

__all__ = ["DRSOptions", "RejectionSampler", "acceptance_probability", "load_rejection_sampler"]

_EPS = 1e-6


@dataclass(frozen=True)
class DRSOptions:
    """Settings of discriminator rejection sampling.

    `burn_in`: candidates whose largest score sets log M before any sample is kept;
    `gamma`: the shift of F (0: exact rejection sampling with D's density ratio);
    `partners`: for a packed D (PacGAN), how many random pairings each candidate's score
    averages; `min_acceptance`: stop with an error when fewer candidates pass than this.
    """

    burn_in: int = 10_000
    gamma: float = 0.0
    partners: int = 4
    min_acceptance: float = 1e-3

    def validated(self) -> DRSOptions:
        if self.burn_in < 1:
            raise GankitError(f"DRS burn-in must be >= 1 sample, got {self.burn_in}")
        if self.partners < 1:
            raise GankitError(f"DRS partners must be >= 1, got {self.partners}")
        if not 0 < self.min_acceptance < 1:
            raise GankitError(f"DRS min_acceptance must be in (0, 1), got {self.min_acceptance}")
        if not math.isfinite(self.gamma):
            raise GankitError(f"DRS gamma must be finite, got {self.gamma}")
        return self

    @property
    def score_suffix(self) -> str:
        """What names scores taken through this sampler: `+drs` for gamma 0, else `+drs-gamma<gamma>`.

        Scores with different gammas thus sit side by side in eval.json, none overwriting another.
        """
        return "+drs" if self.gamma == 0 else f"+drs-gamma{self.gamma:g}"


def acceptance_probability(scores: Tensor, log_m: float, gamma: float = 0.0) -> Tensor:
    """sigmoid(F(x)) of Azadi et al. 2019 (eq. 8) for D's logits `scores` (pure function).

    With gamma = 0 this equals min(1, exp(scores - log_m)).
    """
    delta = (scores.double() - log_m).clamp(max=0.0)  # a score above log M is kept for sure
    f = delta - torch.log1p(-torch.exp(delta - _EPS)) - gamma
    return torch.sigmoid(f).to(scores.dtype)


def _judge_mode(discriminator: nn.Module) -> nn.Module:
    """D in eval mode except its BatchNorm layers, which normalize by the candidates' batch.

    In training D's BatchNorm saw G's samples as batches of their own, so candidates are
    judged the same way; dropout is off, so a score does not depend on a coin.
    """
    discriminator.eval()
    for module in discriminator.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.train()
    return discriminator


class RejectionSampler(nn.Module):
    """A generator that returns only the samples D's density ratio keeps.

    Call it like G: `sampler(noise)` returns as many kept samples as there are noise
    vectors. The noise given is drawn first; further candidates come from the sampler's
    own random stream, so results are reproducible under `seed`. D is copied, so the
    caller's D is left untouched. `acceptance` reports the fraction of candidates kept.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        info: GeneratorInfo,
        options: DRSOptions | None = None,
        pack: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if info.n_classes:
            raise GankitError("discriminator rejection sampling does not support conditional generators yet")
        if pack < 1:
            raise GankitError(f"pack must be >= 1, got {pack}")
        self.generator = generator
        self.discriminator = _judge_mode(copy.deepcopy(discriminator))
        self.info, self.options, self.pack = info, (options or DRSOptions()).validated(), pack
        self.rng = torch.Generator().manual_seed(seed)
        self.log_m: float | None = None
        self.drawn = self.kept = 0

    def train(self, mode: bool = True) -> RejectionSampler:
        """Only G changes mode; D keeps the judging mode it was given."""
        self.training = mode
        self.generator.train(mode)
        return self

    @property
    def acceptance(self) -> float:
        return self.kept / self.drawn if self.drawn else float("nan")

    def summary(self) -> dict[str, float | int | None]:
        """What the sampler did so far, for eval.json."""
        return {
            "method": "drs",
            "gamma": self.options.gamma,
            "burn_in": self.options.burn_in,
            "log_m": self.log_m,
            "candidates": self.drawn,
            "kept": self.kept,
            "acceptance": round(self.acceptance, 6) if self.drawn else None,
        }

    def _device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def _candidates(self, n: int) -> Tensor:
        noise = sample_noise(self.info.noise, n, self.info.noise_dim, self.rng)  # (n, noise_dim)
        return self.generator(noise.to(self._device()))

    @torch.no_grad()
    def score(self, x: Tensor) -> Tensor:
        """D's logit for each sample of `x`, (N,).

        A packed D judges `pack` samples at once; each sample then gets the mean logit of
        `partners` random packs it is in. Its partners add the same constant on average,
        which log M absorbs.
        """
        n, group = len(x), 4 * self.pack  # whole packs, and whole minibatch-std groups of 4 packs
        padded = -(-n // group) * group
        if self.pack == 1:
            index = torch.arange(padded) % n
            return self.discriminator(x[index])[:n].float()
        total = torch.zeros(n, device=x.device)
        for _ in range(self.options.partners):
            index = torch.randperm(n, generator=self.rng)[torch.arange(padded) % n].to(x.device)
            logits = self.discriminator(x[index]).float().repeat_interleave(self.pack)  # (padded,)
            total += torch.zeros(n, device=x.device).index_add_(0, index, logits)[:n] / torch.bincount(
                index, minlength=n
            ).clamp_min(1)
        return total / self.options.partners

    @torch.no_grad()
    def calibrate(self) -> float:
        """Set log M from `burn_in` candidates (the largest score) and return it."""
        scores = torch.cat(
            [
                self.score(self._candidates(min(500, self.options.burn_in - i)))
                for i in range(0, self.options.burn_in, 500)
            ]
        )
        self.log_m = float(scores.max())
        return self.log_m

    @torch.no_grad()
    def _keep(self, x: Tensor) -> Tensor:
        scores = self.score(x)
        assert self.log_m is not None
        self.log_m = max(self.log_m, float(scores.max()))
        p = acceptance_probability(scores, self.log_m, self.options.gamma).cpu()
        kept = torch.rand(len(x), generator=self.rng) < p
        self.drawn += len(x)
        self.kept += int(kept.sum())
        return x[kept.to(x.device)]

    @torch.no_grad()
    def forward(self, noise: Tensor, labels: Tensor | None = None) -> Tensor:
        if labels is not None:
            raise GankitError("discriminator rejection sampling does not support class labels yet")
        if self.log_m is None:
            self.calibrate()
        n = len(noise)
        chunks = [self._keep(self.generator(noise))]
        have = len(chunks[0])
        while have < n:
            if self.drawn >= 1000 and self.acceptance < self.options.min_acceptance:
                raise GankitError(
                    f"DRS kept {self.kept} of {self.drawn} candidates "
                    f"(under {self.options.min_acceptance:g}); lower --drs-gamma to keep more"
                )
            chunks.append(self._keep(self._candidates(max(n, 64))))
            have += len(chunks[-1])
        return torch.cat(chunks)[:n]


def load_rejection_sampler(
    run_dir: str | Path,
    generator: nn.Module,
    info: GeneratorInfo,
    options: DRSOptions | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> RejectionSampler:
    """A `RejectionSampler` around `generator` with the discriminator of `run_dir`'s latest checkpoint."""
    from gankit.checkpoint import load_checkpoint
    from gankit.config import TrainConfig
    from gankit.models import ModelOptions, build_models

    run_dir = Path(run_dir)
    if not (run_dir / "checkpoint" / "latest.json").is_file():
        raise GankitError(f"--drs needs the run's discriminator, but {run_dir} holds no checkpoint")
    state = load_checkpoint(run_dir / "checkpoint")
    config = TrainConfig.from_dict(state["config"])
    model_options = ModelOptions(info.n_classes, config.pack, config.minibatch_std, config.spectral_norm)
    discriminator = build_models(info.model, info.shape, info.noise_dim, model_options)[1]
    try:
        discriminator.load_state_dict(state["discriminator"])
    except RuntimeError as exc:
        raise GankitError(f"the discriminator in {run_dir} does not fit model {info.model}: {exc}") from None
    return RejectionSampler(generator, discriminator.to(device), info, options, config.pack, seed)
