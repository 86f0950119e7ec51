"""Config files, presets, and the Keras article's training semantics that its preset turns on."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from gankit.cli import main
from gankit.config import TrainConfig
from gankit.config.files import compose, list_presets, load_preset, read_config_file, to_toml
from gankit.data.batches import TensorBatches
from gankit.errors import GankitError
from gankit.losses import KERAS_EPSILON, get_loss
from gankit.models.keras_mnist import KerasGenerator
from gankit.training.modules import StepModules
from gankit.training.step import GANStep, StepOptions
from gankit.training.trainer import Trainer

RING = ["--dataset", "ring8", "--model", "toy-mlp", "--quiet", "--no-tensorboard"]
SEED_PRESETS = ("seed-keras-mnist", "seed-keras-mnist-relu", "seed-mode-collapse", "seed-mxnet-dcgan",
                "goodfellow2014-mnist", "goodfellow2014-figure1", "dcgan2015")  # fmt: skip


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


# -- presets ------------------------------------------------------------------------------------------
def test_gankit_presets_lists_every_seed_preset_and_every_results_recipe(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert set(SEED_PRESETS) <= set(names)
    assert sum(name.startswith("results-") for name in names) == 23
    assert all(line.rstrip().endswith("]") for line in lines)  # each names its source


FAST = dict(steps=2, sample_every=10**6, checkpoint_every=10**6, tensorboard=False, device="cpu")


@pytest.mark.parametrize("preset", [p.name for p in list_presets()])
def test_every_preset_resolves_and_trains_two_steps(tmp_path, preset):
    options = compose(load_preset(preset).options, {**FAST, "out": str(tmp_path / "run")})
    if options.get("dataset") == "stacked-mnist":
        options["stack_size"] = 256  # the same code path on a small stack
    assert "epochs" not in options  # FAST's steps replace a preset's epochs
    if options.get("self_condition"):
        options["recluster_every"] = 1
    trainer = Trainer(TrainConfig(**options), progress=False)
    trainer.fit()
    assert trainer.step == 2 and (tmp_path / "run" / "generator.safetensors").is_file()


def test_an_unknown_preset_is_one_error_line(capsys):
    assert main(["train", "--preset", "no-such", "--dry-run"]) == 2
    assert "unknown preset 'no-such'" in _error(capsys)


# -- config files -------------------------------------------------------------------------------------
def test_preset_then_file_then_flags(tmp_path, capsys):
    config = tmp_path / "x.toml"
    config.write_text("[optimization]\nbatch_size = 48\nlr_d = 0.003\n")
    assert main(["train", "--preset", "seed-keras-mnist", "--config", str(config), "--lr-d", "0.004",
                 "--print-config"]) == 0  # fmt: skip
    resolved = TrainConfig(**read_config_file(_written(tmp_path, capsys.readouterr().out)))
    o = resolved.optimization
    assert (o.batch_size, o.lr_d, o.lr_g, o.optimizer) == (48, 0.004, 0.001, "sgd")  # file, flag, preset
    assert resolved.architecture.model == "keras-mnist" and resolved.data.sequential_batches


def _written(tmp_path, text: str):
    path = tmp_path / "printed.toml"
    path.write_text(text)
    return path


def test_print_config_round_trips_through_a_toml_file(tmp_path, capsys):
    argv = ["train", *RING, "--steps", "7", "--r1", "0.5", "--ema-half-life", "1e4", "--diffaugment",
            "translation", "--gaussian-mean", "-inf", "--print-config"]  # fmt: skip
    assert main(argv[:-5] + ["--print-config"]) == 0
    printed = capsys.readouterr().out
    again = TrainConfig(**read_config_file(_written(tmp_path, printed)))
    assert to_toml(again.validated()) == printed
    assert again.objective.r1 == 0.5 and again.optimization.ema_half_life == 1e4


def test_config_json_of_a_run_repeats_it_and_round_trips_unchanged(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert main(["train", *RING, "--steps", "6", "--seed", "4", "--pack", "2", "--out", str(first)]) == 0
    assert main(["train", "--config", str(first / "config.json"), "--out", str(second), "--quiet"]) == 0
    a, b = (json.loads((run / "config.json").read_text()) for run in (first, second))
    for saved in (a, b):
        saved["run"].pop("out"), saved.pop("run_id")
    assert a == b
    weights = [(run / "generator.safetensors").read_bytes() for run in (first, second)]
    assert weights[0] == weights[1]  # the same run again, bit for bit


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[optimization]\nno_such = 1\n", "unknown key optimization.no_such"),
        ("[optimization]\nseed = 1\n", "unknown key optimization.seed (it belongs in [run])"),
        ("[nowhere]\nx = 1\n", "unknown key nowhere"),
        ('[optimization]\nbatch_size = "64"\n', "optimization.batch_size must be int"),
        ("[optimization]\nlr_g = true\n", "optimization.lr_g must be float or null"),
        ("[optimization]\nbeta1 = 1.5\n", "--beta1 must be in [0, 1)"),
        ("[data]\nsequential_batches = 1\n", "data.sequential_batches must be bool"),
        ("optimization = 3\n", "[optimization] must be a table"),
        ("[optimization\n", "is not valid TOML"),
    ],
)
def test_bad_config_files_are_one_error_line_naming_the_key_and_the_file(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["train", *RING, "--config", str(path), "--dry-run"]) == 2
    line = _error(capsys)
    assert message in line and str(path) in line


def test_config_files_other_than_toml_or_json_and_resume_with_a_config_are_refused(tmp_path, capsys):
    (tmp_path / "x.yaml").write_text("a: 1\n")
    assert main(["train", "--config", str(tmp_path / "x.yaml"), "--dry-run"]) == 2
    assert "give a .toml file or a run's config.json" in _error(capsys)
    assert main(["train", "--resume", str(tmp_path), "--preset", "dcgan2015"]) == 2
    assert "a resume keeps its saved config" in _error(capsys)


def test_a_later_layer_that_gives_epochs_replaces_the_steps_below_it():
    assert compose({"steps": 5}, {"epochs": 2.0}) == {"epochs": 2.0}
    assert compose({"epochs": 2.0}, {"steps": 9}) == {"steps": 9}
    assert compose({"steps": 5, "k": 2}, {"k": 3}) == {"steps": 5, "k": 3}


# -- the Keras article's semantics --------------------------------------------------------------------
class TinyD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.Tanh(), nn.Linear(5, 1))

    def forward(self, x):
        return self.net(x).squeeze(1)


class TinyG(nn.Module):
    """Noise -> linear -> BatchNorm -> image: training and inference mode differ."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 12), nn.BatchNorm1d(12, momentum=0.5), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, 3, 2, 2)


