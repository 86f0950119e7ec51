import pytest
import torch
from torch import nn

from gankit.ema import GeneratorEMA, ema_decay, ramped_half_life


def test_decay_halves_an_old_weight_after_the_half_life():
    beta = ema_decay(10_000, 64)
    assert beta ** (10_000 / 64) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="half-life must be > 0"):
        ema_decay(0, 64)


def test_update_moves_toward_the_generator_and_copies_buffers():
    g = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = GeneratorEMA(g, beta=0.75)
    before = [p.detach().clone() for p in ema.module.parameters()]
    with torch.no_grad():
        for p in g.parameters():
            p.add_(1.0)
    g(torch.randn(8, 2))  # changes the running statistics
    ema.update(g)
    for old, new, target in zip(before, ema.module.parameters(), g.parameters(), strict=True):
        torch.testing.assert_close(new, 0.75 * old + 0.25 * target.detach())
    torch.testing.assert_close(ema.module[1].running_mean, g[1].running_mean)
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_ramped_half_life_grows_with_the_images_seen_up_to_the_set_one():
    assert ramped_half_life(10_000, 640, None) == 10_000
    assert ramped_half_life(10_000, 640, 0.5) == 320
    assert ramped_half_life(10_000, 100_000, 0.5) == 10_000
    with pytest.raises(ValueError, match="ramp-up must be > 0"):
        ramped_half_life(10_000, 640, 0.0)


def test_update_with_an_explicit_decay():
    g = nn.Linear(2, 2)
    ema = GeneratorEMA(g, beta=0.99)
    with torch.no_grad():
        for p in g.parameters():
            p.add_(1.0)
    ema.update(g, beta=0.0)  # a decay of 0 copies G
    assert all(torch.equal(a, b) for a, b in zip(ema.module.parameters(), g.parameters(), strict=True))


def test_trainer_ramps_the_ema_half_life(tmp_path):
    from gankit.training.trainer import Trainer
    from tests.test_recipes import _config

    trainer = Trainer(_config(tmp_path, ema_half_life=1000.0, ema_rampup=0.5), progress=False)
    per_step = trainer.config.optimization.batch_size  # 16 images
    assert trainer.gan_step.ema_beta(0) == pytest.approx(ema_decay(0.5 * per_step, per_step))
    assert trainer.gan_step.ema_beta(999) == pytest.approx(ema_decay(1000.0, per_step))


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"ema_rampup": 0.5}, "--ema-rampup needs --ema-half-life"),
        ({"ema_half_life": 1.0, "ema_rampup": -1.0}, "> 0"),
    ],
)
def test_rampup_config_errors(tmp_path, changes, message):
    from gankit.errors import GankitError
    from gankit.training.trainer import Trainer
    from tests.test_recipes import _config

    with pytest.raises(GankitError, match=message):
        Trainer(_config(tmp_path, **changes), progress=False)
