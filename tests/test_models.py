"""Checks shared by every model at every supported size: shape, save/load round trip, determinism."""

import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from gankit.errors import GankitError
from gankit.models import MODELS, ModelOptions, build_models, check_compatible
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
    ("dcgan", (3, 128, 128)),
    ("dcgan", (1, 256, 256)),
    ("keras-mnist", (1, 28, 28)),
    ("resnet", (3, 32, 32)),
    ("resnet", (1, 64, 64)),
    ("resnet", (3, 128, 128)),
    ("resnet", (1, 256, 256)),
    ("toy-mlp", (1,)),
    ("toy-mlp", (2,)),
    ("toy-mlp-deep", (2,)),
    ("toy-pacgan", (2,)),
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


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_dcgan_one_builder_halves_channels_per_stage_capped_at_8x(size):
    g, d = build_models("dcgan", (3, size, size), 100)
    g_convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    d_convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    stages = {32: 3, 64: 4, 128: 5, 256: 6}[size]
    assert len(g_convs) == len(d_convs) == stages + 1  # the 4x4 projection plus one layer per x2
    expected = [64 * min(8, 2 ** (stages - 1 - i)) for i in range(stages)]
    assert [m.out_channels for m in g_convs] == [*expected, 3]
    assert [m.out_channels for m in d_convs] == [*expected[::-1], 1]
    x = torch.zeros(2, 3, size, size)
    assert d(x).shape == (2,)


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
    w, b = layer.linear.weight.detach(), layer.linear.bias.detach()  # (8, 3), (8,)
    # unit u takes the largest of its 4 affine maps, rows 4u .. 4u + 3, sample by sample
    expected = torch.tensor(
        [
            [max(float(x[n] @ w[4 * u + p] + b[4 * u + p]) for p in range(4)) for u in range(2)]
            for n in range(5)
        ]
    )
    torch.testing.assert_close(layer(x).detach(), expected, rtol=1e-5, atol=1e-6)


def test_compatibility_errors():
    with pytest.raises(GankitError, match="sizes 28, 32, 64, 128, 256; dataset digits has 8x8"):
        check_compatible("dcgan", "image", (1, 8, 8), "digits")
    with pytest.raises(GankitError, match="use --model toy-mlp"):
        check_compatible("dcgan", "vector", (2,), "ring8")
    with pytest.raises(GankitError, match="unknown model"):
        check_compatible("resnet9000", "image", (1, 28, 28), "mnist")
    check_compatible("mlp", "image", (1, 8, 8), "digits")  # any size


def test_toy_pacgan_is_the_papers_2d_network():
    from gankit.models.mlp import Maxout

    g, d = build_models("toy-pacgan", (2,), 2)
    hidden = [m for m in g.net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in hidden] == [(2, 400)] + [(400, 400)] * 3 + [(400, 2)]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in g.net) == 4
    maxouts = [m for m in d.net if isinstance(m, Maxout)]
    assert [(m.units, m.pieces) for m in maxouts] == [(200, 5)] * 3


def test_resnet_is_the_sngan_layout():
    from gankit.models.resnet import DownBlock, SumPool, UpBlock

    for size, ups, downs in ((32, 3, 2), (64, 4, 3)):
        g, d = build_models("resnet", (3, size, size), 16)
        assert sum(isinstance(m, UpBlock) for m in g.modules()) == ups  # 4 px doubled to `size`
        blocks = [m for m in d.modules() if isinstance(m, DownBlock)]
        assert [b.downsample for b in blocks] == [True] * downs + [False, False]  # down to 8 px, then 2 more
        assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
        assert isinstance(d.net[-2], SumPool) and d.net[-1].out_features == 1


@pytest.mark.parametrize(("name", "shape"), [("dcgan", (1, 28, 28)), ("mlp", (1, 8, 8)), ("toy-mlp", (2,))])
def test_model_options_apply_to_every_model(name, shape):

    torch.manual_seed(0)
    options = ModelOptions(pack=2, minibatch_std=True, spectral_norm=True)
    g, d = build_models(name, shape, 16, options)
    fake = g(torch.rand(8, 16))
    assert d(fake).shape == (4,)  # 8 samples judged in packs of 2
    assert any("parametrizations" in key for key in d.state_dict())  # spectral norm on D's weights
    cond_g, cond_d = build_models(name, shape, 16, ModelOptions(n_classes=10))
    labels = torch.arange(8) % 10
    fake = cond_g(torch.rand(8, 16), labels)
    assert fake.shape == (8, *shape) and cond_d(fake, labels).shape == (8,)


def test_conditional_generator_uses_the_label_and_cycles_without_one():
    torch.manual_seed(0)
    g, _ = build_models("toy-mlp", (2,), 4, ModelOptions(n_classes=3))
    noise = torch.rand(6, 4).repeat(1, 1)
    same_noise = noise[:1].expand(3, 4)
    outs = g(same_noise, torch.tensor([0, 1, 2]))
    assert not torch.allclose(outs[0], outs[1]) and not torch.allclose(outs[1], outs[2])
    torch.testing.assert_close(g(noise), g(noise, torch.tensor([0, 1, 2, 0, 1, 2])))


