"""gankit.models.layers: the matrix-product convolutions compute what torch's convolutions do."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit.models.layers import FullConv2d, FullConvTranspose2d

CASES = [  # (gankit's layer, torch's, constructor arguments, input shape)
    (FullConvTranspose2d, nn.ConvTranspose2d, (10, 6, 7), (5, 10, 1, 1)),
    (FullConvTranspose2d, nn.ConvTranspose2d, (10, 6, 4), (5, 10, 1, 1)),
    (FullConv2d, nn.Conv2d, (6, 1, 7), (5, 6, 7, 7)),
    (FullConv2d, nn.Conv2d, (6, 3, 4), (5, 6, 4, 4)),
    # inputs that are not the matrix-product case fall back to the parent's forward
    (FullConvTranspose2d, nn.ConvTranspose2d, (10, 6, 4), (5, 10, 3, 3)),
    (FullConv2d, nn.Conv2d, (6, 1, 3), (5, 6, 7, 7)),
]


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(("mine", "theirs", "args", "shape"), CASES)
def test_same_output_and_gradients_as_torch(mine, theirs, args, shape, channels_last, bias):
    torch.manual_seed(0)
    a, b = mine(*args, bias=bias), theirs(*args, bias=bias)
    b.load_state_dict(a.state_dict())  # same parameters, same keys
    x = torch.randn(shape)
    if channels_last:
        a, b = a.to(memory_format=torch.channels_last), b.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ya, yb = a(xa), b(xb)
    torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(yb)
    ya.backward(g), yb.backward(g)
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-5, atol=1e-5)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-5, atol=1e-5, msg=name)
    if channels_last and shape[-1] > 1 and mine is FullConvTranspose2d:
        assert ya.is_contiguous(memory_format=torch.channels_last)  # the layout the next layer wants


def test_dcgan_uses_them_and_keeps_its_state_dict_keys():
    from gankit.models import build_models

    g, d = build_models("dcgan", (1, 28, 28), 100)
    assert isinstance(g.net[0], FullConvTranspose2d) and isinstance(d.net[-1], FullConv2d)
    assert "net.0.weight" in g.state_dict() and f"net.{len(d.net) - 1}.weight" in d.state_dict()
