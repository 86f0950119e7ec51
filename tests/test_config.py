"""The nested config: groups, flat options, config.json in both layouts, and what resume may change."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gankit.config import TrainConfig, config_differences, flat_view
from gankit.config.groups import OptimizationConfig
from gankit.config.options import is_resumable, option_help
from gankit.errors import GankitError


def test_flat_options_land_in_their_groups_and_read_back_by_name():
    config = TrainConfig(dataset="ring8", lr_g=1e-3, self_condition=5, eval_every=10)
    assert config.data.dataset == "ring8" and config.optimization.lr_g == 1e-3
    assert config.self_conditioning.self_condition == 5 and config.evaluation.eval_every == 10
    assert config.option("lr_g") == 1e-3 and config.flat()["dataset"] == "ring8"
    assert len(config.flat()) == 80  # the 69 options of gankit 0.1.0 and eleven since, each once


def test_groups_and_flat_options_combine_flat_last():
    group = OptimizationConfig(lr_g=0.5, k=3)
    config = TrainConfig(optimization=group, lr_g=0.1)
    assert config.optimization.k == 3 and config.optimization.lr_g == 0.1
    assert config.replace(k=2).optimization == dataclasses.replace(group, lr_g=0.1, k=2)
    with pytest.raises(GankitError, match="unknown config field"):
        TrainConfig(learning_rate=0.1)
    with pytest.raises(GankitError, match="config group optimization must be a OptimizationConfig"):
        TrainConfig(optimization={"k": 2})


def test_config_json_round_trips_nested_and_migrates_the_flat_layout():
    config = TrainConfig(dataset="ring8", model="toy-mlp", steps=7, r1=2.0).validated()
    nested = json.loads(json.dumps(config.to_dict()))
    assert set(nested) == {"data", "architecture", "objective", "optimization", "run", "evaluation",
                           "watch", "distributed", "self_conditioning"}  # fmt: skip
    assert TrainConfig.from_dict(nested) == config
    assert TrainConfig.from_dict(config.flat()) == config  # gankit 0.1.0 wrote it flat
    assert flat_view({**nested, "world_size": 1})["r1"] == 2.0
    with pytest.raises(GankitError, match="unknown config field.*in objective: gamma"):
        TrainConfig.from_dict({**nested, "objective": {**nested["objective"], "gamma": 1}})


def test_every_option_has_help_and_resumability_beside_its_field():
    resumable = set()
    for _, field, _ in TrainConfig.options():
        assert option_help(field), field.name
        if is_resumable(field):
            resumable.add(field.name)
    assert {"steps", "device", "eval_every", "lr_decay_start", "recluster_until"} <= resumable
    assert not {"lr_g", "model", "seed", "batch_size"} & resumable
    saved = TrainConfig(steps=10)
    assert config_differences(saved, saved.replace(steps=20, device="cpu")) == []
    assert config_differences(saved, saved.replace(lr_g=0.1, seed=3)) == ["lr_g", "seed"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"channels": 2}, "--channels must be 1 or 3"),  # data
        ({"noise_dim": 0}, "--noise-dim must be an integer >= 1"),  # architecture
        ({"r1": -1.0}, "--r1 must be a finite number >= 0"),  # objective
        ({"steps": 3, "epochs": 1.0}, "give --steps or --epochs"),  # optimization
        ({"compile_mode": "reduce-overhead"}, "needs --compile"),  # run
        ({"eval_n": 0}, "--eval-n must be an integer >= 1"),  # evaluation
        ({"max_recoveries": -1}, "--max-recoveries must be an integer >= 0"),  # watch
        ({"dist_timeout": 0.0}, "--dist-timeout must be a finite number > 0"),  # distributed
        ({"recluster_until": 0.5}, "--recluster-until needs --self-condition"),  # self-conditioning
        ({"pack": 3, "batch_size": 16}, "--pack 3 must divide --batch-size 16"),  # across groups
    ],
)
def test_each_group_validates_itself_and_the_config_checks_across_groups(options, message):
    with pytest.raises(GankitError, match=message):
        TrainConfig(**options).validated()


def test_validated_fills_the_optimizers_default_learning_rates():
    assert TrainConfig(optimizer="sgd").validated().optimization.lr_g == 1e-3
    assert TrainConfig().validated().optimization.lr_d == 2e-4
