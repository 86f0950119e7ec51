"""The training loop: Algorithm 1 of Goodfellow et al. 2014, with run directory and exact resume."""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gankit import __version__
from gankit.augment import diff_augment, parse_policy
from gankit.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from gankit.config import CLUSTERED_ONCE, CUDA_GRAPH_MODES, TrainConfig
from gankit.data import Dataset, ImageData, load_dataset, to_uint8
from gankit.data.batches import SyntheticBatches, TensorBatches
from gankit.diagnostics import FiniteChecks, NonFiniteError
from gankit.distributed import barrier, broadcast_int, init_distributed, lr_scale, mean_over_ranks, shard
from gankit.ema import GeneratorEMA, ema_decay, ramped_half_life
from gankit.errors import GankitError
from gankit.io import atomic_write_json
from gankit.logger import JsonlLogger, NullLogger
from gankit.losses import discriminator_summary, get_loss
from gankit.models import check_compatible, get_model
from gankit.models.parts import eval_mode
from gankit.noise import sample_noise
from gankit.optim import grad_norm, linear_decay, make_optimizer, match_param_layout
from gankit.precision import autocast, emulated_bf16_note, resolve_precision, step_numerics
from gankit.regularizers import gradient_penalty, r1_penalty
from gankit.sample import GeneratorInfo, balanced_labels, export_generator
from gankit.selfcond import MAX_CHANNEL_LABELS, ClusterLabels, cluster_training_images
from gankit.step_modules import build_step_modules, call_with_labels
from gankit.viz import make_grid, save_loss_curves, save_png, save_scatter
from gankit.watch import RunWatcher


class TrainingInterrupted(Exception):
    """Raised after Ctrl-C once a checkpoint of the last finished step has been written."""


def resolve_device(name: str) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; an unavailable explicit device is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise GankitError("--device cuda requested but CUDA is not available")
    if name == "mps" and not torch.backends.mps.is_available():
        raise GankitError("--device mps requested but MPS is not available")
    return torch.device(name)


def resolve_steps(config: TrainConfig, dataset: Dataset) -> TrainConfig:
    """Fill in `steps`: given, derived from `epochs` (passes of D over the training split), or default."""
    if config.epochs is None:
        return dataclasses.replace(config, steps=config.steps or 1000)
    if not isinstance(dataset, ImageData):
        raise GankitError(
            f"--epochs needs a dataset of fixed size; {dataset.name} is sampled on the fly, use --steps"
        )
    per_epoch = len(dataset.splits["train"]) // config.batch_size
    return dataclasses.replace(config, steps=max(1, round(config.epochs * per_epoch / config.k)))