def _keras_bce_by_hand(d: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """What Keras's d.train_on_batch(concatenate(real, fake), [1]*B + [0]*B) minimizes."""
    p = torch.sigmoid(d(torch.cat([real, fake]))).clamp(KERAS_EPSILON, 1 - KERAS_EPSILON)
    y = torch.cat([torch.ones(len(real)), torch.zeros(len(fake))])
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()


def _step(g: nn.Module, d: nn.Module, **options) -> GANStep:
    opt_g = torch.optim.SGD(g.parameters(), lr=0.0)  # lr 0: the gradients stay, the weights too
    opt_d = torch.optim.SGD(d.parameters(), lr=0.0)
    return GANStep(StepModules.plain(g, d), opt_g, opt_d, get_loss("keras-bce"), StepOptions(**options))


@pytest.mark.parametrize("scale", [1.0, 40.0])  # 40: D's logits saturate and the clipping bites
def test_d_loss_and_gradient_are_keras_mean_clipped_bce_over_the_concatenated_batch(scale):
    torch.manual_seed(0)
    g, d = TinyG(), TinyD()
    with torch.no_grad():
        d.net[3].weight.mul_(scale)
    real, fake = torch.randn(6, 3, 2, 2), torch.randn(6, 3, 2, 2)
    stats = _step(g, d, d_loss_mean=True).d_step(real, torch.randn(6, 4), fake=fake)
    grads = [p.grad.clone() for p in d.parameters()]
    d.zero_grad()
    by_hand = _keras_bce_by_hand(d, real, fake)
    by_hand.backward()
    assert float(stats["loss/d"]) == pytest.approx(by_hand.item(), rel=1e-6)
    for ours, theirs in zip(grads, [p.grad for p in d.parameters()], strict=True):
        assert torch.allclose(ours, theirs, atol=1e-7)
    if scale > 1:
        assert by_hand.item() <= -math.log(KERAS_EPSILON) + 1e-4  # bounded, as the article's prints


def test_without_d_loss_mean_the_loss_is_twice_keras():
    torch.manual_seed(1)
    g, d = TinyG(), TinyD()
    real, fake = torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2)
    summed = float(_step(g, d).d_step(real, torch.randn(4, 4), fake=fake)["loss/d"])
    assert summed == pytest.approx(2 * _keras_bce_by_hand(d, real, fake).item(), rel=1e-6)


