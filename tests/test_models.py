"""Checks shared by every model at every supported size: shape, save/load round trip, determinism."""

import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from gankit.errors import GankitError
from gankit.models import MODELS, build_models, check_compatible
from gankit.models.keras_mnist import KerasDiscriminator, KerasGenerator
from gankit.models.mlp import Maxout

CASES = [
    ("mlp", (1, 28, 28)),
    ("mlp", (1, 8, 8)),
    ("dcgan", (1, 28, 28)),
    ("dcgan", (3, 28, 28)),
    ("dcgan", (1, 32, 32)),
    ("dcgan", (3, 32, 32)),
    ("dcgan", (1, 64, 64)),
    ("dcgan", (3, 64, 64)),
    ("keras-mnist", (1, 28, 28)),
    ("toy-mlp", (1,)),
    ("toy-mlp", (2,)),
]


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_shapes_ranges_and_logits(name, shape):
    torch.manual_seed(0)
    g, d = build_models(name, shape, 16)
    fake = g(torch.rand(4, 16) * 2 - 1)
    assert fake.shape == (4, *shape)
    out = MODELS[name].output
    if out == "tanh":
        assert fake.min() >= -1 and fake.max() <= 1
    elif out == "sigmoid":
        assert fake.min() >= 0 and fake.max() <= 1
    logits = d(fake)
    assert logits.shape == (4,)


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_save_load_round_trip_and_determinism(name, shape):
    torch.manual_seed(1)
    g, d = build_models(name, shape, 16)
    torch.manual_seed(1)
    g2, d2 = build_models(name, shape, 16)
    for a, b in ((g, g2), (d, d2)):  # same seed, same weights
        for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
            assert ka == kb and torch.equal(va, vb)
    torch.manual_seed(2)
    g3, _ = build_models(name, shape, 16)
    g3.load_state_dict(st_load(st_save({k: v.contiguous() for k, v in g.state_dict().items()})))
    noise = torch.rand(3, 16)
    g.eval(), g3.eval()
    torch.testing.assert_close(g(noise), g3(noise), rtol=0, atol=0)


def test_dcgan_64_is_the_pytorch_example_architecture():
    g, d = build_models("dcgan", (3, 64, 64), 100)
    g_convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    d_convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert len(g_convs) == 5 and len(d_convs) == 5
    assert [m.out_channels for m in g_convs] == [512, 256, 128, 64, 3]
    assert [m.out_channels for m in d_convs] == [64, 128, 256, 512, 1]
    assert sum(p.numel() for p in g.parameters()) == 3_576_704
    assert sum(p.numel() for p in d.parameters()) == 2_765_568
    assert not any(isinstance(m, nn.Linear | nn.MaxPool2d) for m in list(g.modules()) + list(d.modules()))
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == 3  # not on D's input layer
    assert any(isinstance(m, nn.Tanh) for m in g.modules())
    assert all(m.negative_slope == 0.2 for m in d.modules() if isinstance(m, nn.LeakyReLU))


def test_keras_mnist_layer_for_layer():
    g, d = KerasGenerator((1, 28, 28)), KerasDiscriminator((1, 28, 28))
    g_kinds = [type(m).__name__ for m in list(g.dense) + list(g.conv)]
    assert g_kinds == [
        "Linear",
        "Tanh",
        "Linear",
        "BatchNorm1d",
        "Tanh",
        "Upsample",
        "Conv2d",
        "Tanh",
        "Upsample",
        "Conv2d",
        "Tanh",
    ]
    assert g.dense[2].out_features == 128 * 7 * 7 and g.dense[0].out_features == 1024
    d_kinds = [type(m).__name__ for m in d.net]
    assert d_kinds == [
        "Conv2d",
        "Tanh",
        "MaxPool2d",
        "Conv2d",
        "Tanh",
        "MaxPool2d",
        "Flatten",
        "Linear",
        "Tanh",
        "Linear",
    ]
    assert d.net[0].kernel_size == (5, 5) and d.net[0].out_channels == 64
    assert d.net[3].out_channels == 128 and d.net[7].out_features == 1024


def test_mlp_is_the_2014_model():
    g, d = build_models("mlp", (1, 28, 28), 100)
    linears = [m for m in g.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [1200, 1200, 784]
    maxouts = [m for m in d.modules() if isinstance(m, Maxout)]
    assert [(m.units, m.pieces) for m in maxouts] == [(240, 5), (240, 5)]
    assert any(isinstance(m, nn.Dropout) for m in d.modules())


def test_maxout_is_max_over_pieces():
    layer = Maxout(3, 2, 4)
    x = torch.randn(5, 3)
    pieces = layer.linear(x).view(5, 2, 4)
    torch.testing.assert_close(layer(x), pieces.max(dim=2).values)


def test_compatibility_errors():
    with pytest.raises(GankitError, match="supports image sizes 28, 32, 64; dataset digits has 8x8"):
        check_compatible("dcgan", "image", (1, 8, 8), "digits")
    with pytest.raises(GankitError, match="use --model toy-mlp"):
        check_compatible("dcgan", "vector", (2,), "ring8")
    with pytest.raises(GankitError, match="unknown model"):
        check_compatible("resnet9000", "image", (1, 28, 28), "mnist")
    check_compatible("mlp", "image", (1, 8, 8), "digits")  # any size
