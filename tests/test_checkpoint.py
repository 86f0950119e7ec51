import json
import os
import stat

import pytest
import torch

from gankit.errors import GankitError
from gankit.outputs import checkpoint as ckpt
from gankit.outputs import files as gio


def _state(value: float) -> dict:
    opt = torch.optim.Adam([torch.nn.Parameter(torch.ones(3))], betas=(0.5, 0.999))
    opt.param_groups[0]["params"][0].grad = torch.ones(3)
    opt.step()
    return {
        "w": torch.full((2, 2), value),
        "step": int(value),
        "name": "x",
        "optimizer": opt.state_dict(),
        "rng": torch.get_rng_state(),
    }


def test_round_trip_preserves_nested_state(tmp_path):
    state = _state(3.0)
    ckpt.save_checkpoint(tmp_path, 3, state)
    loaded = ckpt.load_checkpoint(tmp_path)
    assert torch.equal(loaded["w"], state["w"]) and loaded["step"] == 3 and loaded["name"] == "x"
    assert torch.equal(loaded["rng"], state["rng"])
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.5, 0.999)
    assert set(loaded["optimizer"]["state"]) == {0}  # integer keys come back as integers
    opt = torch.optim.Adam([torch.nn.Parameter(torch.ones(3))])
    opt.load_state_dict(loaded["optimizer"])


def test_no_pickle_on_disk(tmp_path):
    ckpt.save_checkpoint(tmp_path, 1, _state(1.0))
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["ckpt_0000001.json", "ckpt_0000001.safetensors", "latest.json"]
    json.loads((tmp_path / "ckpt_0000001.json").read_text())


def test_keeps_only_the_latest_two(tmp_path):
    for step in (1, 2, 3):
        ckpt.save_checkpoint(tmp_path, step, _state(float(step)))
    assert sorted(p.name for p in tmp_path.glob("*.safetensors")) == [
        "ckpt_0000002.safetensors",
        "ckpt_0000003.safetensors",
    ]
    assert ckpt.load_checkpoint(tmp_path)["step"] == 3


