"""A user's own images: folders, zip archives, prepared datasets, streaming, --xflip, labels from
sub-folders, and the data source recorded for --resume."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli import main
from gankit.data import DataOptions, load_dataset
from gankit.data.batches import TensorBatches, epoch_flips
from gankit.data.prepared import prepare_dataset
from gankit.data.stream import StreamBatches
from gankit.errors import GankitError


def _image_folder(root: Path, n: int = 10, corrupt: bool = True) -> Path:
    """n colour images of odd sizes in cats/, n grayscale in dogs/, and a corrupt file."""
    rng = np.random.default_rng(0)
    for i in range(n):
        (root / "cats").mkdir(parents=True, exist_ok=True)
        (root / "dogs").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (30 + i, 45, 3), dtype=np.uint8)).save(
            root / "cats" / f"{i}.png"
        )
        Image.fromarray(rng.integers(0, 255, (40, 27 + i), dtype=np.uint8)).save(root / "dogs" / f"{i}.jpg")
    if corrupt:
        (root / "dogs" / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
        (root / "notes.txt").write_text("not an image, ignored by suffix")
    return root


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_folder_labels_from_sub_folders_and_one_warning_counting_skips(tmp_path):
    root = _image_folder(tmp_path / "imgs")
    with pytest.warns(UserWarning, match=r"skipped 1 of 21 files .* \(first: dogs/truncated.png\)"):
        data = load_dataset(f"folder:{root}", DataOptions(image_size=16, loader="memory"))
    assert data.shape == (3, 16, 16) and data.count() == 20 and data.classes == ("cats", "dogs")
    assert data.labels["train"].tolist() == [0] * 10 + [1] * 10
    gray = data.images("train")[10:]
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])  # gray -> RGB
    (root / "top.png").write_bytes((root / "cats" / "0.png").read_bytes())  # one image outside a class
    with pytest.warns(UserWarning):
        unlabelled = load_dataset(f"folder:{root}", DataOptions(image_size=16, loader="memory"))
    assert unlabelled.classes == () and unlabelled.labels == {} and unlabelled.count() == 21


def test_zip_archive_equals_its_folder_and_empty_sources_are_errors(tmp_path):
    root = _image_folder(tmp_path / "imgs", corrupt=False)
    archive = tmp_path / "imgs.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(root.rglob("*.*")):
            handle.write(path, path.relative_to(root).as_posix())
    options = DataOptions(image_size=32, loader="memory")
    folder, zipped = load_dataset(f"folder:{root}", options), load_dataset(f"folder:{archive}", options)
    assert torch.equal(folder.images(), zipped.images()) and zipped.classes == ("cats", "dogs")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GankitError, match="no readable images"):
        load_dataset(f"folder:{tmp_path / 'empty'}")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(GankitError, match="neither a folder nor a zip archive"):
        load_dataset(f"folder:{tmp_path / 'file.txt'}")


def test_streamed_folder_reads_what_memory_holds(tmp_path):
    root = _image_folder(tmp_path / "imgs")
    with pytest.warns(UserWarning, match="skipped 1 of 21"):
        held = load_dataset(f"folder:{root}", DataOptions(image_size=16, loader="memory"))
    with pytest.warns(UserWarning, match="skipped 1 of 21"):
        streamed = load_dataset(f"folder:{root}", DataOptions(image_size=16, loader="stream"))
    assert streamed.splits == {} and streamed.stream is not None and streamed.shape == (3, 16, 16)
    assert streamed.count() == 20 and torch.equal(streamed.images(), held.images())
    assert torch.equal(streamed.labels["train"], held.labels["train"])


@pytest.mark.parametrize("workers", [0, 1])
def test_stream_batches_equal_tensor_batches_across_epochs_and_resume(workers):
    images = torch.randint(0, 256, (21, 1, 4, 4), dtype=torch.uint8)
    labels = torch.arange(21)

    class Reader:
        shape = (1, 4, 4)

        def __len__(self):
            return len(images)

        def __getitem__(self, i):
            return images[i].numpy()

    def pair():
        held = TensorBatches(images.float() / 255 * 2 - 1, 4, seed=7, labels=labels, xflip=True)
        stream = StreamBatches(Reader(), 4, 7, "tanh", torch.device("cpu"), labels=labels, xflip=True,
                               workers=workers)  # fmt: skip
        return held, stream

    held, stream = pair()
    for _ in range(12):  # 5 batches an epoch: past two epoch boundaries
        (a, ya), (b, yb) = held.next_labeled(), stream.next_labeled()
        assert torch.equal(a, b) and torch.equal(ya, yb)
    state = stream.state_dict()
    resumed = pair()[1]
    resumed.load_state_dict(state)
    for _ in range(6):
        assert torch.equal(held.next(), resumed.next())


def test_xflip_mirrors_about_half_of_each_epoch_and_nothing_else():
    flips = epoch_flips(seed=3, epoch=0, n=4000)
    assert 0.45 < flips.double().mean() < 0.55 and not torch.equal(flips, epoch_flips(3, 1, 4000))
    data = torch.arange(8 * 2 * 3, dtype=torch.float32).view(8, 1, 2, 3)
    batches = TensorBatches(data, 8, seed=0, xflip=True, shuffle=False)
    batch = batches.next()
    mask = epoch_flips(0, 0, 8)
    assert torch.equal(batch[mask], data[mask].flip(-1)) and torch.equal(batch[~mask], data[~mask])


def test_prepare_writes_a_checked_manifest_and_trains_streamed_at_128(tmp_path, capsys):
    root = _image_folder(tmp_path / "imgs")
    dest = tmp_path / "prepared"
    assert main(["dataset", "prepare", str(root), str(dest), "--size", "128"]) == 0
    out, err = capsys.readouterr()
    assert "prepared 20 images of 128x128x3, 2 classes" in out
    expected = f"warning: skipped 1 of 21 files in {root} that are not readable images"
    expected += " (first: dogs/truncated.png)"
    assert err.strip() == expected
    manifest = json.loads((dest / "dataset.json").read_text())
    array = np.load(dest / "images.npy", allow_pickle=False)
    import hashlib

    assert manifest["sha256"] == hashlib.sha256((dest / "images.npy").read_bytes()).hexdigest()
    assert (
        array.shape == (20, 3, 128, 128) and manifest["label_counts"] == [10, 10] and manifest["skipped"] == 1
    )
    data = load_dataset(f"folder:{dest}")
    assert data.home == str(dest) and data.fingerprint == manifest["sha256"]
    assert torch.equal(data.images(), torch.from_numpy(array))
    assert main(["dataset", "prepare", str(root), str(dest), "--size", "128"]) == 2
    assert "already holds a prepared dataset; give --overwrite" in _one_line(capsys)
    assert main(["dataset", "prepare", str(root), str(tmp_path / "x"), "--size", "100"]) == 2
    assert "--size must be a power of two" in _one_line(capsys)
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.tmp-*"))
    run = tmp_path / "run"
    args = ["train", "--dataset", f"folder:{dest}", "--model", "dcgan", "--g-width", "4", "--d-width", "4",
            "--batch-size", "4", "--steps", "2", "--loader", "stream", "--workers", "0", "--xflip",
            "--conditional", "--quiet", "--no-tensorboard", "--out", str(run)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"data: folder:{dest} (a prepared dataset): 20 images of 128x128x3, 2 classes" in out
    assert "streamed: read on the fly by the training process" in out
    source = json.loads((run / "config.json").read_text())["data_source"]
    assert source == {
        "kind": "prepared",
        "name": f"folder:{dest}",
        "images": 20,
        "sha256": manifest["sha256"],
    }
    assert (
        main(["train", "--dataset", f"folder:{dest}", "--image-size", "64", "--out", str(tmp_path / "r2")])
        == 2
    )
    assert "was prepared at 128 px" in _one_line(capsys)


def test_damaged_prepared_datasets_are_one_line_errors(tmp_path, capsys):
    dest = tmp_path / "prepared"
    prepare_dataset(str(_image_folder(tmp_path / "imgs", corrupt=False)), str(dest), 8)
    manifest = json.loads((dest / "dataset.json").read_text())
    (dest / "dataset.json").write_text(json.dumps({**manifest, "count": 7}))
    with pytest.raises(
        GankitError, match=r"holds uint8 \(20, 3, 8, 8\), not the manifest's uint8 \(7, 3, 8, 8\)"
    ):
        load_dataset(f"folder:{dest}")
    (dest / "dataset.json").write_text(json.dumps({**manifest, "format": "other"}))
    with pytest.raises(GankitError, match="not a gankit prepared dataset"):
        load_dataset(f"folder:{dest}")
    (dest / "dataset.json").write_text(json.dumps(manifest))
    np.save(dest / "labels.npy", np.full(20, 5), allow_pickle=False)
    with pytest.raises(GankitError, match="labels.npy does not match the manifest"):
        load_dataset(f"folder:{dest}")


def test_a_folder_of_odd_images_trains_at_128_px_with_one_command(tmp_path, capsys):
    root = _image_folder(tmp_path / "imgs")
    run = tmp_path / "run"
    args = ["train", "--dataset", f"folder:{root}", "--image-size", "128", "--model", "dcgan",
            "--g-width", "4", "--d-width", "4", "--batch-size", "4", "--steps", "2", "--quiet",
            "--no-tensorboard", "--out", str(run)]  # fmt: skip
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "20 images of 128x128x3, 2 classes from sub-folders; held in memory" in out
    assert err.count("skipped 1 of 21 files") == 1
    from gankit.sampling.generator import load_generator

    generator, info = load_generator(run)
    assert info.shape == (3, 128, 128)


def test_conditional_on_a_folder_without_classes_says_how(tmp_path, capsys):
    root = tmp_path / "flat"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / f"{i}.png")
    assert main(["train", "--dataset", f"folder:{root}", "--image-size", "32", "--conditional",
                 "--out", str(tmp_path / "r")]) == 2  # fmt: skip
    assert "has no labels (give each class's images a sub-folder of their own)" in _one_line(capsys)


def test_resume_refuses_data_other_than_the_runs(tmp_path, capsys):
    from gankit.config import TrainConfig
    from gankit.training.resume import resume
    from gankit.training.trainer import Trainer

    root = _image_folder(tmp_path / "imgs", corrupt=False)
    run = tmp_path / "run"
    base = ["train", "--dataset", f"folder:{root}", "--image-size", "32", "--model", "dcgan",
            "--g-width", "4", "--d-width", "4", "--batch-size", "4", "--quiet",
            "--no-tensorboard"]  # fmt: skip
    assert main([*base, "--steps", "2", "--out", str(run)]) == 0
    Image.fromarray(np.zeros((9, 9, 3), dtype=np.uint8)).save(root / "cats" / "new.png")
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "4", "--quiet"]) == 2
    assert "cannot resume: the data of folder:" in _one_line(capsys)

    data = load_dataset("digits")
    config = TrainConfig(
        model="mlp", steps=2, batch_size=16, noise_dim=8, out=str(tmp_path / "py"), device="cpu"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = Trainer(config, dataset=data, progress=False)
        trainer.fit()
    recorded = json.loads((tmp_path / "py" / "config.json").read_text())["data_source"]
    assert (
        recorded["kind"] == "python" and recorded["images"] == data.count() and len(recorded["sha256"]) == 64
    )
    assert main(["train", "--resume", str(tmp_path / "py"), "--steps", "4", "--quiet"]) == 2
    assert "was trained on data given from Python (digits)" in _one_line(capsys)
    resumed = resume(tmp_path / "py", {"steps": 3}, progress=False, dataset=data)
    assert resumed.step == 2
    resumed.close()


def test_xflip_and_loader_errors_name_the_option(tmp_path, capsys):
    base = ["train", "--model", "toy-mlp", "--steps", "1", "--out", str(tmp_path / "r"), "--quiet"]
    assert main([*base, "--dataset", "ring8", "--xflip"]) == 2
    assert "--xflip needs image data; ring8 is vector data" in _one_line(capsys)
    assert main([*base, "--dataset", "ring8", "--loader", "disk"]) == 2
    assert "unknown --loader 'disk'; choose one of: auto, memory, stream" in _one_line(capsys)
    assert main([*base, "--dataset", "ring8", "--workers", "-1"]) == 2
    assert "--workers must be an integer in 0..64" in _one_line(capsys)


def test_auto_streams_only_past_the_memory_budget():
    from gankit.data.folder import MEMORY_BUDGET, streams

    fits = MEMORY_BUDGET // (3 * 128 * 128 * 4)  # images of 3x128x128 whose float32 copy fits
    assert not streams("auto", fits, (3, 128, 128)) and streams("auto", fits + 1, (3, 128, 128))
    assert streams("stream", 1, (1, 8, 8)) and not streams("memory", 10**8, (3, 256, 256))


def test_a_class_whose_files_are_all_unreadable_keeps_the_class_names_aligned(tmp_path):
    """Streamed or held, labels index the classes of the whole listing, even where a class's
    only file is skipped."""
    root = _image_folder(tmp_path / "imgs", n=3, corrupt=False)
    (root / "ants").mkdir()
    (root / "ants" / "broken.png").write_bytes(b"\x89PNG broken")
    for loader in ("memory", "stream"):
        with pytest.warns(UserWarning, match="skipped 1 of 7"):
            data = load_dataset(f"folder:{root}", DataOptions(image_size=8, loader=loader))
        assert data.classes == ("ants", "cats", "dogs")
        assert data.labels["train"].tolist() == [1, 1, 1, 2, 2, 2], loader
