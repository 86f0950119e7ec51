"""`GANStep` driven by hand: one iteration of Algorithm 1 on inputs the caller gives it."""

from __future__ import annotations

import copy

import torch

from gankit import GANStep, Iteration, Trainer
from gankit.config import TrainConfig
from gankit.losses import get_loss
from gankit.models import build_models
from gankit.training.modules import StepModules


def _pair(seed: int = 0):
    torch.manual_seed(seed)
    return build_models("toy-mlp", (2,), 4)


def test_gan_step_makes_k_d_updates_and_one_g_update_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    g, d = _pair()
    opt_g, opt_d = torch.optim.SGD(g.parameters(), lr=0.1), torch.optim.SGD(d.parameters(), lr=0.1)
    step = GANStep(StepModules.plain(g, d), opt_g, opt_d, get_loss("non-saturating"))
    rng = torch.Generator().manual_seed(1)
    real = tuple(torch.randn(8, 2, generator=rng) for _ in range(3))
    noise = tuple(torch.randn(8, 4, generator=rng) for _ in range(3))
    inputs = Iteration(real, (None,) * 3, noise, g_noise=torch.randn(8, 4, generator=rng))
    d_updates, g_updates = [], []
    opt_d.register_step_post_hook(lambda *_: d_updates.append(1))
    opt_g.register_step_post_hook(lambda *_: g_updates.append(1))
    g_before = copy.deepcopy(g.state_dict())
    stats = step(inputs)
    assert len(d_updates) == 3 and len(g_updates) == 1
    assert {"loss/d", "loss/g", "grad/d", "grad/g", "d/real", "d/fake"} <= set(stats)
    assert all(isinstance(v, torch.Tensor) for v in stats.values())
    assert any(not torch.equal(g_before[k], v) for k, v in g.state_dict().items())
    assert list(tmp_path.iterdir()) == []  # no file I/O


def test_gan_step_by_hand_matches_the_trainers_iteration(tmp_path):
    config = TrainConfig(dataset="ring8", model="toy-mlp", batch_size=16, k=2, device="cpu",
                         out=str(tmp_path / "run"))  # fmt: skip
    trainer = Trainer(config, progress=False, callbacks=[])
    twin = Trainer(config, progress=False, callbacks=[])  # the same seed: the same models and data
    trainer.train_step()
    inputs = twin.inputs.draw(2, 16, twin.loss.g_needs_real, reuse_fakes=False)
    g, d = twin.generator, twin.discriminator
    by_hand = GANStep(StepModules.plain(g, d), twin.opt_g, twin.opt_d, twin.loss)
    by_hand(inputs, step=0)
    for mine, theirs in ((trainer.generator, g), (trainer.discriminator, d)):
        for (name, a), b in zip(mine.state_dict().items(), theirs.state_dict().values(), strict=True):
            assert torch.equal(a, b), name