def test_projection_discriminator_adds_embed_dot_features():
    from gankit.models import ModelOptions

    torch.manual_seed(0)
    _, d = build_models("toy-mlp", (2,), 4, ModelOptions(n_classes=5))
    x, labels = torch.randn(6, 2), torch.tensor([0, 1, 2, 3, 4, 0])
    features = d.body(x)  # (6, 128)
    expected = d(x) + (d.embed.weight[labels] * features).sum(dim=1)
    torch.testing.assert_close(d(x, labels), expected)


def test_minibatch_std_matches_hand_computation():
    from gankit.models.parts import minibatch_std

    features = torch.tensor([[0.0, 2.0], [2.0, 2.0], [4.0, 8.0], [6.0, 8.0]])
    out = minibatch_std(features, group_size=2)  # groups {0, 2} and {1, 3}
    # std over group {0, 2}: features (0, 4) -> 2 and (2, 8) -> 3, mean 2.5; group {1, 3}: 2 and 3 -> 2.5
    torch.testing.assert_close(out[:, 2], torch.full((4,), 2.5), atol=1e-4, rtol=0)
    images = torch.randn(8, 3, 4, 4)
    assert minibatch_std(images).shape == (8, 4, 4, 4)
    collapsed = images[:1].expand(8, 3, 4, 4)
    assert minibatch_std(collapsed)[:, 3].abs().max() < 1e-3  # identical samples: std 0


def test_minibatch_discrimination_matches_hand_computation():
    from gankit.models.parts import MinibatchDiscrimination

    layer = MinibatchDiscrimination(2, kernels=1, kernel_dim=2)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(2))  # M = f
    features = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]])  # L1 distances 1 (a-b), 3 (a-c), 4 (b-c)
    e = torch.exp(-torch.tensor([1.0, 3.0, 4.0]))
    expected = torch.stack([e[0] + e[1], e[0] + e[2], e[1] + e[2]]).view(3, 1)
    torch.testing.assert_close(layer(features), expected)
    torch.manual_seed(0)
    wide = MinibatchDiscrimination(6, kernels=3)
    diverse = torch.randn(8, 6)
    repeated = torch.cat([diverse[:1].expand(6, 6), diverse[6:]])  # one sample made 6 times
    assert layer(features[:1]).item() == 0.0  # alone in its batch: no neighbours
    assert (wide(repeated)[:6] > wide(diverse)[:6] + 4.0).all()  # 5 exact copies each add exp(0) = 1


def test_minibatch_discrimination_sees_the_batch_and_joins_the_projection():
    torch.manual_seed(0)
    _, plain = build_models("dcgan", (1, 28, 28), 16)
    _, d = build_models("dcgan", (1, 28, 28), 16, ModelOptions(n_classes=3, minibatch_disc=4))
    assert d.head.in_channels == plain.net[-1].in_channels + 4
    batch, labels = torch.rand(6, 1, 28, 28) * 2 - 1, torch.arange(6) % 3
    assert d(batch, labels).shape == (6,)
    d.eval()  # BatchNorm on running statistics: only the minibatch features depend on the batch
    other = torch.cat([batch[:1], torch.rand(5, 1, 28, 28) * 2 - 1])
    assert not torch.allclose(d(batch)[0], d(other)[0])
    plain.eval()
    torch.testing.assert_close(plain(batch)[0], plain(other)[0])
    d(batch, labels).sum().backward()
    assert d.minibatch_disc.weight.grad is not None and d.minibatch_disc.weight.grad.abs().sum() > 0


def test_pack_groups_consecutive_samples():
    from gankit.models.parts import pack_samples

    x = torch.arange(4 * 2 * 3 * 3, dtype=torch.float32).view(4, 2, 3, 3)
    packed = pack_samples(x, 2)
    assert packed.shape == (2, 4, 3, 3)
    torch.testing.assert_close(packed[1, 2:], x[3])
    with pytest.raises(ValueError, match="--pack 3"):
        pack_samples(x, 3)


