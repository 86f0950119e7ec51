import hashlib
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.data import DataOptions, ImageData, load_dataset, scale_images, to_uint8
from gankit.data import mnist as mnist_mod
from gankit.data.download import download_verified
from gankit.data.idx import write_idx
from gankit.errors import GankitError


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GANKIT_DATA", raising=False)


def test_mnist_5k_splits_are_balanced_and_deterministic():
    data = load_dataset("mnist-5k")
    sizes = {k: len(v) for k, v in data.splits.items()}
    assert sizes == {"train": 4000, "validation": 500, "test": 500}
    for split, per_class in (("train", 400), ("validation", 50), ("test", 50)):
        assert torch.bincount(data.labels[split], minlength=10).tolist() == [per_class] * 10
    again = load_dataset("mnist-5k")
    assert torch.equal(data.splits["test"], again.splits["test"])
    assert data.shape == (1, 28, 28) and data.splits["train"].dtype == torch.uint8
    # no image in two splits
    flat = {k: {bytes(x.numpy()) for x in v} for k, v in data.splits.items()}
    assert not flat["train"] & flat["test"]


def test_value_ranges():
    data = load_dataset("mnist-5k")
    tanh, sigmoid = data.tensor("train", "tanh"), data.tensor("train", "sigmoid")
    assert tanh.min() == -1 and tanh.max() == 1
    assert sigmoid.min() == 0 and sigmoid.max() == 1
    torch.testing.assert_close(to_uint8(tanh[:10], "tanh"), data.splits["train"][:10], atol=0, rtol=0)
    torch.testing.assert_close(
        scale_images(torch.tensor([255], dtype=torch.uint8), "sigmoid"), torch.tensor([1.0])
    )


def test_digits_and_resize():
    data = load_dataset("digits")
    assert data.shape == (1, 8, 8) and sum(len(v) for v in data.splits.values()) == 1797
    big = load_dataset("digits", DataOptions(image_size=28))
    assert big.shape == (1, 28, 28)
    rgb = load_dataset("digits", DataOptions(channels=3))
    assert rgb.shape == (3, 8, 8)


def test_toy_datasets():
    gen = torch.Generator().manual_seed(0)
    g1 = load_dataset("gaussian-1d", DataOptions(gaussian_mean=2.0, gaussian_std=0.25))
    x = g1.sample(20000, gen)
    assert x.shape == (20000, 1)
    assert x.mean().item() == pytest.approx(2.0, abs=0.01) and x.std().item() == pytest.approx(0.25, rel=0.03)
    ring = load_dataset("ring8")
    pts = ring.sample(4000, gen)
    radius = pts.norm(dim=1)
    assert radius.mean().item() == pytest.approx(1.0, abs=0.01)
    nearest = torch.cdist(pts, ring.centers).argmin(1)
    assert torch.bincount(nearest, minlength=8).min() > 400
    grid = load_dataset("grid25")
    assert grid.centers.shape == (25, 2) and set(grid.centers[:, 0].tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    assert torch.cdist(grid.sample(1000, gen), grid.centers).min(1).values.max() < 0.05 * 6


def test_unknown_dataset():
    with pytest.raises(GankitError, match="unknown dataset 'nope'"):
        load_dataset("nope")


def _write_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_folder_dataset(tmp_path):
    rng = np.random.default_rng(0)
    _write_png(tmp_path / "imgs" / "a.png", rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
    _write_png(tmp_path / "imgs" / "sub" / "b.png", rng.integers(0, 255, (30, 30), dtype=np.uint8))
    (tmp_path / "imgs" / "broken.jpg").write_bytes(b"not a jpeg")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_dataset(f"folder:{tmp_path / 'imgs'}", DataOptions(image_size=32))
    assert data.shape == (3, 32, 32) and len(data.splits["train"]) == 2
    assert any("broken.jpg" in str(w.message) for w in caught)
    with pytest.warns(UserWarning, match="broken.jpg"):
        gray = load_dataset(f"folder:{tmp_path / 'imgs'}", DataOptions(image_size=16, channels=1))
    assert gray.shape == (1, 16, 16)


def test_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GankitError, match="no readable"):
        load_dataset(f"folder:{tmp_path / 'empty'}")
    with pytest.raises(GankitError, match="not found"):
        load_dataset(f"folder:{tmp_path / 'missing'}")


def _fake_idx_set(directory: Path, n_train: int = 120, n_test: int = 20, compress: bool = True) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    suffix = ".gz" if compress else ""
    write_idx(
        directory / f"train-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_train, 28, 28)), compress
    )
    write_idx(directory / f"train-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n_train), compress)
    write_idx(directory / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_test, 28, 28)), compress)
    write_idx(directory / f"t10k-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n_test), compress)


@pytest.mark.parametrize("compress", [True, False])
def test_full_mnist_from_data_dir(tmp_path, compress):
    _fake_idx_set(tmp_path / "mnist", compress=compress)
    data = load_dataset("mnist", DataOptions(data_dir=str(tmp_path)))
    assert len(data.splits["train"]) == 120 and len(data.splits["test"]) == 20
    assert len(data.splits["validation"]) == 20  # the last sixth when smaller than 10,000


def test_full_mnist_from_env(tmp_path, monkeypatch):
    _fake_idx_set(tmp_path / "env")
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "env"))
    assert load_dataset("fashion-mnist").shape == (1, 28, 28)


