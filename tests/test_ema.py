import pytest
import torch
from torch import nn

from gankit.ema import GeneratorEMA, ema_decay


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
