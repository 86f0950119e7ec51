"""Self-conditioned GAN (Liu et al. 2020, "Diverse Image Generation via Self-Conditioned GANs").

G and D train as a class-conditional pair (`gankit.models.parts`: one-hot G, projection D) on
labels no one annotated: the training images are clustered by k-means in the feature space of
D's body, at the start and again every `--recluster-every` steps. Each new k-means starts from
the old clusters' means in the new features, so the clusters follow D's features as they
change; the new clusters are then matched to the old ones (the assignment that keeps most
images under their label, Hungarian method), so a label keeps its meaning for G. G draws its
labels in proportion to the clusters' sizes in the real data: every group of images D can
tell apart must get its share of G's samples, which is what an unconditional G that makes
some kinds of image too rarely fails to do. `cluster_training_images(..., space="pixels")`
clusters the images themselves instead (`--cluster-space pixels`), and `space="channels"`
clusters each channel of the images on its own (`--cluster-space channels`): an image's label
is then the tuple of its channels' clusters, K per channel, so on Stacked MNIST, where each
channel holds a digit of its own, G is told what to draw in every channel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from gankit.experiments.config import CLUSTER_SPACES
from gankit.models.parts import eval_mode

MAX_CHANNEL_LABELS = 1_000_000  # --cluster-space channels: at most this many label tuples

Features = Callable[[Tensor], Tensor]
"""`features(x)`: (n, F) features of a batch of images (n, *shape)."""


def _squared_distances(x: Tensor, centroids: Tensor, x_sq: Tensor | None = None) -> Tensor:
    """(n, k) squared Euclidean distances, through one matrix product (`x_sq`: x's squared norms)."""
    x_sq = (x * x).sum(1, keepdim=True) if x_sq is None else x_sq
    return (x_sq - 2 * x @ centroids.T + (centroids * centroids).sum(1)).clamp_min(0)


def kmeans(
    x: Tensor, k: int, generator: torch.Generator, iters: int = 30, init: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """k-means of the rows of `x` (n, F): Lloyd's iterations from `init` (k, F), or from
    k-means++ seeding (Arthur & Vassilvitskii 2007), until no label changes (at most `iters`).
    Returns centroids (k, F) and labels (n,). A cluster left empty is re-seeded at the point
    farthest from its centroid."""
    n = len(x)
    if not 1 <= k <= n:
        raise ValueError(f"k-means needs 1 <= k <= {n} points, got k={k}")
    x = x.float()
    x_sq = (x * x).sum(1, keepdim=True)  # (n, 1)
    if init is not None:
        if init.shape != (k, x.shape[1]):
            raise ValueError(f"k-means init must be ({k}, {x.shape[1]}), got {tuple(init.shape)}")
        return _lloyd(x, x_sq, init.float().clone(), iters)
    chosen = [int(torch.randint(n, (1,), generator=generator))]
    nearest = _squared_distances(x, x[chosen[-1]][None], x_sq)[:, 0]  # (n,)
    for _ in range(1, k):
        weights = nearest.double().cpu()
        pick = torch.multinomial(weights, 1, generator=generator) if weights.sum() > 0 else torch.tensor([0])
        chosen.append(int(pick))
        nearest = torch.minimum(nearest, _squared_distances(x, x[chosen[-1]][None], x_sq)[:, 0])
    return _lloyd(x, x_sq, x[chosen].clone(), iters)


def _lloyd(x: Tensor, x_sq: Tensor, centroids: Tensor, iters: int) -> tuple[Tensor, Tensor]:
    n, k = len(x), len(centroids)
    labels = torch.full((n,), -1, dtype=torch.long, device=x.device)
    for _ in range(iters):
        distances = _squared_distances(x, centroids, x_sq)  # (n, k)
        new = distances.argmin(1)
        counts = torch.bincount(new, minlength=k)
        for empty in torch.nonzero(counts == 0).flatten().tolist():
            far = int(distances.gather(1, new[:, None]).argmax())
            new[far] = empty
            distances[far] = 0  # not chosen twice
            counts = torch.bincount(new, minlength=k)
        if torch.equal(new, labels):
            break
        labels = new
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)
        centroids = sums / counts[:, None].to(x.dtype)
    return centroids, labels


def match_labels(old: Tensor, new: Tensor, k: int) -> Tensor:
    """The relabelling `perm` (k,) of `new`'s clusters that keeps most points under their old
    label: `perm[new]` agrees with `old` wherever the two partitions do (linear assignment)."""
    overlap = torch.zeros(k, k, dtype=torch.long)
    overlap.index_put_((new.cpu(), old.cpu()), torch.ones(len(new), dtype=torch.long), accumulate=True)
    rows, cols = linear_sum_assignment(-overlap.numpy())
    perm = np.empty(k, dtype=np.int64)
    perm[rows] = cols
    return torch.from_numpy(perm)


class ClusterLabels:
    """The cluster label of every training image, with the clusters' sizes as G's class prior.

    `recluster` fits k-means on `fit_size` images drawn with its own generator (all of them
    if fewer), then labels every image by its nearest centroid, in batches. Features wider than
    `dims` are first multiplied by a random Gaussian matrix to `dims` columns, which keeps
    distances to within a few per cent (Johnson & Lindenstrauss 1984) at a fraction of
    k-means' cost (D's body gives 6,272 features at 28x28). Its state (labels,
    the generator, the step of the last clustering) goes into checkpoints, so a resumed run
    clusters exactly as an unbroken one.
    """

    def __init__(self, k: int, seed: int, fit_size: int = 10_000, batch: int = 500, dims: int = 256) -> None:
        if k < 2:
            raise ValueError(f"self-conditioning needs at least 2 clusters, got {k}")
        self.k, self.fit_size, self.batch, self.dims = k, fit_size, batch, dims
        self.generator = torch.Generator().manual_seed(seed)
        self.labels: Tensor | None = None  # (N,) on the data's device
        self.prior: Tensor | None = None  # (k,) each cluster's share of the images, float64, CPU
        self.clustered_at: int | None = None
        self.stats: dict[str, float] = {}  # what the last clustering did, for the training log

    def due(self, step: int, every: int, until: int | None = None) -> bool:
        """Whether to cluster before training step `step + 1`: at the start, then every `every`
        steps before step `until` (to the end of the run when `until` is None)."""
        if self.labels is None:
            return True
        before_until = until is None or step < until
        return before_until and step % every == 0 and step != self.clustered_at

    def _set_labels(self, labels: Tensor) -> None:
        counts = torch.bincount(labels.cpu(), minlength=self.k).double()
        self.labels, self.prior = labels, counts / counts.sum()

    @torch.no_grad()
    def recluster(self, data: Tensor, features: Features, step: int) -> dict[str, float]:
        """Cluster `data` (N, *shape) in `features`' space; return what the clustering did."""
        if len(data) < self.k:
            raise ValueError(f"{len(data)} training images cannot fill {self.k} clusters")
        labels = self._fit(data, features, self.k, follow=True)
        kept = 1.0
        if self.labels is not None:
            labels = match_labels(self.labels, labels, self.k).to(labels.device)[labels]
            kept = float((labels == self.labels).double().mean())
        return self._done(labels, step, kept)

    @torch.no_grad()
    def cluster_channels(self, data: Tensor, per_channel: int, step: int) -> dict[str, float]:
        """Cluster each channel of `data` (N, C, ...) on its own, in pixels, into `per_channel`
        clusters; an image's label is the tuple of its channels' clusters, numbered as
        `gankit.models.parts.factor_labels` reads it (`self.k` must be `per_channel ** C`)."""
        channels = data.shape[1]
        if self.k != per_channel**channels:
            raise ValueError(
                f"{channels} channels of {per_channel} clusters make "
                f"{per_channel**channels} labels, not {self.k}"
            )
        if len(data) < per_channel:
            raise ValueError(f"{len(data)} training images cannot fill {per_channel} clusters")
        labels = torch.zeros(len(data), dtype=torch.long, device=data.device)
        for c in range(channels):
            part = self._fit(data, lambda x, c=c: x[:, c].flatten(1), per_channel, follow=False)
            labels = labels * per_channel + part
        return self._done(labels, step, 1.0)

    def _fit(self, data: Tensor, features: Features, k: int, follow: bool) -> Tensor:
        """(N,) k-means labels of `data` in `features`' space (randomly projected to `dims`
        columns where wider), fitted on up to `fit_size` of the images; with `follow`, k-means
        starts from the last clustering's clusters (`_old_means`)."""
        width = features(data[:1]).shape[1]
        projection = None  # (F, dims): a random projection of wide features
        if width > self.dims:
            projection = torch.randn(width, self.dims, generator=self.generator) / self.dims**0.5
            projection = projection.to(data.device)

        def projected(x: Tensor) -> Tensor:
            f = features(x).float()  # (n, F)
            return f if projection is None else f @ projection

        fit = torch.randperm(len(data), generator=self.generator)[: self.fit_size].to(data.device)
        fit_features = torch.cat(
            [projected(data[fit[i : i + self.batch]]) for i in range(0, len(fit), self.batch)]
        )
        init = self._old_means(fit, fit_features) if follow else None
        centroids, _ = kmeans(fit_features, k, self.generator, init=init)
        return torch.cat(
            [
                _squared_distances(projected(data[i : i + self.batch]), centroids).argmin(1)
                for i in range(0, len(data), self.batch)
            ]
        )  # (N,)

    def _done(self, labels: Tensor, step: int, kept: float) -> dict[str, float]:
        self._set_labels(labels)
        self.clustered_at = step
        assert self.prior is not None
        self.stats = {
            "clusters/kept": kept,  # the share of images whose label the new clustering kept
            "clusters/smallest": float(self.prior.min()),
            "clusters/largest": float(self.prior.max()),
        }
        return self.stats

    def _old_means(self, fit: Tensor, fit_features: Tensor) -> Tensor | None:
        """Where the last clustering's clusters lie in the new features (k, F): each one's mean
        over the fitted images, or one of those images at random where it has none of them.
        k-means starts there, so the clusters follow D's features instead of being drawn anew."""
        if self.labels is None:
            return None
        old = self.labels[fit.to(self.labels.device)].to(fit_features.device)  # (n_fit,)
        counts = torch.bincount(old, minlength=self.k)
        means = torch.zeros(self.k, fit_features.shape[1], device=fit_features.device)
        means = means.index_add_(0, old, fit_features) / counts.clamp_min(1)[:, None]
        empty = torch.nonzero(counts == 0).flatten()
        pick = torch.randint(len(fit_features), (len(empty),), generator=self.generator)
        means[empty] = fit_features[pick.to(fit_features.device)]
        return means

    def state_dict(self) -> dict[str, Any]:
        assert self.labels is not None
        return {
            "labels": self.labels.cpu(),
            "generator": self.generator.get_state(),
            "clustered_at": self.clustered_at,
            "stats": dict(self.stats),
        }

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str = "cpu") -> None:
        self._set_labels(state["labels"].to(device))
        self.generator.set_state(state["generator"])
        self.clustered_at = int(state["clustered_at"])
        self.stats = {k: float(v) for k, v in state["stats"].items()}


def cluster_training_images(
    clusters: ClusterLabels,
    discriminator: nn.Module,
    data: Tensor,
    step: int,
    space: str = "discriminator",
    per_channel: int = 0,
) -> dict[str, float]:
    """`clusters.recluster` in the features of `discriminator`'s body (a `ComposedDiscriminator`),
    flattened, with D in eval mode (BatchNorm's running statistics, no dropout) and put back;
    or, with `space="pixels"` (`--cluster-space pixels`), in the space of the images
    themselves, flattened; or, with `space="channels"` (`--cluster-space channels`), each
    channel's pixels into `per_channel` clusters (`ClusterLabels.cluster_channels`). D's
    features follow what D attends to, and the clusters, through the projection term, shape
    what it attends to; pixels weigh every part of an image alike."""
    if space == "channels":
        return clusters.cluster_channels(data, per_channel, step)
    if space == "pixels":
        return clusters.recluster(data, lambda x: x.flatten(1), step)
    if space != "discriminator":
        raise ValueError(f"unknown cluster space {space!r}; choose one of: {', '.join(CLUSTER_SPACES)}")
    with eval_mode(discriminator):
        return clusters.recluster(data, lambda x: discriminator.body(x).flatten(1), step)