class Trainer:
    """Owns the models, optimizers, batch sources, RNGs and the run directory of one run.

    Under torchrun (WORLD_SIZE > 1 in the environment) it joins the process group and
    trains G and D with DistributedDataParallel; see `gankit.distributed`.
    """

    def __init__(self, config: TrainConfig, dataset: Dataset | None = None, progress: bool = True) -> None:
        config = config.validated()
        self.dist, self.device = init_distributed(resolve_device(config.device), config.dist_timeout)
        self.dataset = dataset if dataset is not None else load_dataset(config.dataset, config.data_options())
        check_compatible(config.model, self.dataset.kind, self.dataset.shape, config.dataset)
        self.config = resolve_steps(config, self.dataset)
        self.run_dir = Path(config.out)
        self.progress = progress and self.dist.is_main
        self.output = get_model(config.model).output
        self.precision = resolve_precision(config.precision, self.device)
        if (note := emulated_bf16_note(self.precision, self.device)) is not None:
            warnings.warn(note, stacklevel=2)
        self.cuda_graphs = (
            config.compile and config.compile_mode in CUDA_GRAPH_MODES and self.device.type == "cuda"
        )
        self.loss = get_loss(config.loss)

        self.label_factors = self._label_factors()  # (K,) * C under --cluster-space channels
        self.n_classes = self._n_classes()
        self.augment = self._augment_policy()
        self._build_models()
        self.noise_rng = torch.Generator(self.device).manual_seed(config.seed + 1)
        self.augment_rng = torch.Generator(self.device).manual_seed(config.seed + 4)  # DiffAugment and GP
        self.finite = FiniteChecks(
            config.nan_check_every or (config.log_every if self.device.type == "cuda" else 1),
            distributed=self.dist.enabled,  # a host sync per step costs on GPUs, hence log_every there
        )
        self.batches = self._make_batches()
        self.clusters = self._new_clusters()
        self._prior: Tensor | None = None  # the clusters' shares on self.device, for G's labels
        fixed = torch.Generator().manual_seed(config.seed + 2)
        n_fixed = 64 if self.dataset.kind == "image" else 2000
        self.fixed_noise = sample_noise(config.noise, n_fixed, config.noise_dim, fixed).to(self.device)
        self.step, self.elapsed = 0, 0.0
        self.eval_metrics = self._eval_metrics()
        self.lr_factor = 1.0  # halved by each recovery from a non-finite step
        self.recoveries = 0
        self.watcher = RunWatcher(config, self.dataset, self.output, enabled=self.dist.is_main)
        self.last_d_logits: tuple[Tensor, Tensor] | None = None  # D's step, for TensorBoard
        self.board: Any = None

    def _build_models(self) -> None:
        """G and D, what the updates run through, their optimizers and the EMA of G when kept."""
        c = self.config
        torch.manual_seed(c.seed)  # model initialisation and dropout draw from the global RNG
        modules = build_step_modules(
            c,
            self.dataset.shape,
            self.n_classes,
            self.device,
            self.dist,
            self._channels_last,
            self.label_factors,
        )
        self.generator, self.discriminator = modules.generator, modules.discriminator
        # what the updates run through: DDP wrappers, compiled callables, or the models themselves
        self.g_train, self.d_pair = modules.g_train, modules.d_pair
        self.d_frozen, self.g_sample = modules.d_frozen, modules.g_sample
        self.lr_scale = lr_scale(c.lr_scaling, self.dist.world_size)
        self.opt_g = make_optimizer(self.generator.parameters(), c, c.lr_g * self.lr_scale)
        self.opt_d = make_optimizer(self.discriminator.parameters(), c, c.lr_d * self.lr_scale)
        self.ema: GeneratorEMA | None = None
        if c.ema_half_life is not None:
            images_per_step = c.batch_size * self.dist.world_size
            self.ema = GeneratorEMA(self.generator, ema_decay(c.ema_half_life, images_per_step))

    @property
    def _channels_last(self) -> bool:
        """`--channels-last` applies to image data (4-D batches); other data has no channels."""
        image = self.dataset.kind == "image" and len(self.dataset.shape) == 3
        # under --compile inductor picks convolution layouts itself, and torch 2.11's inductor
        # mis-strides the weight gradient of a channels-last ConvTranspose2d (dcgan's G)
        return self.config.channels_last and image and not self.config.compile

    def _n_classes(self) -> int:
        """How many labels G and D see: the dataset's classes (`--conditional`), K ** C
        (`--cluster-space channels`), K (`--self-condition`), or none (0)."""
        if not self.config.conditional:
            return math.prod(self.label_factors) if self.label_factors else self.config.self_condition
        labels = getattr(self.dataset, "labels", {}).get("train")
        if labels is None:
            raise GankitError(f"--conditional needs a labelled dataset; {self.config.dataset} has no labels")
        return int(labels.max()) + 1

    def _label_factors(self) -> tuple[int, ...]:
        """`--cluster-space channels`: K clusters in each of the data's C channels, K ** C labels."""
        c = self.config
        if not c.self_condition or c.cluster_space != "channels":
            return ()
        if self.dataset.kind != "image":
            raise GankitError(
                f"--cluster-space channels clusters the channels of images; {c.dataset} is "
                f"{self.dataset.kind} data"
            )
        factors = (c.self_condition,) * self.dataset.shape[0]
        if math.prod(factors) > MAX_CHANNEL_LABELS:
            raise GankitError(
                f"--cluster-space channels: {c.self_condition} clusters in each of {len(factors)} "
                f"channels make {math.prod(factors):,} labels, more than {MAX_CHANNEL_LABELS:,}; "
                "lower --self-condition"
            )
        return factors

    def _new_clusters(self) -> ClusterLabels | None:
        """The self-conditioning labels (`gankit.selfcond`), before their first clustering."""
        if not self.config.self_condition:
            return None
        if not isinstance(self.batches, TensorBatches):
            raise GankitError(
                f"--self-condition clusters a set of training images; {self.config.dataset} is "
                f"{self.dataset.kind} data"
            )
        return ClusterLabels(self.n_classes, self.config.seed + 5)

    @property
    def _recluster_until(self) -> int | None:
        """The step from which the clusters stay as they are (`--recluster-until`), or None.
        Pixels do not change, so clusters of pixels are made once, at the start."""
        c = self.config
        if c.cluster_space in CLUSTERED_ONCE:
            return 0
        return None if c.recluster_until is None else math.ceil(c.recluster_until * c.steps)

    def _recluster(self) -> None:
        assert self.clusters is not None and isinstance(self.batches, TensorBatches)
        cluster_training_images(
            self.clusters,
            self.discriminator,
            self.batches.data,
            self.step,
            self.config.cluster_space,
            self.config.self_condition,
        )
        self._use_clusters()

    def _use_clusters(self) -> None:
        """Label the training batches with the current clusters; G's labels follow their sizes."""
        assert self.clusters is not None and self.clusters.prior is not None
        self.batches.labels = self.clusters.labels  # type: ignore[union-attr]
        self._prior = self.clusters.prior.float().to(self.device)

    def _augment_policy(self) -> tuple[str, ...]:
        if self.config.diffaugment is None:
            return ()
        if self.dataset.kind != "image":
            raise GankitError(
                f"--diffaugment needs image data; {self.config.dataset} is {self.dataset.kind} data"
            )
        return parse_policy(self.config.diffaugment)

    @property
    def sampler(self) -> nn.Module:
        """The generator that samples and evaluation use: the EMA of G when kept, else G."""
        return self.ema.module if self.ema is not None else self.generator

    def layout(self) -> dict[str, Any]:
        """The process layout saved in config.json: world size, batch per rank and in all, LR factor."""
        return {
            "world_size": self.dist.world_size,
            "batch_size_per_rank": self.config.batch_size,
            "global_batch_size": self.config.batch_size * self.dist.world_size,
            "lr_scale": self.lr_scale,
        }

    def layout_line(self) -> str:
        """One line describing the process layout and the learning-rate scaling rule."""
        c, layout = self.config, self.layout()
        return (
            f"distributed: {self.dist.world_size} ranks ({self.dist.backend}), batch {c.batch_size} per rank "
            f"= global batch {layout['global_batch_size']}; learning rates x{self.lr_scale:g} "
            f"(--lr-scaling {c.lr_scaling}): lr_g {c.lr_g * self.lr_scale:g}, lr_d {c.lr_d * self.lr_scale:g}"
        )

    def _eval_metrics(self) -> list[str]:
        """The metrics `--eval-every` runs, checked against the dataset before training starts."""
        if self.config.eval_every is None:
            return []
        from gankit.metrics import parse_names, prepare_metrics, select_metrics

        names = select_metrics(parse_names(self.config.eval_metrics), self.dataset, self.config.dataset)
        if self.dist.enabled:
            prepare_metrics(names, self.dataset, self.config.data_options())
        return names

    def _make_batches(self) -> TensorBatches | SyntheticBatches:
        seed = self.config.seed + 3
        if isinstance(self.dataset, ImageData):
            data = self.dataset.tensor("train", self.output).to(self.device)
            if self._channels_last:
                data = data.contiguous(memory_format=torch.channels_last)
            labels = self.dataset.labels["train"].to(self.device) if self.n_classes else None
            try:
                return TensorBatches(data, self.config.batch_size, seed, self.dist, labels)
            except ValueError as exc:
                raise GankitError(f"--batch-size {self.config.batch_size}: {exc}") from None
        return SyntheticBatches(self.dataset, self.config.batch_size, seed, self.device, self.dist)

    def noise(self, n: int) -> Tensor:
        """This rank's `n` rows of a global noise batch of `n * world_size` (same RNG on every rank)."""
        c = self.config
        draw = sample_noise(c.noise, n * self.dist.world_size, c.noise_dim, self.noise_rng, self.device)
        return shard(draw, self.dist)

    def noise_labels(self, n: int) -> Tensor | None:
        """This rank's `n` class labels for G's step (None when not conditional): uniform, or
        self-conditioned in proportion to the clusters' sizes in the training images."""
        if not self.n_classes:
            return None
        total = n * self.dist.world_size
        if self._prior is not None:
            draw = torch.multinomial(self._prior, total, replacement=True, generator=self.noise_rng)
        else:
            draw = torch.randint(self.n_classes, (total,), generator=self.noise_rng, device=self.device)
        return shard(draw, self.dist)

    def _augmented(self, x: Tensor) -> Tensor:
        return diff_augment(x, self.augment, self.augment_rng) if self.augment else x

    def d_step(
        self,
        real: Tensor,
        noise: Tensor,
        labels: Tensor | None = None,
        r1_due: bool = False,
        fake: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """One discriminator update on m real and m fresh fake samples (fakes carry no graph to G).

        Fakes take the real batch's labels when conditional. `r1_due` adds the lazy R1 penalty,
        scaled by its interval; `--gp` adds the gradient penalty at every step. `fake` is G's
        output for `noise` when the caller already made it (`--reuse-fakes`); D sees it detached.
        """
        c = self.config
        if fake is None:
            with torch.no_grad(), self._autocast():
                fake = call_with_labels(self.g_sample, noise, labels)
        else:
            fake = fake.detach()
        if r1_due:
            real = real.detach().requires_grad_(True)
        with self._autocast():
            real_logits, fake_logits = self.d_pair(self._augmented(real), self._augmented(fake), labels)
        real_logits, fake_logits = real_logits.float(), fake_logits.float()  # losses in fp32
        loss = self.loss.d(real_logits, fake_logits)
        penalties = self._d_penalties(real, fake, real_logits, labels, r1_due)
        weights = {"reg/r1": (c.r1 / 2) * c.r1_interval, "reg/gp": c.gp}
        for name, penalty in penalties.items():
            loss = loss + weights[name] * penalty
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        grad = grad_norm(self.discriminator)
        if c.nan_watchdog:
            self.finite.check(self.step + 1, "loss/d", loss.detach(), "grad/d", grad)
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
        due (`real` must require grad), and the gradient penalty under `--gp`."""
        penalties: dict[str, Tensor] = {}
        if r1_due:
            penalties["reg/r1"] = r1_penalty(real_logits, real)
        if self.config.gp:

            def d_fp32(x: Tensor) -> Tensor:
                with self._autocast():
                    return call_with_labels(self.discriminator, x, labels).float()

            penalties["reg/gp"] = gradient_penalty(d_fp32, real, fake, self.augment_rng)
        return penalties

    def g_step(
        self,
        noise: Tensor | None,
        real: Tensor | None = None,
        labels: Tensor | None = None,
        real_labels: Tensor | None = None,
        fake: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """One generator update through D; D's parameters take no gradient and are not updated.

        D is called unwrapped: under DDP only G's gradients are averaged over ranks here.
        `real` (with `real_labels`) is needed by the relativistic losses only. `fake`, with its
        graph to G, replaces G's forward pass on `noise` (`--reuse-fakes`).
        """
        d = self.d_frozen
        self.discriminator.requires_grad_(False)
        try:
            with self._autocast():
                if fake is None:
                    fake = call_with_labels(self.g_train, noise, labels)
                fake_logits = call_with_labels(d, self._augmented(fake), labels).float()
                real_logits = None
                if self.loss.g_needs_real and real is not None:
                    real_logits = call_with_labels(d, self._augmented(real), real_labels).float()
            loss = self.loss.g(real_logits, fake_logits)
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
            grad = grad_norm(self.generator)
            if self.config.nan_watchdog:
                self.finite.check(self.step + 1, "loss/g", loss.detach(), "grad/g", grad)
            self.opt_g.step()
        finally:
            self.discriminator.requires_grad_(True)
        if self.ema is not None:
            self.ema.update(self.generator, self._ema_beta())
        return {"loss/g": loss.detach(), "grad/g": grad}

    def _autocast(self) -> torch.autocast:
        """bf16 autocast of the forward passes under `--precision bf16` (a no-op otherwise)."""
        return autocast(self.precision, self.device)

    def _ema_beta(self) -> float | None:
        """This step's EMA decay from the ramped half-life (--ema-rampup); None: the fixed one."""
        c, per_step = self.config, self.config.batch_size * self.dist.world_size
        if c.ema_rampup is None:
            return None
        assert c.ema_half_life is not None
        half_life = ramped_half_life(c.ema_half_life, (self.step + 1) * per_step, c.ema_rampup)
        return ema_decay(half_life, per_step)

    @property
    def nan_check_every(self) -> int:
        """How many steps the NaN/Inf flags accumulate on the device between host reads."""
        return self.finite.every

    def train_step(self) -> dict[str, Tensor]:
        """One iteration of Algorithm 1: k discriminator steps, then one generator step."""
        with step_numerics(self.precision, self.device):
            if self.cuda_graphs:
                torch.compiler.cudagraph_mark_step_begin()  # the last step's graph outputs are consumed
            return self._train_step()

    def _train_step(self) -> dict[str, Tensor]:
        c = self.config
        if c.lr_decay_start is not None:
            self._apply_lr_factor()
        if self.clusters is not None and self.clusters.due(
            self.step, c.recluster_every, self._recluster_until
        ):
            self._recluster()
        fake = None
        for i in range(c.k):
            real, labels = self.batches.next_labeled()
            r1_due = c.r1 > 0 and (self.step * c.k + i) % c.r1_interval == 0
            noise = self.noise(c.batch_size)
            if c.reuse_fakes and i == c.k - 1:  # G's step reuses these fakes: they keep G's graph
                with self._autocast():
                    fake = call_with_labels(self.g_train, noise, labels)
            stats = self.d_step(real, noise, labels, r1_due, fake=fake)
        real, real_labels = self.batches.next_labeled() if self.loss.g_needs_real else (None, None)
        if fake is None:  # Algorithm 1: fresh noise for G's step
            noise, labels = self.noise(c.batch_size), self.noise_labels(c.batch_size)
        stats = {**stats, **self.g_step(noise, real, labels, real_labels, fake=fake)}
        if (self.step + 1) % self.nan_check_every == 0 or self.step + 1 == c.steps:
            self.finite.verify(self.step + 1)
        return stats

    # -- state -----------------------------------------------------------------------------
    def generator_info(self) -> GeneratorInfo:
        c = self.config
        return GeneratorInfo(
            c.model,
            tuple(self.dataset.shape),
            c.noise,
            c.noise_dim,
            self.output,
            self.dataset.kind,
            c.dataset,
            self.step,
            n_classes=self.n_classes,
            ema=self.ema is not None,
            class_prior=self._class_prior(),
            g_width=c.g_width,
            label_factors=self.label_factors or None,
        )

    def _class_prior(self) -> tuple[float, ...] | None:
        """The clusters' shares of the training images, which G's labels follow when self-conditioned."""
        if self.clusters is None or self.clusters.prior is None:
            return None
        return tuple(round(p, 8) for p in self.clusters.prior.tolist())

    def state_dict(self) -> dict[str, Any]:
        return {
            "gankit_version": __version__,
            "config": self.config.to_dict(),
            "generator_info": dataclasses.asdict(self.generator_info()),
            "step": self.step,
            "elapsed": self.elapsed,
            "lr_factor": self.lr_factor,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "optimizer_g": self.opt_g.state_dict(),
            "optimizer_d": self.opt_d.state_dict(),
            "rng": {
                "global": rng_state(self.device),
                "noise": self.noise_rng.get_state(),
                "batches": self.batches.state_dict(),
                "augment": self.augment_rng.get_state(),
            },
            **({"generator_ema": self.ema.state_dict()} if self.ema is not None else {}),
            **({"clusters": self.clusters.state_dict()} if self._class_prior() is not None else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["optimizer_g"])
        self.opt_d.load_state_dict(state["optimizer_d"])
        for opt in (self.opt_g, self.opt_d):
            match_param_layout(opt)
        set_rng_state(state["rng"]["global"], self.device)
        self.noise_rng.set_state(state["rng"]["noise"])
        self.batches.load_state_dict(state["rng"]["batches"])
        if "augment" in state["rng"]:  # checkpoints of gankit 0.x before DiffAugment have none
            self.augment_rng.set_state(state["rng"]["augment"])
        if self.ema is not None:
            self.ema.load_state_dict(state.get("generator_ema", state["generator"]))
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.lr_factor = float(state.get("lr_factor", 1.0))
        self.clusters, self._prior = self._new_clusters(), None  # a checkpoint from before the
        if self.clusters is not None:  # first clustering has none: the next step clusters
            self.batches.labels = None  # type: ignore[union-attr]
        if self.clusters is not None and "clusters" in state:
            self.clusters.load_state_dict(state["clusters"], self.device)
            self._use_clusters()

    def save_checkpoint(self) -> None:
        """Rank 0 writes the checkpoint; every rank waits until it is complete.

        Pending deferred NaN/Inf checks are read first, so no checkpoint holds non-finite weights.
        """
        self.finite.verify(self.step)
        if self.dist.is_main:
            save_checkpoint(self.run_dir / "checkpoint", self.step, self.state_dict())
        barrier(self.dist)

    # -- outputs ---------------------------------------------------------------------------
    def evaluate(self) -> dict[str, dict[str, Any]]:
        """The `--eval-metrics` on the current generator (global RNG and G's mode left unchanged)."""
        from gankit.metrics import evaluate_generator

        c = self.config
        return evaluate_generator(
            self.sampler,
            self.generator_info(),
            self.dataset,
            self.eval_metrics,
            seed=c.seed,
            n=c.eval_n,
            data_options=c.data_options(),
            device=self.device,
            dist=self.dist,
        )

    @torch.no_grad()
    def fixed_samples(self) -> Tensor:
        """The fixed noise batch through G (its EMA when kept) in eval mode, on the CPU.

        A conditional G gets the labels `gankit sample` would give: classes in turn, or the
        self-conditioned clusters in proportion to their sizes.
        """
        labels = balanced_labels(torch.arange(len(self.fixed_noise)), self.generator_info())
        labels = None if labels is None else labels.to(self.device)
        with eval_mode(self.sampler) as sampler:
            return call_with_labels(sampler, self.fixed_noise, labels).cpu()

    @torch.no_grad()
    def save_samples(self) -> Path:
        """The fixed noise batch through G (eval mode) as samples/step_NNNNNNN.png."""
        fake = self.fixed_samples()
        path = self.run_dir / "samples" / f"step_{self.step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.dataset.kind == "image":
            grid = make_grid(to_uint8(fake, self.output), nrow=8)
            save_png(grid, path)
            if self.board is not None:
                self.board.image(self.step, grid)
        else:

            @torch.no_grad()
            def d_prob(x: Tensor) -> Tensor:
                self.discriminator.eval()
                try:
                    return torch.sigmoid(self.discriminator(x.to(self.device))).cpu()
                finally:
                    self.discriminator.train()

            contour = d_prob if self.config.pack == 1 else None  # a packed D judges groups, not points
            save_scatter(fake, self.dataset.tensor("test")[:2000], path, f"step {self.step}", contour)
        return path

    def fit(self, logger: JsonlLogger | None = None) -> None:
        """Train to `config.steps`, writing samples, metrics and checkpoints into the run directory."""
        from gankit.progress import Progress, StopOnSignal

        c = self.config
        logger = self._open_run_dir(logger)
        previous = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(c.deterministic, warn_only=self.device.type != "cpu")
        bar = Progress(c.steps, self.step, enabled=self.progress)
        no_checkpoint = not (self.run_dir / "checkpoint" / "latest.json").is_file()
        if c.nan_watchdog and broadcast_int(int(no_checkpoint), self.dist, self.device):
            self.save_checkpoint()  # a good state to return to if the very first steps blow up
        start = time.perf_counter() - self.elapsed
        self._last_log = (self.step, self.elapsed)
        try:
            with StopOnSignal(enabled=not self.dist.enabled) as stop:
                while self.step < c.steps:
                    try:
                        if stop.requested:
                            self.save_checkpoint()
                            raise TrainingInterrupted(f"interrupted at step {self.step}")
                        stats = self.train_step()
                        self.step += 1
                        self.elapsed = time.perf_counter() - start
                        self._after_step(stats, logger, bar)
                    except NonFiniteError as err:  # a checkpoint save verifies deferred checks too
                        self._recover(err, logger, bar)
                        start = time.perf_counter() - self.elapsed
        finally:
            torch.use_deterministic_algorithms(previous)
            bar.close()
            if self.board is not None:
                self.board.close()
        self._finish(logger)

    def _open_run_dir(self, logger: JsonlLogger | None) -> JsonlLogger:
        """Write config.json and open metrics.jsonl (and TensorBoard) on rank 0; other ranks log nothing."""
        from gankit.tensorboard import TensorBoard

        c = self.config
        if not self.dist.is_main:
            return NullLogger()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(
            self.run_dir / "config.json", {**c.to_dict(), **self.layout(), "gankit_version": __version__}
        )
        logger = logger or JsonlLogger(self.run_dir / "metrics.jsonl", resume_step=self.step)
        self.board = TensorBoard.open(self.run_dir / "tensorboard") if c.tensorboard else None
        return logger

    def _finish(self, logger: JsonlLogger) -> None:
        """After the last step: the final samples, generator export, checkpoint, evaluation and report."""
        c, main = self.config, self.dist.is_main
        if main:
            self.save_samples()
            export_generator(self.sampler, self.generator_info(), self.run_dir)
            if self.ema is not None:
                export_generator(self.generator, self.generator_info(), self.run_dir, "generator_raw")
        self.save_checkpoint()
        if self.eval_metrics:
            from gankit.metrics import scalar_summary, write_eval_json

            results = self.evaluate()  # every rank draws its share of the samples
            if main:
                logger.log({"step": self.step, **scalar_summary(results)})
                write_eval_json(self.run_dir, c.dataset, self.step, results)
        if main:
            save_loss_curves(logger.records, self.run_dir / "losses.png")
            from gankit.report import write_report

            write_report(self.run_dir)
        barrier(self.dist)

    def _recover(self, err: NonFiniteError, logger: JsonlLogger, bar: Any) -> None:
        """Restore the last checkpoint, halve both learning rates, and note it (or give up)."""
        self.recoveries += 1
        if self.recoveries > self.config.max_recoveries:
            raise GankitError(
                f"non-finite {err.tensor} at step {err.step} after {self.config.max_recoveries} "
                "recoveries (restore + halved learning rates); lower --lr-g/--lr-d"
            ) from None
        self.load_state_dict(load_checkpoint(self.run_dir / "checkpoint"))
        self.finite.clear()
        when = "no weight changed" if self.nan_check_every == 1 else "found by a deferred check"
        self.lr_factor /= 2
        self._apply_lr_factor()
        logger.truncate(self.step)
        from gankit.diagnostics import AlarmEvent

        event = AlarmEvent(
            err.step,
            "nonfinite",
            "start",
            f"non-finite {err.tensor}; {when}. Restored the checkpoint of step {self.step} and "
            f"halved the learning rates (now x{self.lr_factor:g}); recovery {self.recoveries} of "
            f"{self.config.max_recoveries}.",
        )
        logger.log(event.record())
        bar.write(event.line())

    def _apply_lr_factor(self) -> None:
        """Set both learning rates: base x world-size scaling x recovery factor x schedule."""
        c = self.config
        factor = self.lr_scale * self.lr_factor * linear_decay(self.step, c.steps, c.lr_decay_start)
        for opt, base in ((self.opt_g, c.lr_g), (self.opt_d, c.lr_d)):
            for group in opt.param_groups:
                group["lr"] = base * factor

    def _after_step(self, stats: dict[str, Tensor], logger: JsonlLogger, bar: Any) -> None:
        c, step, main = self.config, self.step, self.dist.is_main
        if step % c.log_every == 0 or step == c.steps:
            stats = mean_over_ranks(stats, self.dist)  # the global batch's statistics
            if main:
                self._log(step, stats, logger, bar)
        if step % c.sample_every == 0 and step < c.steps and main:
            self.save_samples()
        if step % c.checkpoint_every == 0 and step < c.steps:
            self.save_checkpoint()
            if main:
                save_loss_curves(logger.records, self.run_dir / "losses.png")
        if self.eval_metrics and step % c.eval_every == 0 and step < c.steps:
            from gankit.metrics import scalar_summary

            results = self.evaluate()
            if main:
                logger.log({"step": step, **scalar_summary(results)})

    def _log(self, step: int, stats: dict[str, Tensor], logger: JsonlLogger, bar: Any) -> None:
        """One metrics.jsonl record, the alarms it triggers, the progress bar and TensorBoard (rank 0)."""
        c = self.config
        record: dict[str, Any] = {"step": step, "time": round(self.elapsed, 3)}
        record.update({k: float(v) for k, v in stats.items()})  # one host sync per log
        record.update(self.clusters.stats if self.clusters is not None else {})  # the last clustering's
        last_step, last_time = self._last_log
        if self.elapsed > last_time:
            images = (step - last_step) * c.k * c.batch_size * self.dist.world_size
            record["samples/s"] = images / (self.elapsed - last_time)
        self._last_log = (step, self.elapsed)
        record["lr/g"], record["lr/d"] = (
            self.opt_g.param_groups[0]["lr"],
            self.opt_d.param_groups[0]["lr"],
        )
        if self.watcher.watches_samples and (step % c.watch_every < c.log_every or step == c.steps):
            record.update(self.watcher.diversity(self.fixed_samples()))
        logger.log(record)
        for event in self.watcher.events(step, record):
            logger.log(event.record())
            bar.write(event.line())
        bar.update(step, record, self.watcher.active)
        if self.board is not None:
            self.board.scalars(step, record)
            logits = self.last_d_logits
            outputs = None if logits is None else tuple(torch.sigmoid(t) for t in logits)  # D(x)
            # NaN outputs (before a deferred check) have no histogram
            if outputs is not None and all(bool(torch.isfinite(t).all()) for t in outputs):
                self.board.histograms(step, *outputs)


def train(config: TrainConfig, progress: bool = True) -> Trainer:
    """Train a new run as configured; returns the finished Trainer."""
    trainer = Trainer(config, progress=progress)
    trainer.fit()
    return trainer
