"""The public API (`import gankit`) and plugins: a model, dataset, loss and metric of the user's own,
registered from Python or named `package.module:name`, through train, sample, eval and --resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import gankit
from gankit.data import REGISTERED
from gankit.errors import GankitError
from gankit.losses import LOSSES
from gankit.metrics import METRICS
from gankit.models import MODELS

PLUGIN = textwrap.dedent(
    '''
    """A user's plugin module: a tiny model pair, a 1-D dataset, a loss and a metric."""
    import torch
    from torch import nn

    import gankit
    from gankit.data import ToyData
    from gankit.losses import discriminator_loss, generator_non_saturating
    from gankit.models import ModelEntry


    def build(shape, noise_dim):
        g = nn.Sequential(nn.Linear(noise_dim, 8), nn.ReLU(), nn.Linear(8, shape[0]))
        d = nn.Sequential(nn.Linear(shape[0], 8), nn.LeakyReLU(0.2), nn.Linear(8, 1), nn.Flatten(0))
        return g, d


    TINY = ModelEntry(build, "linear", "vector")
    gankit.register_model("tiny-plugin", build, output="linear", kind="vector")


    @gankit.register_dataset("line-plugin")
    def line(options):
        return ToyData("line-plugin", 1, lambda n, gen: torch.rand(n, 1, generator=gen) * 2 + 3)


    gankit.register_loss("ns-plugin", discriminator_loss, generator_non_saturating, probabilistic=True)


    @gankit.register_metric("mean-plugin", summary="mean of 100 samples", default=False)
    def mean(ctx):
        return {"mean": float(ctx.samples(100).mean())}
    '''
)


@pytest.fixture
def plugin_dir(tmp_path: Path):
    """A folder with the plugin module; what it registers in this process is removed afterwards."""
    (tmp_path / "gankit_test_plugin.py").write_text(PLUGIN)
    registries = (MODELS, LOSSES, METRICS, REGISTERED)
    before = [dict(registry) for registry in registries]
    yield tmp_path
    for registry, saved in zip(registries, before, strict=True):
        registry.clear()
        registry.update(saved)
    sys.modules.pop("gankit_test_plugin", None)


def gankit_cli(plugin_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """`gankit ARGS` in a fresh process that can import the plugin module (nothing registered yet)."""
    env = {**os.environ, "PYTHONPATH": f"{plugin_dir}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-m", "gankit", *args], capture_output=True, text=True, env=env)


def test_a_model_named_package_module_name_trains_samples_evaluates_and_resumes(plugin_dir):
    run = plugin_dir / "run"
    train = ["train", "--model", "gankit_test_plugin:TINY", "--dataset", "ring8", "--steps", "6",
             "--batch-size", "16", "--device", "cpu", "--quiet", "--no-tensorboard",
             "--out", str(run)]  # fmt: skip
    assert gankit_cli(plugin_dir, *train).returncode == 0
    assert json.loads((run / "config.json").read_text())["architecture"]["model"] == "gankit_test_plugin:TINY"
    done = gankit_cli(plugin_dir, "sample", str(run), "--n", "20", "--out", str(run / "p.npz"))
    assert done.returncode == 0, done.stderr
    done = gankit_cli(plugin_dir, "eval", str(run), "--metrics", "modes", "--n", "100")
    assert done.returncode == 0 and "modes" in json.loads(done.stdout), done.stderr
    done = gankit_cli(plugin_dir, "train", "--resume", str(run), "--steps", "8", "--quiet")
    assert done.returncode == 0 and "for 8 steps" in done.stdout, done.stderr


def test_plugins_registered_from_python_are_found_again_by_a_new_process(plugin_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_dir))
    import gankit_test_plugin  # noqa: F401  (registers tiny-plugin, line-plugin, ns-plugin, mean-plugin)

    run = plugin_dir / "registered"
    config = gankit.TrainConfig(model="tiny-plugin", dataset="line-plugin", loss="ns-plugin", steps=5,
                                batch_size=16, device="cpu", out=str(run), tensorboard=False,
                                eval_every=5, eval_metrics="mean-plugin")  # fmt: skip
    trainer = gankit.train(config, progress=False)
    assert trainer.plugins == ("gankit_test_plugin",)
    assert json.loads((run / "generator.json").read_text())["plugins"] == ["gankit_test_plugin"]
    assert "mean-plugin" in json.loads((run / "eval.json").read_text())["metrics"]
    done = gankit_cli(plugin_dir, "sample", str(run), "--n", "7", "--out", str(run / "p.npz"))
    assert done.returncode == 0, done.stderr
    done = gankit_cli(plugin_dir, "train", "--resume", str(run), "--steps", "7", "--quiet")
    assert done.returncode == 0, done.stderr
    samples = gankit.sample(run, n=300, seed=1)
    assert samples.shape == (300, 1) and torch.isfinite(samples).all()


def test_a_bad_plugin_reference_is_one_clear_error(plugin_dir):
    done = gankit_cli(
        plugin_dir, "train", "--model", "gankit_test_plugin:NOPE", "--dataset", "ring8", "--dry-run"
    )
    done = gankit_cli(plugin_dir, "train", "--model", "gankit_test_plugin:NOPE", "--dataset", "ring8",
                      "--steps", "1", "--device", "cpu", "--out", str(plugin_dir / "x"))  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "has no attribute 'NOPE'" in done.stderr
    with pytest.raises(GankitError, match="not a gankit GANLoss"):
        gankit.TrainConfig(loss="gankit.losses:get_loss").validated()
    with pytest.raises(GankitError, match="cannot import the module"):
        gankit.TrainConfig(loss="no_such_module_here:loss").validated()


def test_the_readmes_notebook_example_runs_as_written(tmp_path, monkeypatch):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("### From Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert len(block.strip().splitlines()) < 10
    monkeypatch.chdir(tmp_path)  # it writes runs/ring
    names: dict = {}
    exec(compile(block, "README.md", "exec"), names)
    assert names["trainer"].step == 500 and names["points"].shape == (1000, 2)
    modes = names["scores"]["modes"]
    assert modes["n_modes"] == 8 and 0 <= modes["modes_captured"] <= 8
    assert (tmp_path / "runs" / "ring" / "eval.json").is_file()


class CountSteps(gankit.Callback):
    def __init__(self) -> None:
        self.steps: list[int] = []
        self.logged: list[int] = []

    def on_step_end(self, trainer) -> None:
        self.steps.append(trainer.step)

    def on_log(self, trainer, record) -> None:
        self.logged.append(record["step"])


def test_a_users_callback_sees_every_step_and_log(tmp_path):
    config = gankit.TrainConfig(dataset="ring8", model="toy-mlp", steps=7, batch_size=16, log_every=3,
                                device="cpu", out=str(tmp_path / "cb"), tensorboard=False)  # fmt: skip
    counter = CountSteps()
    trainer = gankit.Trainer(config, progress=False)
    trainer.callbacks.append(counter)
    trainer.fit()
    assert counter.steps == [1, 2, 3, 4, 5, 6, 7] and counter.logged == [3, 6, 7]