@pytest.mark.parametrize(
    "name,shape", [("dcgan", (3, 28, 28)), ("dcgan", (1, 32, 32)), ("resnet", (3, 32, 32))]
)
def test_widths_set_g_and_d_channels_independently(name, shape):
    g, d = build_models(name, shape, 16, ModelOptions(g_width=24, d_width=8))
    default_g, default_d = build_models(name, shape, 16)
    g_widths = {m.out_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d | nn.Conv2d)}
    d_widths = {m.out_channels for m in d.modules() if isinstance(m, nn.Conv2d)}
    assert 24 in g_widths and 64 not in g_widths  # dcgan 28 px: 48, 24, C; resnet: 24 in every block
    assert 8 in d_widths and 64 not in d_widths
    assert sum(p.numel() for p in g.parameters()) < sum(p.numel() for p in default_g.parameters())
    x = g(torch.rand(5, 16))
    assert x.shape == (5, *shape) and d(x).shape == (5,)
    # the same widths reach a conditional G and a packed D
    cond_g, packed_d = build_models(name, shape, 16, ModelOptions(n_classes=3, pack=2, g_width=24, d_width=8))
    assert sum(p.numel() for p in packed_d.parameters()) < sum(p.numel() for p in default_d.parameters())
    assert cond_g(torch.rand(4, 16), torch.tensor([0, 1, 2, 0])).shape == (4, *shape)


def test_models_without_widths_refuse_them_by_flag():
    with pytest.raises(
        GankitError, match="model mlp has fixed widths; --g-width needs one of: dcgan, resnet"
    ):
        build_models("mlp", (1, 28, 28), 16, ModelOptions(g_width=32))
    with pytest.raises(GankitError, match="--g-width and --d-width"):
        build_models("keras-mnist", (1, 28, 28), 16, ModelOptions(g_width=32, d_width=32))


def test_generate_and_interpolate_sample_in_eval_mode_and_put_the_mode_back():
    from gankit.sampling.generator import GeneratorInfo, generate, interpolate

    torch.manual_seed(0)
    g, _ = build_models("dcgan", (1, 28, 28), 16, ModelOptions(g_width=8))
    info = GeneratorInfo("dcgan", (1, 28, 28), "uniform", 16, "tanh", "image", "digits", 0, g_width=8)
    buffers = {k: v.clone() for k, v in g.state_dict().items()}
    g.train()
    x = generate(g, info, 6, seed=1)
    strips = interpolate(g, info, rows=1, frames=3)
    assert g.training  # the caller's mode is kept
    for key, value in g.state_dict().items():  # no BatchNorm statistic moved
        torch.testing.assert_close(value, buffers[key], rtol=0, atol=0)
    g.eval()
    torch.testing.assert_close(generate(g, info, 6, seed=1), x)
    torch.testing.assert_close(interpolate(g, info, rows=1, frames=3), strips)


def test_factored_labels_are_one_hot_and_projection_factor_by_factor():
    from gankit.models.parts import factor_labels

    factors = (2, 3, 4)
    labels = torch.arange(24)
    parts = factor_labels(labels, factors)
    assert parts.tolist()[:5] == [[0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 0, 3], [0, 1, 0]]
    assert parts.tolist()[-1] == [1, 2, 3]
    assert torch.equal((parts[:, 0] * 3 + parts[:, 1]) * 4 + parts[:, 2], labels)  # ravel_multi_index order
    options = ModelOptions(n_classes=24, label_factors=factors)
    g, d = build_models("mlp", (1, 8, 8), 5, options)
    inputs = [m for m in g.modules() if isinstance(m, nn.Linear)][0].in_features
    assert inputs == 5 + 2 + 3 + 4  # one one-hot per factor, not 24 classes
    seen = []
    g.base.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    g.eval()(torch.zeros(24, 5), labels)
    onehot = seen[0][:, 5:]
    assert torch.equal(onehot.sum(1), torch.full((24,), 3.0))
    assert torch.equal(onehot[23], torch.tensor([0, 1, 0, 0, 1, 0, 0, 0, 1.0]))
    assert d.embed.num_embeddings == 9
    x = torch.randn(24, 1, 8, 8)
    d.eval()
    features = d._features(x).flatten(1)
    rows = d.embed.weight
    expected = rows[parts[:, 0]] + rows[2 + parts[:, 1]] + rows[5 + parts[:, 2]]
    torch.testing.assert_close(d(x, labels) - d(x), (expected * features).sum(1))
    with pytest.raises(ValueError, match=r"label factors \(2, 3\) make 6 classes, not 24"):
        build_models("mlp", (1, 8, 8), 5, ModelOptions(n_classes=24, label_factors=(2, 3)))


def test_mlp_2014_is_the_mlp_with_the_released_codes_initialisation():
    g, d = build_models("mlp-2014", (1, 28, 28), 100)
    g_ref, d_ref = build_models("mlp", (1, 28, 28), 100)
    assert [p.shape for p in g.parameters()] == [p.shape for p in g_ref.parameters()]
    assert [p.shape for p in d.parameters()] == [p.shape for p in d_ref.parameters()]
    for net, irange in ((g, 0.05), (d, 0.005)):
        weights = [m.weight for m in net.modules() if isinstance(m, nn.Linear)]
        assert all(w.abs().max() <= irange and w.abs().max() > 0.9 * irange for w in weights)
        assert all(torch.all(m.bias == 0) for m in net.modules() if isinstance(m, nn.Linear))
