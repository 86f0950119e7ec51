"""Self-conditioning as a label source: G and D conditioned on k-means clusters of the training
images (Liu et al. 2020; the clustering itself is in `gankit.experiments.clustering`).

`--self-condition K` clusters D's features (`--cluster-space discriminator`, again every
`--recluster-every` steps until `--recluster-until`), the pixels (`pixels`, once), or each
channel on its own (`channels`, once: K clusters a channel, an image's label the tuple).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from gankit.data import Dataset
from gankit.data.batches import EpochOrder, TensorBatches
from gankit.errors import GankitError
from gankit.experiments.clustering import MAX_CHANNEL_LABELS, ClusterLabels, cluster_training_images
from gankit.experiments.config import CLUSTERED_ONCE
from gankit.training.labels import LabelSource

if TYPE_CHECKING:
    from gankit.config import TrainConfig
    from gankit.data.batches import SyntheticBatches

__all__ = ["SelfConditionLabels"]


class SelfConditionLabels(LabelSource):
    """Cluster labels of the training images, made before the first step and kept up to date."""

    def __init__(self, config: TrainConfig, dataset: Dataset) -> None:
        self.config, self.dataset_kind = config, dataset.kind
        self.label_factors = self._factors(config, dataset)
        self.n_classes = (
            math.prod(self.label_factors) if self.label_factors else config.self_conditioning.self_condition
        )
        self.batches: TensorBatches | None = None
        self.clusters = ClusterLabels(self.n_classes, config.run.seed + 5)
        self._prior: Tensor | None = None  # the clusters' shares on the data's device

    @staticmethod
    def _factors(config: TrainConfig, dataset: Dataset) -> tuple[int, ...]:
        """`--cluster-space channels`: K clusters in each of the data's C channels, K ** C labels."""
        per_channel = config.self_conditioning.self_condition
        if config.self_conditioning.cluster_space != "channels":
            return ()
        if dataset.kind != "image":
            raise GankitError(
                f"--cluster-space channels clusters the channels of images; {config.data.dataset} is "
                f"{dataset.kind} data"
            )
        factors = (per_channel,) * dataset.shape[0]
        if math.prod(factors) > MAX_CHANNEL_LABELS:
            raise GankitError(
                f"--cluster-space channels: {per_channel} clusters in each of {len(factors)} "
                f"channels make {math.prod(factors):,} labels, more than {MAX_CHANNEL_LABELS:,}; "
                "lower --self-condition"
            )
        return factors

    def attach(self, batches: EpochOrder | SyntheticBatches) -> None:
        if isinstance(batches, EpochOrder) and not isinstance(batches, TensorBatches):
            raise GankitError(
                f"--self-condition clusters a training set held in memory; {self.config.data.dataset} "
                "is streamed (give --loader memory)"
            )
        if not isinstance(batches, TensorBatches):
            raise GankitError(
                f"--self-condition clusters a set of training images; {self.config.data.dataset} is "
                f"{self.dataset_kind} data"
            )
        self.batches = batches

    @property
    def recluster_until(self) -> int | None:
        """The step from which the clusters stay as they are (`--recluster-until`), or None.
        Pixels do not change, so clusters of pixels are made once, at the start."""
        c = self.config
        if c.self_conditioning.cluster_space in CLUSTERED_ONCE:
            return 0
        return (
            None
            if c.self_conditioning.recluster_until is None
            else math.ceil(c.self_conditioning.recluster_until * c.optimization.steps)
        )

    def before_step(self, step: int, discriminator: nn.Module) -> None:
        c = self.config
        if not self.clusters.due(step, c.self_conditioning.recluster_every, self.recluster_until):
            return
        assert self.batches is not None
        cluster_training_images(
            self.clusters,
            discriminator,
            self.batches.data,
            step,
            c.self_conditioning.cluster_space,
            c.self_conditioning.self_condition,
        )
        self._use_clusters()

    def _use_clusters(self) -> None:
        """Label the training batches with the current clusters; G's labels follow their sizes."""
        assert self.batches is not None and self.clusters.prior is not None
        self.batches.labels = self.clusters.labels
        self._prior = self.clusters.prior.float().to(self.batches.data.device)

    def draw(self, total: int, rng: torch.Generator, device: torch.device) -> Tensor:
        if self._prior is not None:
            return torch.multinomial(self._prior, total, replacement=True, generator=rng)
        return torch.randint(self.n_classes, (total,), generator=rng, device=device)

    def class_prior(self) -> tuple[float, ...] | None:
        if self.clusters.prior is None:
            return None
        return tuple(round(p, 8) for p in self.clusters.prior.tolist())

    @property
    def stats(self) -> dict[str, float]:
        return self.clusters.stats

    def state_dict(self) -> dict[str, Any] | None:
        return self.clusters.state_dict() if self.clusters.prior is not None else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """A checkpoint from before the first clustering has none: the next step clusters."""
        self.clusters, self._prior = ClusterLabels(self.n_classes, self.config.run.seed + 5), None
        assert self.batches is not None
        self.batches.labels = None
        if state is not None:
            self.clusters.load_state_dict(state, self.batches.data.device)
            self._use_clusters()
