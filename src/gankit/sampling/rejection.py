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

D ends training judging the G of its last step, nearly fooled; the samples judged are often
those of an EMA of G, which D never saw. With `refine_steps`, a copy of D first trains on
alone against the G that is sampled, frozen, on fresh real data, with the binary
cross-entropy of the 2014 game whatever loss the run used. For a fixed G the optimal D of
that loss is D*(x) = p_data / (p_data + p_g) (Prop. 1), so the refined logit estimates
log p_data(x) / p_g(x) for the G whose samples are kept: the ratio the sampler assumes.

With `critic="fourier"` (points only), the ratio comes from a fresh classifier instead of D:
random Fourier features of the point (Tancik et al. 2020) under a small LeakyReLU MLP,
trained `refine_steps` steps the same way. This is a learned density ratio as in Grover et
al. 2019 ("Bias Correction of Learned Generative Models using Likelihood-Free Importance
Weighting"). A LeakyReLU MLP on raw 2-D coordinates, D included, learns a sharp ratio only
slowly, so it barely marks G's samples that fall between a mixture's modes; the features
let the classifier draw those narrow boundaries.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from gankit.config import TrainConfig
from gankit.data import load_dataset
from gankit.errors import GankitError
from gankit.models import build_models
from gankit.noise import sample_noise
from gankit.outputs.checkpoint import load_checkpoint
from gankit.sampling.critics import FourierCritic, RealSource, real_source, refine_discriminator
from gankit.sampling.drs_options import CRITICS, DRSOptions
from gankit.sampling.generator import GeneratorInfo, balanced_labels
from gankit.training.modules import call_with_labels

__all__ = [
    "CRITICS",
    "DRSOptions",
    "FourierCritic",
    "RealSource",
    "RejectionSampler",
    "acceptance_probability",
    "load_rejection_sampler",
    "real_source",
    "refine_discriminator",
]

_EPS = 1e-6


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
    With `options.refine_steps`, the copy of D is first refined against G with draws of
    `real` (`refine_discriminator`), at the first call, in the mode G is sampled in.

    A conditional G (class-conditional or self-conditioned) is called `sampler(noise, labels)`
    and its D judges each candidate with the candidate's label, so D's logit for label y
    estimates log p_data(x | y) / p_g(x | y). Each sample keeps the label it was asked for: a
    rejected one is drawn again with the same label until one passes, so the class shares are
    the ones asked for and the correction happens within each class.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        info: GeneratorInfo,
        options: DRSOptions | None = None,
        pack: int = 1,
        seed: int = 0,
        real: RealSource | None = None,
    ) -> None:
        super().__init__()
        if pack < 1:
            raise GankitError(f"pack must be >= 1, got {pack}")
        self.info, self.options, self.pack = info, (options or DRSOptions()).validated(), pack
        if info.n_classes and pack > 1:
            raise GankitError(
                f"DRS for a conditional generator needs an unpacked discriminator, got pack {pack}"
            )
        if info.n_classes and self.options.refine_steps:
            raise GankitError(
                "refining D for DRS (--drs-refine-steps) does not support conditional generators yet"
            )
        if self.options.refine_steps and real is None:
            raise GankitError("refining D for DRS needs real data to train it on")
        if self.options.refine_steps and self.options.refine_batch % pack:
            raise GankitError(
                f"the DRS refine batch ({self.options.refine_batch}) must be whole packs of {pack} samples"
            )
        self.generator, self.real, self.seed = generator, real, seed
        self.discriminator = _judge_mode(copy.deepcopy(discriminator))
        self.refined = self.options.refine_steps == 0
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
            "critic": self.options.critic,
            "refine_steps": self.options.refine_steps,
            "refine_lr": self.options.refine_lr if self.options.refine_steps else None,
            "log_m": self.log_m,
            "candidates": self.drawn,
            "kept": self.kept,
            "acceptance": round(self.acceptance, 6) if self.drawn else None,
        }

    def _device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def _candidates(self, n: int, labels: Tensor | None = None) -> Tensor:
        noise = sample_noise(self.info.noise, n, self.info.noise_dim, self.rng).to(self._device())
        return call_with_labels(self.generator, noise, labels)

    def _burn_in_labels(self, start: int, n: int) -> Tensor | None:
        """The labels of burn-in candidates start..start+n-1: the classes in their shares."""
        if not self.info.n_classes:
            return None
        return balanced_labels(torch.arange(start, start + n), self.info).to(self._device())

    @torch.no_grad()
    def score(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """D's logit for each sample of `x`, (N,), given its label (conditional D).

        A packed D judges `pack` samples at once; each sample then gets the mean logit of
        `partners` random packs it is in. Its partners add the same constant on average,
        which log M absorbs.
        """
        n, group = len(x), 4 * self.pack  # whole packs, and whole minibatch-std groups of 4 packs
        padded = -(-n // group) * group
        if self.pack == 1:
            index = (torch.arange(padded) % n).to(x.device)
            padded_labels = None if labels is None else labels[index]
            return call_with_labels(self.discriminator, x[index], padded_labels)[:n].float()
        total = torch.zeros(n, device=x.device)
        for _ in range(self.options.partners):
            index = torch.randperm(n, generator=self.rng)[torch.arange(padded) % n].to(x.device)
            logits = self.discriminator(x[index]).float().repeat_interleave(self.pack)  # (padded,)
            total += torch.zeros(n, device=x.device).index_add_(0, index, logits)[:n] / torch.bincount(
                index, minlength=n
            ).clamp_min(1)
        return total / self.options.partners

    def refine(self) -> None:
        """Refine the sampler's copy of D against G (once; a no-op without `refine_steps`)."""
        if self.refined:
            return
        assert self.real is not None
        seed = self.seed + 1_000_003  # a stream of its own, apart from the candidates'
        refined = refine_discriminator(
            self.discriminator, self.generator, self.info, self.real, self.options, seed
        )
        self.discriminator, self.refined = _judge_mode(refined), True

    @torch.no_grad()
    def calibrate(self) -> float:
        """Set log M from `burn_in` candidates (the largest score) and return it, refining D first."""
        with torch.enable_grad():
            self.refine()
        scores = []
        for i in range(0, self.options.burn_in, 500):
            n = min(500, self.options.burn_in - i)
            labels = self._burn_in_labels(i, n)
            scores.append(self.score(self._candidates(n, labels), labels))
        self.log_m = float(torch.cat(scores).max())
        return self.log_m

    @torch.no_grad()
    def _accept(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Which candidates of `x` pass, (N,) bool on x's device; counts them and raises log M."""
        scores = self.score(x, labels)
        assert self.log_m is not None
        self.log_m = max(self.log_m, float(scores.max()))
        p = acceptance_probability(scores, self.log_m, self.options.gamma).cpu()
        kept = torch.rand(len(x), generator=self.rng) < p
        self.drawn += len(x)
        self.kept += int(kept.sum())
        return kept.to(x.device)

    def _check_acceptance(self, kept: int, drawn: int, redrawn: Tensor | None = None) -> None:
        """Stop when under `min_acceptance` of `drawn` (at least 1,000) candidates passed;
        `redrawn`: the labels of the samples being drawn again, named in the error."""
        if drawn >= 1000 and kept / drawn < self.options.min_acceptance:
            what = ""
            if redrawn is not None:
                what = " redrawn for classes " + ", ".join(str(c) for c in redrawn.unique()[:5].tolist())
            raise GankitError(
                f"DRS kept {kept} of {drawn} candidates{what} "
                f"(under {self.options.min_acceptance:g}); lower --drs-gamma to keep more"
            )

    @torch.no_grad()
    def forward(self, noise: Tensor, labels: Tensor | None = None) -> Tensor:
        if bool(self.info.n_classes) != (labels is not None):
            need = "needs a label per sample" if self.info.n_classes else "takes no labels"
            raise GankitError(f"DRS of this {self.info.model} generator {need}")
        if self.log_m is None:
            self.calibrate()
        if labels is not None:
            return self._conditional(noise, labels)
        n = len(noise)
        x = self.generator(noise)
        chunks = [x[self._accept(x)]]
        have = len(chunks[0])
        while have < n:
            self._check_acceptance(self.kept, self.drawn)
            x = self._candidates(max(n, 64))
            chunks.append(x[self._accept(x)])
            have += len(chunks[-1])
        return torch.cat(chunks)[:n]

    def _conditional(self, noise: Tensor, labels: Tensor) -> Tensor:
        """Kept samples, one per row of `labels`: each slot is redrawn with its label until one
        passes. Redraws come at least 64 at a time (D's BatchNorm judges them as a batch), the
        open slots repeated in turn, and a slot takes its first candidate that passes."""
        out = self.generator(noise, labels)
        done = self._accept(out, labels)
        drawn = kept = 0  # redraws of this call: a class that D always rejects stops here
        while not bool(done.all()):
            pending = (~done).nonzero().squeeze(1)
            self._check_acceptance(kept, drawn, labels[pending])
            slots = pending[torch.arange(max(len(pending), 64), device=pending.device) % len(pending)]
            x = self._candidates(len(slots), labels[slots])
            passed = self._accept(x, labels[slots]).nonzero().squeeze(1)
            filled, position = torch.unique(slots[passed], return_inverse=True)
            first = torch.full_like(filled, len(passed)).scatter_reduce(
                0, position, torch.arange(len(passed), device=passed.device), "amin"
            )  # the earliest passing candidate per slot
            out[filled] = x[passed[first]]
            done[filled] = True
            drawn, kept = drawn + len(slots), kept + len(passed)
        return out


def load_rejection_sampler(
    run_dir: str | Path,
    generator: nn.Module,
    info: GeneratorInfo,
    options: DRSOptions | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> RejectionSampler:
    """A `RejectionSampler` around `generator` with the discriminator of `run_dir`'s latest checkpoint.

    With `options.refine_steps`, D is refined on the run's own training data. With
    `options.critic == "fourier"`, a fresh `FourierCritic` is trained there instead of D.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "checkpoint" / "latest.json").is_file():
        raise GankitError(f"--drs needs the run's discriminator, but {run_dir} holds no checkpoint")
    state = load_checkpoint(run_dir / "checkpoint")
    config = TrainConfig.from_dict(state["config"])
    pack = config.architecture.pack
    if options is not None and options.critic == "fourier":
        if len(info.shape) != 1:
            raise GankitError(
                f"the fourier DRS critic judges points, not samples of shape {tuple(info.shape)}; "
                "use the discriminator critic"
            )
        discriminator: nn.Module = FourierCritic(info.shape[0], scale=options.fourier_scale, seed=seed)
        pack = 1
    else:
        model_options = config.model_options(info.n_classes, info.label_factors or ())
        discriminator = build_models(info.model, info.shape, info.noise_dim, model_options)[1]
        try:
            discriminator.load_state_dict(state["discriminator"])
        except RuntimeError as exc:
            raise GankitError(
                f"the discriminator in {run_dir} does not fit model {info.model}: {exc}"
            ) from None
    real = None
    if options is not None and options.refine_steps:
        real = real_source(load_dataset(config.data.dataset, config.data_options()), info.output)
    return RejectionSampler(generator, discriminator.to(device), info, options, pack, seed, real)


def rejection_wrapper(
    run_dir: str | Path, options: DRSOptions, seed: int = 0, device: str | torch.device = "cpu"
) -> Callable[[nn.Module, GeneratorInfo], RejectionSampler]:
    """`wrap(generator, info)` for `gankit.metrics.evaluate_run`: a `RejectionSampler` with the
    discriminator of `run_dir` around the generator that evaluation loads."""
    return lambda generator, info: load_rejection_sampler(run_dir, generator, info, options, seed, device)
