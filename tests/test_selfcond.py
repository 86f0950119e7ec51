"""Self-conditioned GAN: k-means, label matching, the class prior, and training end to end."""

import json

import pytest
import torch

from gankit.cli import main
from gankit.errors import GankitError
from gankit.experiments.clustering import ClusterLabels, cluster_training_images, kmeans, match_labels
from gankit.models.parts import factor_labels
from gankit.sampling.generator import GeneratorInfo, balanced_labels, generate, load_generator
from gankit.training.resume import resume
from gankit.training.trainer import Trainer
from tests.test_recipes import _config


def _blobs(sizes=(50, 30, 20, 40), spread=0.05):
    """Well-separated blobs in 5-D: points (N, 5) and the blob of each (N,)."""
    rng = torch.Generator().manual_seed(0)
    centres = torch.eye(5)[: len(sizes)] * 10
    truth = torch.cat([torch.full((n,), i) for i, n in enumerate(sizes)])
    return centres[truth] + spread * torch.randn(len(truth), 5, generator=rng), truth


def _same_partition(a, b):
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_kmeans_finds_separated_blobs_deterministically():
    x, truth = _blobs()
    centroids, labels = kmeans(x, 4, torch.Generator().manual_seed(1))
    assert _same_partition(labels, truth)
    for blob in range(4):  # each centroid is its blob's mean
        mine = labels[truth == blob][0]
        torch.testing.assert_close(centroids[mine], x[truth == blob].mean(0))
    again = kmeans(x, 4, torch.Generator().manual_seed(1))[1]
    assert torch.equal(labels, again)


def test_kmeans_from_given_centroids_keeps_their_order():
    x, truth = _blobs()
    means = torch.stack([x[truth == blob].mean(0) for blob in range(4)])
    order = torch.tensor([2, 0, 3, 1])
    centroids, labels = kmeans(x, 4, torch.Generator(), init=means[order] + 0.5)
    assert torch.equal(order[labels], truth)  # cluster i is the blob init row i was near
    torch.testing.assert_close(centroids, means[order])
    with pytest.raises(ValueError, match="init must be"):
        kmeans(x, 3, torch.Generator(), init=means)


def test_kmeans_fills_every_cluster_and_checks_k():
    x = torch.tensor([[0.0], [0.0], [0.0], [1.0], [5.0]])
    _, labels = kmeans(x, 3, torch.Generator().manual_seed(0))
    assert sorted(torch.bincount(labels, minlength=3).tolist()) == [1, 1, 3]
    with pytest.raises(ValueError, match="k <= 5"):
        kmeans(x, 6, torch.Generator())


def test_match_labels_undoes_a_relabelling_and_keeps_the_most_overlap():
    old = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    renamed = torch.tensor([2, 0, 1])[old]  # the same partition under other names
    perm = match_labels(old, renamed, 3)
    assert torch.equal(perm[renamed], old)
    moved = renamed.clone()
    moved[0] = renamed[3]  # one point changes cluster: the rest keep their names
    relabelled = match_labels(old, moved, 3)[moved]
    assert (relabelled == old).sum() == len(old) - 1


def test_balanced_labels_follow_the_class_prior():
    prior = (0.5, 0.3, 0.15, 0.05)
    info = GeneratorInfo("mlp", (1, 8, 8), "uniform", 8, "tanh", "image", "digits", 0, 4, class_prior=prior)
    for start, n in ((0, 10_000), (123, 1000)):
        counts = torch.bincount(balanced_labels(torch.arange(start, start + n), info), minlength=4)
        for count, share in zip(counts.tolist(), prior, strict=True):
            assert abs(count - n * share) <= 3
    uniform = GeneratorInfo("mlp", (1, 8, 8), "uniform", 8, "tanh", "image", "digits", 0, 4)
    assert balanced_labels(torch.arange(6), uniform).tolist() == [0, 1, 2, 3, 0, 1]
    unconditional = GeneratorInfo("mlp", (1, 8, 8), "uniform", 8, "tanh", "image", "digits", 0)
    assert balanced_labels(torch.arange(6), unconditional) is None
    assert GeneratorInfo.from_dict({**uniform.__dict__, "class_prior": list(prior)}).class_prior == prior


def test_interpolation_strips_show_classes_the_prior_holds():
    from gankit.sampling.generator import interpolate

    prior = (0.0, 0.0, 0.0, 0.0, 0.5, 0.5)  # classes 0-3 held no training image
    info = GeneratorInfo("mlp", (1, 2, 2), "uniform", 3, "tanh", "image", "digits", 0, 6, class_prior=prior)

    class Recorder(torch.nn.Module):  # a generator that keeps the labels it is asked for
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[torch.Tensor] = []

        def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            self.seen.append(labels)
            return torch.zeros(len(z), 1, 2, 2)

    recorder = Recorder()
    interpolate(recorder, info, rows=4, frames=3)
    labels = torch.cat(recorder.seen).view(4, 3)
    assert (labels == labels[:, :1]).all() and set(labels[:, 0].tolist()) == {4, 5}


