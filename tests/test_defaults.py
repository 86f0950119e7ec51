"""The recipe `gankit train` starts image models from: the demo preset's training settings."""

from __future__ import annotations

import json

import pytest

from gankit.cli import main
from gankit.config import TrainConfig
from gankit.config.defaults import default_recipe, describe, image_recipe
from gankit.config.files import load_preset, to_toml
from gankit.sampling.generator import load_generator


def _dry_run(capsys, *args: str) -> dict:
    assert main(["train", "--dry-run", *args]) == 0
    return TrainConfig.from_dict(json.loads(capsys.readouterr().out)).flat()


def _library() -> dict:
    return TrainConfig().validated().flat()


def test_the_image_recipe_is_the_demo_presets_training_settings_without_its_budget_or_data():
    recipe = image_recipe()
    demo = load_preset("demo").options
    assert recipe and all(demo[k] == v for k, v in recipe.items())
    assert not {"steps", "epochs", "dataset", "model", "out", "seed", "sample_every"} & set(recipe)
    assert demo["r1"] > 0 and recipe["r1"] == demo["r1"]  # the measured recipe carries R1


def test_a_plain_image_run_takes_the_recipe_and_no_default_recipe_takes_the_library_defaults(capsys):
    library = _library()
    plain = _dry_run(capsys)  # dcgan on mnist-5k
    for key, value in image_recipe().items():
        assert plain[key] == value
        assert library[key] != value  # each recipe field changes something
    assert plain["steps"] == library["steps"]  # the budget stays the library's
    assert _dry_run(capsys, "--no-default-recipe") == library


@pytest.mark.parametrize("model", ["dcgan", "resnet"])
def test_a_flag_overrides_its_own_recipe_field_and_keeps_the_others(capsys, model):
    options = _dry_run(capsys, "--model", model, "--r1", "0.25", "--dataset", "fashion-mnist")
    assert options["r1"] == 0.25
    others = {k: v for k, v in image_recipe().items() if k != "r1"}
    assert all(options[k] == v for k, v in others.items())


@pytest.mark.parametrize(
    "args",
    [
        ("--model", "keras-mnist"),
        ("--model", "mlp"),
        ("--dataset", "ring8", "--model", "toy-mlp"),
        ("--dataset", "gaussian-1d", "--model", "toy-mlp"),
    ],
)
def test_other_models_and_toy_sets_keep_the_library_defaults(capsys, args):
    options = _dry_run(capsys, *args)
    library = _library()
    assert all(options[k] == library[k] for k in image_recipe())


def test_another_optimizer_drops_the_recipes_rates_and_keeps_the_rest():
    recipe = default_recipe({"optimizer": "sgd"})
    assert not {"lr_g", "lr_d", "beta1", "beta2", "optimizer"} & set(recipe)
    assert recipe["r1"] == image_recipe()["r1"]
    assert TrainConfig(**recipe, optimizer="sgd").validated().optimization.lr_g == 1e-3  # sgd's own default


def test_a_preset_or_a_config_file_starts_from_its_own_settings(capsys, tmp_path):
    mxnet = _dry_run(capsys, "--preset", "seed-mxnet-dcgan")
    assert mxnet["r1"] == 0.0 and mxnet["batch_size"] == 64 and mxnet["lr_g"] == 2e-4
    path = tmp_path / "mine.toml"
    path.write_text('[architecture]\nmodel = "dcgan"\n', encoding="utf-8")
    assert _dry_run(capsys, "--config", str(path))["r1"] == TrainConfig().objective.r1


