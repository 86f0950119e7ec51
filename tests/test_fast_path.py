"""Each fast-path switch leaves training's results unchanged (within float tolerance)."""

from __future__ import annotations

import pytest
import torch

from gankit.config import TrainConfig
from gankit.training.trainer import Trainer


def trained(tiny_images, tmp_path, model: str, **switches: object) -> Trainer:
    config = TrainConfig(model=model, dataset="blobs", batch_size=16, noise_dim=8, device="cpu",
                         out=str(tmp_path), **switches)  # fmt: skip
    trainer = Trainer(config, dataset=tiny_images, progress=False)
    for _ in range(3):
        trainer.train_step()
    return trainer


@pytest.mark.parametrize("switch", ["channels_last", "fused_optimizer"])
def test_switch_leaves_the_weights_unchanged(tiny_images, tmp_path, switch):
    on = trained(tiny_images, tmp_path / "on", "dcgan", **{switch: True})
    off = trained(tiny_images, tmp_path / "off", "dcgan", **{switch: False})
    for net in ("generator", "discriminator"):
        a, b = getattr(on, net).state_dict(), getattr(off, net).state_dict()
        for name in a:
            # Adam's normalised step can turn the rounding noise of a near-zero gradient into an
            # lr-sized move (seen at one thread with channels_last: 1 weight of 131,072), so a few
            # elements may differ by up to the 3 steps' lr; a real change moves many of them.
            x, y = a[name].double(), b[name].double()
            far = (x - y).abs() > 1e-5 + 1e-4 * y.abs()
            assert int(far.sum()) <= max(1, x.numel() // 10_000), f"{switch}: {net}.{name}"
            assert float((x - y).abs().max()) <= 3 * on.config.optimization.lr_g, f"{switch}: {net}.{name}"


@pytest.mark.parametrize("model", ["dcgan", "keras-mnist"])
@pytest.mark.parametrize("switch", ["channels_last", "fused_optimizer"])
def test_switch_leaves_what_the_models_compute_unchanged(tiny_images, tmp_path, model, switch):
    """Compared on outputs: in keras-mnist a bias feeds BatchNorm, which cancels its gradient,
    and Adam's normalised step turns that gradient's rounding noise into lr-sized moves (up to
    4.5e-3 in a pixel at one thread, 1.1e-2 on another CPU). A wrong layout or optimizer
    changes outputs by O(1)."""
    on = trained(tiny_images, tmp_path / "on", model, **{switch: True})
    off = trained(tiny_images, tmp_path / "off", model, **{switch: False})
    torch.testing.assert_close(on.fixed_samples(), off.fixed_samples(), rtol=0, atol=2e-2)
    real = tiny_images.tensor("train", on.output)[:16]
    with torch.no_grad():
        on.discriminator.eval(), off.discriminator.eval()
        torch.testing.assert_close(on.discriminator(real), off.discriminator(real), rtol=1e-3, atol=1e-2)


def test_switches_take_effect(tiny_images, tmp_path):
    fast = trained(tiny_images, tmp_path, "dcgan")
    weight = next(p for p in fast.discriminator.parameters() if p.dim() == 4)
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert fast.batches.next().is_contiguous(memory_format=torch.channels_last)
    assert fast.opt_g.param_groups[0]["fused"] and fast.opt_d.param_groups[0]["fused"]


def test_concatenated_d_batch_equals_two_passes_without_batchnorm_and_differs_with_it(tmp_path):
    from gankit.training.modules import PairForward

    torch.manual_seed(0)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    mlp = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    two = PairForward(mlp)(real, fake)
    one = PairForward(mlp, concat=True)(real, fake)
    for a, b in zip(two, one, strict=True):
        torch.testing.assert_close(a, b)
    batchnorm = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1))
    two = PairForward(batchnorm)(real, fake + 3)
    one = PairForward(batchnorm, concat=True)(real, fake + 3)
    assert not torch.allclose(two[0], one[0])  # BatchNorm statistics now mix real and fake


def test_compile_leaves_a_training_step_unchanged(tmp_path):
    # toy-mlp has no dropout: compiled dropout would draw other random numbers than eager dropout.
    params = {}
    for compiled in (False, True):
        out = str(tmp_path / str(compiled))
        config = TrainConfig(dataset="ring8", model="toy-mlp", batch_size=16, noise_dim=4, device="cpu",
                             compile=compiled, out=out, tensorboard=False)  # fmt: skip
        trainer = Trainer(config, progress=False)
        for _ in range(3):
            trainer.train_step()
        params[compiled] = [p.detach().clone() for p in trainer.generator.parameters()]
        assert all(not k.startswith("_orig_mod") for k in trainer.generator.state_dict())
    for eager, compiled in zip(params[False], params[True], strict=True):
        torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)


def test_reuse_fakes_is_the_pytorch_examples_step(tiny_images, tmp_path):
    """`--reuse-fakes`: D steps on G(z), then G steps through the updated D on the same G(z),
    as pytorch/examples' DCGAN loop does; written out here by hand with BCE on the logits."""
    import copy

    import torch.nn.functional as F

    config = TrainConfig(model="dcgan", dataset="blobs", batch_size=16, noise_dim=8, device="cpu",
                         out=str(tmp_path), reuse_fakes=True, channels_last=False,
                         fused_optimizer=False)  # fmt: skip
    trainer = Trainer(config, dataset=tiny_images, progress=False)
    g, d = copy.deepcopy(trainer.generator), copy.deepcopy(trainer.discriminator)
    opt_g = torch.optim.Adam(
        g.parameters(),
        lr=trainer.config.optimization.lr_g,
        betas=(config.optimization.beta1, config.optimization.beta2),
    )
    opt_d = torch.optim.Adam(
        d.parameters(),
        lr=trainer.config.optimization.lr_d,
        betas=(config.optimization.beta1, config.optimization.beta2),
    )
    real = tiny_images.tensor("train", trainer.output)[:16]
    z = torch.rand(16, 8) * 2 - 1
    trainer.batches.next_labeled = lambda: (real, None)
    draws = []
    trainer.inputs.noise = lambda n: draws.append(n) or z
    trainer.train_step()
    assert draws == [16]  # one noise batch per iteration: G's step drew none

    fake = g(z)
    ones, zeros = torch.ones(16), torch.zeros(16)
    loss_d = F.binary_cross_entropy_with_logits(d(real), ones)
    loss_d = loss_d + F.binary_cross_entropy_with_logits(d(fake.detach()), zeros)
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = F.binary_cross_entropy_with_logits(d(fake), ones)
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    for mine, theirs in ((trainer.generator, g), (trainer.discriminator, d)):
        for (name, a), b in zip(mine.state_dict().items(), theirs.state_dict().values(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_without_reuse_fakes_g_steps_on_fresh_noise(tiny_images, tmp_path):
    trainer = trained(tiny_images, tmp_path, "dcgan", k=2)
    draws = []
    noise = trainer.inputs.noise
    trainer.inputs.noise = lambda n: draws.append(n) or noise(n)
    trainer.train_step()
    assert draws == [16, 16, 16]  # k = 2 D steps, then Algorithm 1's fresh batch for G