def test_crash_mid_write_leaves_previous_checkpoint_loadable(tmp_path, monkeypatch):
    ckpt.save_checkpoint(tmp_path, 1, _state(1.0))
    calls = {"n": 0}
    real_write = gio._write_and_sync

    def dying_write(handle, data):
        calls["n"] += 1
        if calls["n"] == 1:  # the tensor file of step 2: half written, then the process "dies"
            handle.write(data[: len(data) // 2])
            raise KeyboardInterrupt
        real_write(handle, data)

    monkeypatch.setattr(gio, "_write_and_sync", dying_write)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(tmp_path, 2, _state(2.0))
    loaded = ckpt.load_checkpoint(tmp_path)
    assert loaded["step"] == 1 and torch.equal(loaded["w"], torch.full((2, 2), 1.0))
    assert not list(tmp_path.glob("*.tmp")) and not (tmp_path / "ckpt_0000002.safetensors").exists()


def test_corrupt_and_missing_checkpoints(tmp_path):
    with pytest.raises(GankitError, match="no checkpoint in"):
        ckpt.load_checkpoint(tmp_path)
    with pytest.raises(GankitError, match="no checkpoint in"):
        ckpt.latest_stem(tmp_path)
    ckpt.save_checkpoint(tmp_path, 1, _state(1.0))
    assert ckpt.latest_stem(tmp_path) == "ckpt_0000001"
    tensors = tmp_path / "ckpt_0000001.safetensors"
    data = bytearray(tensors.read_bytes())
    data[-1] ^= 0xFF
    tensors.write_bytes(bytes(data))
    with pytest.raises(GankitError, match="corrupt"):
        ckpt.load_checkpoint(tmp_path)
    (tmp_path / "latest.json").write_text("{}")
    with pytest.raises(GankitError, match="corrupt: it names no checkpoint"):
        ckpt.load_checkpoint(tmp_path)
    (tmp_path / "latest.json").write_text("{not json")
    with pytest.raises(GankitError, match="not valid JSON"):
        ckpt.load_checkpoint(tmp_path)


def test_flatten_refuses_unknown_objects():
    with pytest.raises(TypeError, match="cannot store object"):
        ckpt.flatten_state({"x": object()}, "s", {})


def test_json_files_are_strict_json_with_non_finite_numbers_as_null_and_a_note(tmp_path):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    gio.atomic_write_json(tmp_path / "e.json", {"kl": float("inf"), "curve": [0.5, float("nan")], "n": 3})
    data = json.loads((tmp_path / "e.json").read_text(), parse_constant=refuse)
    assert data == {"kl": None, "kl:nonfinite": "inf", "curve": [0.5, None], "n": 3}
    assert gio.read_json(tmp_path / "e.json") == {"kl": float("inf"), "curve": [0.5, None], "n": 3}


def test_run_files_are_readable_by_others_under_the_usual_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        gio.atomic_write_bytes(tmp_path / "f.bin", b"x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "f.bin").stat().st_mode) == 0o644


def test_a_damaged_latest_checkpoint_falls_back_to_the_newest_intact_one(tmp_path):
    for step in (1, 2, 3):
        ckpt.save_checkpoint(tmp_path, step, _state(float(step)), keep=3)
    latest = tmp_path / "ckpt_0000003.safetensors"
    latest.write_bytes(latest.read_bytes()[:-7])  # truncated by a full disk, say
    with pytest.warns(ckpt.CheckpointFallback, match="SHA-256 mismatch.*ckpt_0000002"):
        state = ckpt.load_checkpoint(tmp_path)
    assert state["step"] == 2 and torch.equal(state["w"], torch.full((2, 2), 2.0))
    (tmp_path / "ckpt_0000002.json").write_text("{not json")
    with pytest.warns(ckpt.CheckpointFallback, match="ckpt_0000001"):
        assert ckpt.load_checkpoint(tmp_path)["step"] == 1
    with pytest.raises(GankitError, match="SHA-256 mismatch"):
        ckpt.load_checkpoint(tmp_path, fallback=False)


def test_latest_json_can_only_name_a_checkpoint_in_its_own_directory(tmp_path):
    ckpt.save_checkpoint(tmp_path / "a", 1, _state(1.0))
    for stem in ("../b/ckpt_0000001", "/etc/passwd", "ckpt_1", 7):
        (tmp_path / "a" / "latest.json").write_text(json.dumps({"step": 1, "stem": stem}))
        with pytest.raises(GankitError, match="names no checkpoint of the form"):
            ckpt.latest_stem(tmp_path / "a")


def test_pruning_deletes_only_the_checkpoints_of_its_own_run(tmp_path):
    for step in (50, 60):
        ckpt.save_checkpoint(tmp_path, step, _state(1.0), run_id="other")
    for step in (5, 10, 15):
        ckpt.save_checkpoint(tmp_path, step, _state(2.0), run_id="mine")
    stems = sorted(p.stem for p in tmp_path.glob("ckpt_*.json"))
    # the other run's two stay, though their steps are higher; of this run's, the newest two
    assert stems == ["ckpt_0000010", "ckpt_0000015", "ckpt_0000050", "ckpt_0000060"]
    assert json.loads((tmp_path / "latest.json").read_text())["stem"] == "ckpt_0000015"


def test_checkpoints_sort_by_step_past_seven_digits(tmp_path):
    ckpt.save_checkpoint(tmp_path, 9_999_999, _state(1.0), keep=5)
    ckpt.save_checkpoint(tmp_path, 10_000_000, _state(2.0), keep=5)
    (tmp_path / "latest.json").unlink()  # the pointer lost: the fallback takes the highest step
    with pytest.warns(ckpt.CheckpointFallback):
        assert ckpt.load_checkpoint(tmp_path)["step"] == 2
