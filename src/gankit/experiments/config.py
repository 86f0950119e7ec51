"""The config group of the self-conditioning experiment (`gankit.experiments.self_condition`)."""

from __future__ import annotations

from dataclasses import dataclass

from gankit.config.options import choice, option, size_limit
from gankit.errors import GankitError

CLUSTER_SPACES = ("discriminator", "pixels", "channels")  # where --self-condition clusters images
CLUSTERED_ONCE = ("pixels", "channels")  # pixels do not change in training: clustered at the start


@dataclass(frozen=True)
class SelfConditioningConfig:
    """Self-conditioning (an experiment: gankit.experiments)."""

    self_condition: int = option(
        0,
        "self-conditioned GAN (Liu et al. 2020): conditional G and projection D on K k-means "
        "clusters of D's features of the training images; 0 is off",
    )
    recluster_every: int = option(2000, "--self-condition: cluster the training images again every N steps")
    recluster_until: float | None = option(
        None,
        "--self-condition: no new clustering after this fraction of the steps (e.g. where "
        "--lr-decay-start begins), so G ends on the labels it trained with",
        resumable=True,
    )
    cluster_space: str = option(
        "discriminator",
        "--self-condition: cluster D's features of the training images (discriminator, as Liu"
        " et al.), the images themselves (pixels: one clustering, since pixels do not "
        "change), or each channel on its own (channels: K clusters per channel, an image's "
        "label the tuple of them)",
    )

    def validate(self) -> None:
        if not isinstance(self.self_condition, int) or isinstance(self.self_condition, bool):
            raise GankitError(f"--self-condition must be an integer (clusters), got {self.self_condition!r}")
        if self.self_condition and self.self_condition < 2:
            raise GankitError(f"--self-condition needs at least 2 clusters, got {self.self_condition}")
        size_limit("self_condition", self.self_condition)
        if self.recluster_every < 1:
            raise GankitError(f"--recluster-every must be >= 1 step, got {self.recluster_every}")
        choice("cluster space", self.cluster_space, CLUSTER_SPACES)
        if self.cluster_space != "discriminator" and not self.self_condition:
            raise GankitError(f"--cluster-space {self.cluster_space} needs --self-condition")
        if self.recluster_until is not None:
            if not self.self_condition:
                raise GankitError("--recluster-until needs --self-condition")
            if not 0.0 < self.recluster_until <= 1.0:
                raise GankitError(
                    f"--recluster-until must be a fraction in (0, 1], got {self.recluster_until}"
                )
            if self.cluster_space in CLUSTERED_ONCE:
                raise GankitError(
                    f"--recluster-until does not apply to --cluster-space {self.cluster_space} "
                    "(the pixels are clustered once, at the start)"
                )
