"""Training on several processes: sharding, DDP against one process, rank-0 outputs, resume, failures.

The multi-process tests launch real `torchrun` jobs with 2 CPU processes (gloo).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gankit.config import TrainConfig
from gankit.data.batches import TensorBatches
from gankit.errors import GankitError
from gankit.outputs.files import read_json
from gankit.runtime.distributed import DistContext, lr_scale, mean_over_ranks, shard

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="uses /proc to find the worker processes")

TOY = ["--dataset", "ring8", "--model", "toy-mlp", "--device", "cpu", "--quiet", "--log-every", "5"]
# A model slow enough on 2 cores (about 0.1 s a step) that a test can act between checkpoints.
IMAGES = ["--dataset", "mnist-5k", "--model", "dcgan", "--device", "cpu", "--quiet", "--batch-size", "16",
          "--checkpoint-every", "10", "--sample-every", "1000", "--log-every", "5"]  # fmt: skip


def torchrun(*args: str, restarts: int = 0) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
            "--max-restarts", str(restarts), "-m", "gankit", "train", *args]  # fmt: skip


def single(*args: str) -> list[str]:
    return [sys.executable, "-m", "gankit", "train", *args]


def outside_env() -> dict[str, str]:
    """This environment without the variables that would make a child think it is a rank."""
    return {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}


def run(cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=outside_env())


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "generator.safetensors")


def checkpoint_step(run_dir: Path) -> int:
    try:
        return json.loads((run_dir / "checkpoint" / "latest.json").read_text())["step"]
    except (FileNotFoundError, json.JSONDecodeError):
        return -1


def wait_for_checkpoint(run_dir: Path, step: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    """Poll until a checkpoint at `step` or later exists (the job must still be running)."""
    deadline = time.monotonic() + timeout
    while checkpoint_step(run_dir) < step:
        assert proc.poll() is None, "job ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.02)


def worker_pids(parent: int) -> dict[int, int]:
    """{rank: pid} of the processes under `parent` whose environment sets RANK."""
    found, todo = {}, [parent]
    while todo:
        pid = todo.pop()
        for task in Path(f"/proc/{pid}/task").glob("*"):
            todo += [int(c) for c in (task / "children").read_text().split()]
        try:
            env = dict(
                item.split("=", 1)
                for item in Path(f"/proc/{pid}/environ").read_text().split("\0")
                if "=" in item
            )
        except (FileNotFoundError, ProcessLookupError):
            continue
        if pid != parent and "RANK" in env and "gankit" in Path(f"/proc/{pid}/cmdline").read_text():
            found[int(env["RANK"])] = pid
    return found


# -- sharding and helpers (no process group needed) ------------------------------------------------
def test_ranks_split_the_global_batch_of_one_process():
    data = torch.arange(100.0)[:, None]
    one = TensorBatches(data, 20, seed=3)
    ranks = [TensorBatches(data, 10, seed=3, dist=DistContext(r, 2)) for r in range(2)]
    for _ in range(12):  # across epoch boundaries
        whole, parts = one.next(), [b.next() for b in ranks]
        assert torch.equal(torch.cat(parts), whole)
        assert not set(parts[0].flatten().tolist()) & set(parts[1].flatten().tolist())


def test_global_batch_must_fit_the_dataset():
    with pytest.raises(ValueError, match="fewer than one batch of 120"):
        TensorBatches(torch.zeros(100, 1), 60, seed=0, dist=DistContext(0, 2))


def test_helpers_are_identities_for_one_process():
    x = torch.arange(6.0)
    assert shard(x, DistContext()) is x
    assert torch.equal(shard(x, DistContext(1, 3)), torch.tensor([2.0, 3.0]))
    stats = {"a": torch.tensor(1.5)}
    assert mean_over_ranks(stats, DistContext()) is stats
    assert [lr_scale(rule, 4) for rule in ("none", "linear", "sqrt")] == [1.0, 4.0, 2.0]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lr_scaling", "cubic", "unknown lr-scaling 'cubic'"),
        ("dist_timeout", 0.0, "--dist-timeout must be a finite number > 0"),
    ],
)
def test_distributed_options_are_checked(field, value, message):
    with pytest.raises(GankitError, match=message):
        TrainConfig(**{field: value}).validated()


# -- real 2-process jobs ---------------------------------------------------------------------------
def test_two_ranks_equal_one_process_with_the_same_global_batch(tmp_path):
    """Without BatchNorm, 2 ranks x 32 train the same weights as 1 process x 64 (float tolerance)."""
    one, two = tmp_path / "one", tmp_path / "two"
    assert run(single(*TOY, "--steps", "25", "--batch-size", "64", "--out", str(one))).returncode == 0
    done = run(torchrun(*TOY, "--steps", "25", "--batch-size", "32", "--out", str(two)))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 ranks (gloo), batch 32 per rank = global batch 64" in done.stdout
    assert done.stdout.count("trained toy-mlp") == 1  # rank 0 alone reports
    a, b = weights(one), weights(two)
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5)
    layout = json.loads((two / "config.json").read_text())
    assert (layout["world_size"], layout["batch_size_per_rank"], layout["global_batch_size"]) == (2, 32, 64)
    # Rank 0 alone writes: the same files as one process, one metrics record per logged step.
    files = {p.relative_to(one) for p in one.rglob("*") if "tensorboard" not in p.parts}
    assert files == {p.relative_to(two) for p in two.rglob("*") if "tensorboard" not in p.parts}
    records = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "loss/d" in r]
    assert steps == [5, 10, 15, 20, 25]
    assert len(list((two / "tensorboard").glob("events.*"))) <= 1


def test_two_rank_resume_continues_exactly_and_refuses_another_world_size(tmp_path):
    unbroken, broken = tmp_path / "unbroken", tmp_path / "broken"
    args = [*TOY, "--batch-size", "32", "--checkpoint-every", "10"]
    assert run(torchrun(*args, "--steps", "30", "--out", str(unbroken))).returncode == 0
    assert run(torchrun(*args, "--steps", "20", "--out", str(broken))).returncode == 0
    refused = run(single("--resume", str(broken), "--steps", "30", "--quiet"))
    assert refused.returncode == 2
    assert "trained by 2 process(es)" in refused.stderr and "this launch has 1" in refused.stderr
    resumed = run(torchrun("--resume", str(broken), "--steps", "30", "--quiet"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = weights(unbroken), weights(broken)
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_distributed_evaluation_draws_the_samples_one_process_draws(tmp_path):
    out = tmp_path / "run"
    done = run(torchrun(*TOY, "--steps", "10", "--batch-size", "32", "--out", str(out), "--eval-every", "10",
                        "--eval-metrics", "modes", "--eval-n", "999"))  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    from gankit.metrics import evaluate_run

    trained = read_json(out / "eval.json")["metrics"]["modes"]  # an infinite KL is null + a note in the file
    again = evaluate_run(out, ["modes"], 999, 0)["modes"]
    for key in ("modes_captured", "high_quality", "kl_to_uniform"):
        assert trained[key] == pytest.approx(again[key], rel=1e-6)


def test_sync_bn_is_refused_on_cpu(tmp_path):
    done = run(torchrun(*TOY, "--steps", "2", "--sync-bn", "--out", str(tmp_path / "run")))
    assert done.returncode != 0
    assert "--sync-bn needs CUDA" in done.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dead_rank_ends_the_others_with_a_clear_message(tmp_path):
    """Launched like SLURM does (env:// variables, no torchrun agent): rank 0 must not hang."""
    out, port = tmp_path / "run", free_port()
    procs = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}  # fmt: skip
        cmd = single(*IMAGES, "--steps", "100000", "--out", str(out), "--dist-timeout", "60")
        procs.append(
            subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    try:
        wait_for_checkpoint(out, 10, procs[0])
        procs[1].send_signal(signal.SIGKILL)
        _, stderr = procs[0].communicate(timeout=90)
    finally:
        for p in procs:
            p.kill()
    assert procs[0].returncode == 3
    assert "error: rank 0 of 2 lost the process group" in stderr


def test_elastic_restart_resumes_from_the_last_checkpoint(tmp_path):
    """torchrun --max-restarts 1: after a rank is killed the job restarts, resumes, and ends as unbroken."""
    unbroken, restarted = tmp_path / "unbroken", tmp_path / "restarted"
    assert run(torchrun(*IMAGES, "--steps", "40", "--out", str(unbroken))).returncode == 0
    job = subprocess.Popen(
        torchrun(*IMAGES, "--steps", "40", "--out", str(restarted), restarts=1),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=outside_env(),
    )  # fmt: skip
    try:
        wait_for_checkpoint(restarted, 10, job)
        os.kill(worker_pids(job.pid)[1], signal.SIGKILL)
        stdout, stderr = job.communicate(timeout=300)
    finally:
        job.kill()
    assert job.returncode == 0, stderr[-2000:]
    assert "elastic restart 1: resuming" in stdout
    a, b = weights(unbroken), weights(restarted)
    assert all(torch.equal(a[name], b[name]) for name in a)
