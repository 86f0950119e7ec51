"""Run-directory ownership: the lock, refusing a used --out, --overwrite, --outdir, stale .tmp files."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from gankit.cli import main
from gankit.config import TrainConfig
from gankit.errors import GankitError
from gankit.outputs.rundir import RunLock, clear_run, find_run, numbered_run_dir, remove_stale_tmp
from gankit.training.resume import resume
from gankit.training.trainer import Trainer

TOY = ["--dataset", "ring8", "--model", "toy-mlp", "--quiet", "--no-tensorboard"]


def _train(capsys, *args):
    code = main(["train", *TOY, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_second_lock_on_a_run_names_the_holder_and_a_released_one_is_free(tmp_path):
    with RunLock(tmp_path, "training"):
        with pytest.raises(GankitError, match=rf"in use by process {os.getpid()} on .*\(training, since"):
            RunLock(tmp_path, "eval").acquire()
    with RunLock(tmp_path, "eval") as lock:
        assert lock.held
    with pytest.raises(GankitError, match="no run directory at"):
        RunLock(tmp_path / "missing", "eval").acquire()
    (tmp_path / "file").write_text("x")
    with pytest.raises(GankitError, match="is a file, not a directory"):
        RunLock(tmp_path / "file", "training", create=True).acquire()


def test_a_killed_holder_leaves_no_lock_behind(tmp_path):
    script = textwrap.dedent(
        f"""
        import os
        from gankit.outputs.rundir import RunLock
        RunLock({str(tmp_path)!r}, "training").acquire()
        os._exit(9)  # no release, no cleanup: as a SIGKILL leaves it
        """
    )
    assert subprocess.run([sys.executable, "-c", script]).returncode == 9
    assert (tmp_path / ".gankit.lock").is_file()
    with RunLock(tmp_path, "training") as lock:
        assert lock.held


def test_another_process_holding_the_lock_is_refused_with_its_pid(tmp_path, capsys):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from gankit.outputs.rundir import RunLock; import sys; "
            f"RunLock({str(tmp_path)!r}, 'training').acquire(); print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = _train(capsys, "--steps", "5", "--out", str(tmp_path))
        assert code == 2 and f"in use by process {holder.pid}" in err and err.count("\n") == 1
        assert sorted(p.name for p in tmp_path.iterdir()) == [".gankit.lock"]  # nothing written
    finally:
        holder.stdin.close()
        holder.wait()


def test_a_used_out_is_refused_and_overwrite_or_resume_are_the_ways_out(tmp_path, capsys):
    run = tmp_path / "x"
    assert _train(capsys, "--steps", "60", "--checkpoint-every", "20", "--out", str(run))[0] == 0
    before = {p.relative_to(run): p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    code, _, err = _train(
        capsys, "--steps", "30", "--checkpoint-every", "5", "--seed", "7", "--out", str(run)
    )
    assert code == 2 and err.count("\n") == 1
    assert "already holds a run (toy-mlp on ring8, checkpoint at step 60)" in err
    assert f"--resume {run}" in err and "--overwrite" in err
    after = {p.relative_to(run): p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    assert {k: v for k, v in after.items() if k.name != ".gankit.lock"} == {
        k: v for k, v in before.items() if k.name != ".gankit.lock"
    }
    code, out, _ = _train(
        capsys, "--steps", "30", "--checkpoint-every", "5", "--seed", "7", "--out", str(run), "--overwrite"
    )
    assert code == 0 and "--overwrite: removed the run" in out
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 30  # nothing of the 60-step run is left
    assert sorted(p.name for p in (run / "checkpoint").glob("*.json")) == [
        "ckpt_0000025.json",
        "ckpt_0000030.json",
        "latest.json",
    ]
    assert max(int(p.stem[5:]) for p in (run / "samples").iterdir()) == 30  # no grid of the old run
    assert main(["train", "--resume", str(run), "--steps", "40", "--quiet"]) == 0
    generator = json.loads((run / "generator.json").read_text())
    assert generator["step"] == 40
    config = json.loads((run / "config.json").read_text())
    assert config["run"]["seed"] == 7
    assert main(["train", "--resume", str(run), "--steps", "50", "--overwrite", "--quiet"]) == 2


def test_a_trainer_from_python_refuses_another_runs_directory(tmp_path):
    config = TrainConfig(dataset="ring8", model="toy-mlp", steps=4, out=str(tmp_path), tensorboard=False)
    Trainer(config, progress=False).fit()
    with pytest.raises(GankitError, match="already holds a run"):
        Trainer(config.replace(seed=3), progress=False).fit()
    trainer = resume(tmp_path, {"steps": 6}, progress=False)
    assert trainer.run_lock is not None and trainer.run_lock.held
    with pytest.raises(GankitError, match="in use by process"):
        resume(tmp_path, {"steps": 6}, progress=False)
    trainer.fit()
    assert trainer.run_lock is None  # released when the run ends
    assert trainer.step == 6


def test_outdir_numbers_each_new_run(tmp_path, capsys):
    assert numbered_run_dir(tmp_path / "none", "mnist-5k", "dcgan").name == "00001-mnist-5k-dcgan"
    assert (
        numbered_run_dir(tmp_path, "folder:/data/my faces", "resnet").name == "00001-folder-my-faces-resnet"
    )
    for expected in ("00001-ring8-toy-mlp", "00002-ring8-toy-mlp"):
        code, out, _ = _train(capsys, "--steps", "3", "--outdir", str(tmp_path / "runs"))
        assert code == 0 and out.strip().endswith(expected)
    (tmp_path / "runs" / "00041-other").mkdir()
    assert numbered_run_dir(tmp_path / "runs", "ring8", "toy-mlp").name == "00042-ring8-toy-mlp"
    code, _, err = _train(capsys, "--steps", "3", "--outdir", str(tmp_path), "--out", str(tmp_path / "y"))
    assert code == 2 and "--outdir" in err


def test_find_clear_and_stale_tmp(tmp_path):
    assert find_run(tmp_path) is None
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "step_0000000.png").write_bytes(b"x")
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / ".ckpt_0000010.json.abc123.tmp").write_text("half")
    (tmp_path / ".config.json.x1.tmp").write_text("half")
    assert find_run(tmp_path) == "files checkpoint, samples"
    removed = remove_stale_tmp(tmp_path)
    assert sorted(p.name for p in removed) == [".ckpt_0000010.json.abc123.tmp", ".config.json.x1.tmp"]
    with pytest.raises(GankitError, match="has no config.json"):  # not a gankit run: nothing removed
        clear_run(tmp_path)
    assert (tmp_path / "samples" / "step_0000000.png").is_file()
    (tmp_path / "config.json").write_text("{}")
    assert clear_run(tmp_path) == ["config.json", "checkpoint", "samples"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # not a run's file: kept


def test_the_next_start_removes_tmp_files_a_kill_left(tmp_path):
    config = TrainConfig(dataset="ring8", model="toy-mlp", steps=4, out=str(tmp_path), tensorboard=False)
    Trainer(config, progress=False).fit()
    stray = tmp_path / "checkpoint" / ".ckpt_0000004.safetensors.k1ll3d.tmp"
    stray.write_bytes(b"half a checkpoint")
    resume(tmp_path, {"steps": 5}, progress=False).fit()
    assert not stray.exists()


def test_overwrite_never_empties_a_folder_that_is_not_a_gankit_run(tmp_path, capsys):
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "holiday.png").write_bytes(b"mine")
    code, _, err = _train(capsys, "--steps", "3", "--out", str(tmp_path), "--overwrite")
    assert code == 2 and "has no config.json" in err and err.count("\n") == 1
    assert (tmp_path / "samples" / "holiday.png").read_bytes() == b"mine"
    code, _, err = _train(capsys, "--steps", "3", "--out", str(tmp_path), "--overwrite")
    assert code == 2 and "has no config.json" in err  # not "in use": the refusal gave the lock back