def test_label_count_mismatch(tmp_path):
    _fake_idx_set(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(7), compress=True)
    with pytest.raises(GankitError, match="train-images"):
        load_dataset("mnist", DataOptions(data_dir=str(tmp_path)))


def test_download_verified(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "f.gz").write_bytes(b"payload")
    good = hashlib.sha256(b"payload").hexdigest()
    dest = tmp_path / "dest"
    url = mirror.as_uri() + "/"
    with pytest.raises(GankitError, match="could not download f.gz: .*SHA-256 mismatch"):
        download_verified([url], "f.gz", "0" * 64, dest)
    assert list(dest.iterdir()) == []  # nothing half-written left behind
    with pytest.raises(GankitError, match="could not download f.gz"):
        download_verified([(tmp_path / "nowhere").as_uri() + "/"], "f.gz", good, dest)
    path = download_verified([(tmp_path / "nowhere").as_uri() + "/", url], "f.gz", good, dest)
    assert path.read_bytes() == b"payload" and os.listdir(dest) == ["f.gz"]


def test_missing_mnist_downloads_from_mirrors(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    _fake_idx_set(mirror)
    sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in mirror.iterdir()}
    source = {"mirrors": (mirror.as_uri() + "/",), "sha256": sums, "system_dirs": ()}
    monkeypatch.setitem(mnist_mod.SOURCES, "mnist", source)
    data = load_dataset("mnist", DataOptions(data_dir=str(tmp_path / "data")))
    assert len(data.splits["train"]) == 120
    assert sorted(os.listdir(tmp_path / "data" / "mnist")) == sorted(sums)


def test_canonical_sources_are_pinned():
    for name in ("mnist", "fashion-mnist"):
        source = mnist_mod.SOURCES[name]
        assert len(source["sha256"]) == 4
        assert all(len(v) == 64 for v in source["sha256"].values())
        assert all(m.startswith("http") for m in source["mirrors"])


def test_fashion_mnist_from_debian_package():
    if not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists():
        pytest.skip("needs Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)")
    data = load_dataset("fashion-mnist")
    assert isinstance(data, ImageData)
    assert [len(data.splits[s]) for s in ("train", "validation", "test")] == [60000, 10000, 10000]
    assert torch.bincount(data.labels["test"]).tolist() == [1000] * 10


def test_stacked_mnist_channels_carry_their_digit():
    from gankit.data.base import ImageData
    from gankit.data.stacked import channel_digits, stack_digits

    labels = torch.arange(100) % 10
    images = (
        (labels * 20).to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 4, 4).contiguous()
    )  # value = 20*digit
    source = ImageData("src", {"train": images, "test": images[:30]}, {"train": labels, "test": labels[:30]})
    stacked = stack_digits(source, train_size=500, seed=1)
    assert stacked.splits["train"].shape == (500, 3, 4, 4) and stacked.splits["test"].shape == (30, 3, 4, 4)
    for split in ("train", "test"):
        digits = channel_digits(stacked.labels[split])  # (n, 3)
        assert torch.equal(stacked.splits[split][:, :, 0, 0].long(), digits * 20)
    assert len(set(stacked.labels["train"].tolist())) > 300  # independent channels: many of 1,000 modes
    again = stack_digits(source, train_size=500, seed=1)
    assert torch.equal(again.splits["train"], stacked.splits["train"])


def test_stacked_mnist_by_name_and_errors():
    data = load_dataset("stacked-mnist", DataOptions(stack_source="digits", stack_size=300))
    assert data.shape == (3, 8, 8) and len(data.splits["train"]) == 300
    assert int(data.labels["train"].max()) < 1000
    with pytest.raises(GankitError, match="stack-source"):
        load_dataset("stacked-mnist", DataOptions(stack_source="ring8"))
