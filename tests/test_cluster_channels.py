"""scripts/cluster_channels.py: how much of each channel's digit a run's clusters carry."""

from __future__ import annotations

import json
import math
import sys

import pytest
import torch

from tests.conftest import load_script, train_tiny_run


@pytest.fixture(scope="module")
def script():
    yield from load_script("cluster_channels")


def test_mutual_information_of_copies_independent_and_coarsened_labels(script):
    a = torch.arange(48) % 4  # uniform over 4 values
    assert script.mutual_information(a, a, 4, 4) == pytest.approx(math.log(4))
    b = torch.arange(48) // 4 % 4  # 0..3, each with every value of a equally often
    assert script.mutual_information(a, b, 4, 4) == pytest.approx(0.0, abs=1e-12)
    assert script.mutual_information(a, a % 2, 4, 2) == pytest.approx(math.log(2))  # carries a's parity
    assert script.chance_level(100, 50_000) == pytest.approx(99 * 9 / 100_000)


def test_channel_information_reads_each_channel(script):
    digits = torch.stack(
        [torch.arange(100) % 10, torch.arange(100) // 10, torch.zeros(100, dtype=torch.long)], 1
    )
    labels = torch.arange(100) % 10  # the red digit itself
    r, g, b = script.channel_information(labels, digits, 10)
    assert r == pytest.approx(math.log(10)) and g == pytest.approx(0.0, abs=1e-12) and b == 0.0
    own = torch.stack([digits[:, 1], digits[:, 1], digits[:, 0]], 1)  # one label per channel
    r, g, b = script.channel_information(own, digits, 10)
    assert r == pytest.approx(0.0, abs=1e-12) and g == pytest.approx(math.log(10)) and b == 0.0


def test_the_script_on_a_self_conditioned_stacked_run(script, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    run = train_tiny_run(tmp_path / "run", "--dataset", "stacked-mnist", "--stack-source", "digits",
                         "--stack-size", "300", "--self-condition", "4")  # fmt: skip
    monkeypatch.setattr(
        sys,
        "argv",
        ["cluster_channels.py", str(run), "--spaces", "discriminator,pixels,channels", "--k", "6"],
    )
    script.main()
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "clustering" not in line]
    assert [row.split(" | ")[0] for row in rows] == [
        "| the run's clusters (step 0)",
        "| k-means++ in discriminator space",
        "| k-means++ in pixels space",
        "| k-means++ in channels space",
    ]
    for row, k in zip(rows, (4, 6, 6, 6), strict=True):  # the run's K, then --k for fresh clusterings
        cells = row.strip(" |").split(" | ")[1:]
        assert int(cells[0]) == k and float(cells[1]) == pytest.approx(script.chance_level(k, 300), abs=1e-3)
        values = [float(v) for v in cells[2:]]
        assert len(values) == 3 and all(0 <= v <= math.log(k) + 1e-9 for v in values)  # at most log K
    monkeypatch.setattr(sys, "argv", ["cluster_channels.py", str(run), "--k", "1"])
    with pytest.raises(SystemExit, match="--k must be at least 2"):
        script.main()
    plain = train_tiny_run(tmp_path / "plain", "--dataset", "stacked-mnist", "--stack-source", "digits",
                           "--stack-size", "300")  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["cluster_channels.py", str(plain)])
    with pytest.raises(SystemExit, match="not a self-conditioned run"):
        script.main()
    # the config is read first: a run of another dataset is refused before any checkpoint is read
    other = tmp_path / "other"
    other.mkdir()
    config = json.loads((run / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "dataset": "mnist-5k"}))
    monkeypatch.setattr(sys, "argv", ["cluster_channels.py", str(other)])
    with pytest.raises(SystemExit, match="trained on mnist-5k, not stacked-mnist"):
        script.main()


def test_the_script_reads_a_channel_clustered_run_channel_by_channel(script, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    flags = ["--stack-size", "300", "--self-condition", "3", "--cluster-space", "channels"]
    run = train_tiny_run(tmp_path / "run", "--dataset", "stacked-mnist", "--stack-source", "digits", *flags)
    monkeypatch.setattr(sys, "argv", ["cluster_channels.py", str(run)])
    script.main()
    out = capsys.readouterr().out
    assert "K = 3 per channel, 300 training images" in out
    row = next(line for line in out.splitlines() if line.startswith("| the run's clusters"))
    cells = row.strip(" |").split(" | ")[1:]
    assert int(cells[0]) == 3
    assert all(0 < float(v) <= math.log(3) + 1e-9 for v in cells[2:])  # each channel's own 3 clusters
