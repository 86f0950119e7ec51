import pytest
import torch
from torch import nn

from gankit.regularizers import apply_spectral_norm, gradient_penalty, r1_penalty


def test_r1_of_a_linear_discriminator_is_its_squared_weight_norm():
    d = nn.Linear(3, 1)
    with torch.no_grad():
        d.weight.copy_(torch.tensor([[1.0, 2.0, -2.0]]))
    real = torch.randn(5, 3, requires_grad=True)
    penalty = r1_penalty(d(real).squeeze(1), real)
    assert penalty.item() == pytest.approx(9.0)  # grad_x D = w everywhere, |w|^2 = 9
    penalty.backward()  # trainable: d penalty / d w = 2 w
    torch.testing.assert_close(d.weight.grad, 2 * d.weight.detach())


def test_gradient_penalty_of_a_linear_critic_and_its_interpolates():
    d = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        d.weight.copy_(torch.tensor([[3.0, 4.0]]))  # |grad| = 5 everywhere
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    gp = gradient_penalty(lambda x: d(x).squeeze(1), real, fake, torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx(16.0)  # (5 - 1)^2
    seen = []
    gradient_penalty(
        lambda x: seen.append(x.detach()) or x.sum(1), real, fake, torch.Generator().manual_seed(0)
    )
    weight = (seen[0] - fake) / (real - fake)  # one interpolation weight per example, in [0, 1]
    torch.testing.assert_close(weight[:, 0], weight[:, 1])
    assert 0 <= weight.min() and weight.max() <= 1 and weight[:, 0].std() > 0


def test_spectral_norm_makes_every_layer_one_lipschitz():
    torch.manual_seed(0)
    d = apply_spectral_norm(nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 1)))
    for _ in range(30):  # power iteration runs once per training forward
        d(torch.randn(4, 6))
    for layer in (d[0], d[2]):
        assert torch.linalg.matrix_norm(layer.weight, ord=2).item() == pytest.approx(1.0, abs=1e-3)