def test_d_fakes_eval_makes_ds_fakes_with_g_in_inference_mode():
    torch.manual_seed(2)
    g, d = TinyG(), TinyD()
    g.train()(torch.randn(64, 4) * 3 + 1)  # running statistics away from the batch's
    noise, seen = torch.randn(6, 4), []
    d.register_forward_hook(lambda module, args, out: seen.append(args[0].detach().clone()))
    _step(g, d, d_fakes_eval=True).d_step(torch.randn(6, 3, 2, 2), noise)
    fakes = seen[-1][6:] if len(seen[-1]) == 12 else seen[-1]
    with torch.no_grad():
        assert torch.allclose(fakes, g.eval()(noise), atol=1e-6)
        assert not torch.allclose(fakes, g.train()(noise), atol=1e-3)
    assert g.training  # G's own mode is put back


def test_sequential_batches_are_consecutive_slices_in_order_every_epoch():
    data = torch.arange(23).float().view(23, 1)
    batches = TensorBatches(data, 5, seed=0, shuffle=False)
    seen = [batches.next().flatten().tolist() for _ in range(6)]
    slices = [list(range(i, i + 5)) for i in range(0, 20, 5)]
    assert seen == slices + slices[:2]  # 4 per epoch, the partial fifth dropped, then from the start


def test_the_keras_preset_trains_on_batches_in_dataset_order(tmp_path):
    options = compose(load_preset("seed-keras-mnist").options, {**FAST, "out": str(tmp_path / "k")})
    trainer = Trainer(TrainConfig(**options), progress=False)
    train = trainer.dataset.tensor("train", "tanh")
    assert torch.equal(trainer.batches.next().cpu(), train[:36])
    assert torch.equal(trainer.batches.next().cpu(), train[36:72])


def test_keras_generator_relu_variant_changes_only_the_hidden_activations():
    tanh, relu = KerasGenerator((1, 28, 28)), KerasGenerator((1, 28, 28), hidden=nn.ReLU)
    kinds = [[type(m).__name__ for m in g.modules() if not list(m.children())] for g in (tanh, relu)]
    assert [k for k in kinds[0] if k != "Tanh"] == [k for k in kinds[1] if k not in ("Tanh", "ReLU")]
    assert kinds[1].count("ReLU") == 3 and kinds[1][-1] == "Tanh"


def test_damaged_preset_tables_are_refused(tmp_path, monkeypatch):
    with pytest.raises(GankitError, match="unknown preset"):
        load_preset("../etc/passwd")


def test_the_2014_schedules_decay_the_rate_exponentially_and_ramp_the_momentum(tmp_path):
    from gankit.training.optim import exponential_decay, momentum_ramp

    assert exponential_decay(0.1, 0, 1.000004) == 0.1
    assert exponential_decay(0.1, 10**6, 1.000004) == pytest.approx(0.1 * math.exp(-4), rel=1e-5)
    assert exponential_decay(0.1, 10**8, 1.000004, floor=1e-6) == 1e-6
    assert exponential_decay(0.1, 10**8, None) == 0.1
    assert momentum_ramp(0.5, 0.7, 125.0, 250.0) == pytest.approx(0.6)
    assert momentum_ramp(0.5, 0.7, 900.0, 250.0) == pytest.approx(0.7)
    options = compose(load_preset("goodfellow2014-mnist").options, {**FAST, "steps": 3, "out": str(tmp_path)})
    trainer = Trainer(TrainConfig(**options), progress=False)
    trainer.fit()
    epochs = 2 * 100 / len(trainer.dataset.splits["train"])  # set before the third update
    for opt in (trainer.opt_g, trainer.opt_d):
        assert opt.param_groups[0]["lr"] == pytest.approx(0.1 / 1.000004**2)
        assert opt.param_groups[0]["momentum"] == pytest.approx(0.5 + 0.2 * epochs / 250)