def test_cluster_labels_recluster_on_schedule_and_keep_their_names():
    x, truth = _blobs(spread=0.01)
    clusters = ClusterLabels(4, seed=0)
    assert clusters.due(0, 5) and clusters.prior is None
    clusters.recluster(x, lambda batch: batch, step=0)
    assert _same_partition(clusters.labels, truth)
    shares = torch.tensor([50, 30, 20, 40], dtype=torch.float64) / 140
    torch.testing.assert_close(clusters.prior.sort().values, shares.sort().values)
    first = clusters.labels.clone()
    assert not clusters.due(0, 5) and not clusters.due(3, 5) and clusters.due(5, 5)
    stats = clusters.recluster(x, lambda batch: -batch, step=5)  # same partition, other seeding
    assert torch.equal(clusters.labels, first) and stats["clusters/kept"] == 1.0
    restored = ClusterLabels(4, seed=99)
    restored.load_state_dict(clusters.state_dict())
    assert torch.equal(restored.labels, first) and restored.clustered_at == 5 and restored.stats == stats
    narrow = ClusterLabels(4, seed=0, dims=3)  # 5-D features randomly projected to 3-D
    narrow.recluster(x, lambda batch: batch, step=0)
    assert _same_partition(narrow.labels, truth)
    with pytest.raises(ValueError, match="cannot fill 4 clusters"):
        ClusterLabels(4, seed=0).recluster(x[:3], lambda batch: batch, step=0)


def test_self_conditioned_training_clusters_labels_and_samples_by_the_prior(tmp_path):
    trainer = Trainer(_config(tmp_path, self_condition=4, recluster_every=3, steps=7), progress=False)
    trainer.fit()
    clusters = trainer.labels.clusters
    assert clusters.clustered_at == 6 and len(clusters.labels) == len(trainer.batches.data)
    assert trainer.batches.labels is clusters.labels
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert 0 < records[-1]["clusters/smallest"] <= 0.25 <= records[-1]["clusters/largest"] < 1
    assert records[-1]["clusters/kept"] == clusters.stats["clusters/kept"]  # the last clustering's
    generator, info = load_generator(tmp_path / "run")
    assert info.n_classes == 4 and info.class_prior == pytest.approx(clusters.prior.tolist())
    trainer.labels._prior = torch.tensor([0.0, 0.8, 0.2, 0.0])  # G's labels follow the prior
    assert set(torch.unique(trainer.noise_labels(200)).tolist()) == {1, 2}
    trainer.labels.clusters.prior = torch.tensor([0.0, 1.0, 0.0, 0.0])  # the sample grids follow it too
    ones = torch.ones(len(trainer.fixed_noise), dtype=torch.long)
    with torch.no_grad():
        torch.testing.assert_close(trainer.fixed_samples(), trainer.sampler.eval()(trainer.fixed_noise, ones))
    one = generate(generator, info, 5, label=2)
    torch.testing.assert_close(one, generate(generator, info, 5, label=2))
    out = tmp_path / "samples.npz"
    assert main(["sample", str(tmp_path / "run"), "--n", "6", "--class", "3", "--out", str(out)]) == 0


def test_kept_is_the_share_of_images_whose_matched_label_stayed():
    x, truth = _blobs()  # 140 points in 4 blobs of 50, 30, 20, 40
    clusters = ClusterLabels(4, seed=0)
    clusters.recluster(x, lambda batch: batch, step=0)
    moved = x.clone()
    moved[:7] = x[50:57]  # 7 points of the first blob now lie in the second
    stats = clusters.recluster(moved, lambda batch: batch, step=1)
    assert stats["clusters/kept"] == pytest.approx(1 - 7 / 140)
    assert _same_partition(clusters.labels[7:], truth[7:])  # the others keep their (matched) label


def test_clustering_is_due_at_the_start_then_every_n_steps_before_its_last_step():
    clusters = ClusterLabels(4, seed=0)
    assert clusters.due(7, every=3, until=2)  # never clustered: due whatever the step
    clusters.recluster(_blobs()[0], lambda batch: batch, step=3)
    assert not clusters.due(3, every=3) and not clusters.due(4, every=3)  # just clustered; off the grid
    assert clusters.due(6, every=3) and clusters.due(6, every=3, until=7)
    assert not clusters.due(6, every=3, until=6)


def test_recluster_until_freezes_the_clusters_and_may_be_set_on_resume(tmp_path):
    config = _config(tmp_path / "a", self_condition=4, recluster_every=2, steps=8, recluster_until=0.5)
    trainer = Trainer(config, progress=False)
    trainer.fit()
    assert trainer.labels.clusters.clustered_at == 2  # steps 0 and 2 cluster; from step 4 on the labels stay
    run = tmp_path / "b" / "run"
    plain = _config(tmp_path / "b", self_condition=4, recluster_every=2, steps=4, checkpoint_every=100)
    Trainer(plain, progress=False).fit()
    resumed = resume(run, {"steps": 8, "recluster_until": 0.5}, progress=False)
    resumed.fit()
    assert resumed.labels.clusters.clustered_at == 2  # without the option step 6 would have clustered
    assert json.loads((run / "config.json").read_text())["self_conditioning"]["recluster_until"] == 0.5
    again = resume(run, {"steps": 10, "recluster_until": 1.0}, progress=False)
    again.fit()
    assert again.labels.clusters.clustered_at == 8