def test_a_run_says_which_settings_it_took_and_its_config_keeps_them(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--g-width", "8", "--d-width", "8", "--steps", "2", "--device", "cpu", "--quiet",
            "--no-tensorboard", "--out", str(out), "--lr-g", "1e-4"]  # fmt: skip
    assert main(args) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("recipe:")]
    assert len(lines) == 1 and "demo preset" in lines[0] and "--r1" in lines[0]
    assert "--lr-g" not in lines[0]  # given as a flag, so not taken from the recipe
    saved = TrainConfig.load(out / "config.json")
    assert saved.objective.r1 == image_recipe()["r1"] and saved.optimization.lr_g == 1e-4
    # the saved config repeats the run without the recipe layer: a file starts from its own settings
    assert "r1 = " in to_toml(saved)
    assert main(["train", "--resume", str(out), "--steps", "3", "--quiet", "--no-tensorboard"]) == 0
    assert "recipe:" not in capsys.readouterr().out  # a resume keeps its saved config
    assert TrainConfig.load(out / "config.json").objective.r1 == image_recipe()["r1"]


def test_under_torchrun_the_recipe_leaves_out_r1_which_ddp_cannot_run():
    alone, ranks = default_recipe({}), default_recipe({}, distributed=True)
    assert "r1" in alone and "r1" not in ranks
    assert {k: v for k, v in alone.items() if k not in ("r1", "r1_interval")} == ranks
    assert "R1 left out" in describe(ranks, distributed=True) and "R1 left out" not in describe(alone)


@pytest.mark.parametrize(
    ("preset", "dataset"), [("mnist-5k-quality", "mnist-5k"), ("fashion-mnist-quality", "fashion-mnist")]
)
def test_the_30_minute_presets_are_the_demo_recipe_trained_longer(preset, dataset):
    quality, demo = load_preset(preset).options, load_preset("demo").options
    assert {k: quality[k] for k in image_recipe()} == image_recipe()
    assert quality["steps"] >= 24000 > demo["steps"]
    assert quality["dataset"] == dataset and quality["model"] == demo["model"] == "dcgan"


@pytest.mark.parametrize("preset", ["demo", "fashion-mnist-quality"])
def test_the_labelled_presets_train_a_class_conditional_pair_that_samples_a_chosen_class(
    tmp_path, capsys, preset
):
    run = tmp_path / "run"
    flags = ["--steps", "2", "--sample-every", "1000000", "--checkpoint-every", "1000000"]
    if preset == "fashion-mnist-quality":  # the same preset on mnist-5k: CI need not hold Fashion-MNIST here
        flags += ["--dataset", "mnist-5k"]
    args = ["train", "--preset", preset, *flags, "--device", "cpu", "--quiet", "--out", str(run)]
    assert main(args) == 0
    _, info = load_generator(run)
    assert info.n_classes == 10  # one label per digit (or garment) class, into G and D
    out = tmp_path / "sevens.npz"
    assert main(["sample", str(run), "--n", "4", "--class", "7", "--out", str(out)]) == 0
    assert out.is_file()
    capsys.readouterr()
    assert main(["sample", str(run), "--n", "4", "--class", "10", "--out", str(out)]) == 2
    assert "--class must be in 0..9, got 10" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "conditional"),
    [
        ((), True),  # dcgan on mnist-5k
        (("--model", "resnet", "--dataset", "fashion-mnist"), True),
        (("--no-conditional",), False),  # the flag overrides the recipe's field
        (("--pack", "2"), False),  # a pack has no single label: conditioning is refused with it
        (("--self-condition", "10"), False),  # clusters stand in for the labels
        (("--dataset", "stacked-mnist"), False),  # its label is the mode its experiments count
        (("--no-default-recipe",), False),
    ],
)
def test_the_recipe_conditions_on_the_labels_of_a_labelled_set_unless_told_otherwise(
    capsys, args, conditional
):
    assert _dry_run(capsys, *args)["conditional"] is conditional
    assert "conditional" not in image_recipe()  # an architecture field: added per dataset


def test_the_recipe_line_names_conditioning_as_a_bare_flag():
    line = describe(default_recipe({}))
    assert " --conditional " in line and "--conditional True" not in line and "--r1 1.0" in line
    assert "--conditional" not in describe(default_recipe({"dataset": "stacked-mnist"}))