def test_pixel_clusters_are_the_images_own_k_means_made_once(tmp_path):
    config = _config(tmp_path, self_condition=4, recluster_every=2, steps=5, cluster_space="pixels")
    trainer = Trainer(config, progress=False)
    trainer.fit()
    assert trainer.labels.clusters.clustered_at == 0  # not again at steps 2 and 4
    direct = ClusterLabels(4, seed=config.run.seed + 5)
    direct.recluster(trainer.batches.data, lambda x: x.flatten(1), step=0)
    assert torch.equal(trainer.labels.clusters.labels, direct.labels)
    with pytest.raises(ValueError, match="unknown cluster space 'd'"):
        cluster_training_images(direct, trainer.discriminator, trainer.batches.data, 0, space="d")
    in_d = Trainer(_config(tmp_path / "d", self_condition=4, steps=1), progress=False)
    in_d.fit()  # the same seed clustered in D's features gives other clusters
    assert not torch.equal(in_d.labels.clusters.labels, direct.labels)


def test_channel_clusters_label_each_channel_and_condition_g_factor_by_factor(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    stacked = dict(dataset="stacked-mnist", stack_source="digits", stack_size=300)
    config = _config(tmp_path, self_condition=3, cluster_space="channels", steps=4, **stacked)
    trainer = Trainer(config, progress=False)
    assert trainer.labels.label_factors == (3, 3, 3) and trainer.n_classes == 27
    trainer.fit()
    assert trainer.labels.clusters.clustered_at == 0  # pixels do not change: clustered once
    data = trainer.batches.data
    direct = ClusterLabels(27, seed=config.run.seed + 5)
    direct.cluster_channels(data, 3, step=0)
    assert torch.equal(trainer.labels.clusters.labels, direct.labels)
    parts = factor_labels(direct.labels, (3, 3, 3))
    for c in range(3):  # each channel's label is a k-means fixed point of that channel's pixels
        pixels = data[:, c].flatten(1)
        means = torch.stack([pixels[parts[:, c] == j].mean(0) for j in range(3)])
        assert torch.equal(torch.cdist(pixels, means).argmin(1), parts[:, c])
        other = torch.stack([pixels[parts[:, (c + 1) % 3] == j].mean(0) for j in range(3)])
        assert not torch.equal(torch.cdist(pixels, other).argmin(1), parts[:, (c + 1) % 3])
    with pytest.raises(ValueError, match="3 channels of 4 clusters make 64 labels, not 27"):
        direct.cluster_channels(data, 4, step=0)
    generator, info = load_generator(tmp_path / "run")
    assert info.label_factors == (3, 3, 3) and info.n_classes == 27 and len(info.class_prior) == 27
    assert generate(generator, info, 6, seed=0).shape == (6, *data.shape[1:])
    assert generate(generator, info, 2, seed=0, label=26).shape[0] == 2
    from gankit.sampling.rejection import load_rejection_sampler

    sampler = load_rejection_sampler(tmp_path / "run", generator, info)
    assert sampler.discriminator.label_factors == (3, 3, 3)
    too_many = _config(tmp_path / "big", self_condition=101, cluster_space="channels", **stacked)
    with pytest.raises(GankitError, match="101 clusters in each of 3 channels make 1,030,301 labels"):
        Trainer(too_many, progress=False)


def test_self_condition_refuses_what_it_cannot_do(tmp_path):
    for bad, match in (
        (dict(self_condition=1), "at least 2 clusters"),
        (dict(self_condition=4, conditional=True), "cannot be combined"),
        (dict(self_condition=4, pack=2), "cannot be combined"),
        (dict(self_condition=4, recluster_every=0), "recluster-every"),
        (dict(recluster_until=0.5), "--recluster-until needs --self-condition"),
        (dict(cluster_space="pixels"), "--cluster-space pixels needs --self-condition"),
        (dict(self_condition=4, cluster_space="d"), "unknown cluster space 'd'"),
        (dict(self_condition=4, recluster_until=0.0), r"--recluster-until must be a fraction in \(0, 1\]"),
        (dict(self_condition=4, recluster_until=1.5), r"--recluster-until must be a fraction"),
        (
            dict(self_condition=4, cluster_space="pixels", recluster_until=0.5),
            "--recluster-until does not apply to --cluster-space pixels",
        ),
        (
            dict(self_condition=4, cluster_space="channels", recluster_until=0.5),
            "--recluster-until does not apply to --cluster-space channels",
        ),
        (
            dict(self_condition=4, cluster_space="channels", dataset="ring8", model="toy-mlp"),
            "--cluster-space channels clusters the channels of images; ring8 is vector data",
        ),
        (dict(self_condition=4, dataset="ring8", model="toy-mlp"), "clusters a set of training images"),
    ):
        with pytest.raises(GankitError, match=match):
            Trainer(_config(tmp_path, **bad), progress=False)
