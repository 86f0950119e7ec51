"""Generators and discriminators by name. Discriminators return logits of shape (N,)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from gankit.errors import GankitError
from gankit.models import dcgan, keras_mnist, mlp, resnet, toy
from gankit.models.parts import ComposedDiscriminator, ConditionalGenerator, label_width
from gankit.registry import lookup, note_origin
from gankit.regularizers import apply_spectral_norm

Build = Callable[..., tuple[nn.Module, nn.Module]]


@dataclass(frozen=True)
class ModelEntry:
    """How to build a model pair, and what data it accepts.

    `output` is the value range of G's output (`tanh`, `sigmoid` or `linear`);
    `sizes` the image sizes it supports (None: any); `kind` is `image` or `vector`;
    `widths`: `build` also takes `g_width` and `d_width`, the base channel counts of G and D.
    """

    build: Callable[..., tuple[nn.Module, nn.Module]]
    output: str
    kind: str
    sizes: tuple[int, ...] | None = None
    summary: str = ""
    widths: bool = False


MODELS: dict[str, ModelEntry] = {
    "mlp": ModelEntry(mlp.build, "sigmoid", "image", None, "2014 paper: ReLU MLP G, maxout D"),
    "mlp-2014": ModelEntry(
        mlp.build_2014, "sigmoid", "image", None, "mlp initialised as the 2014 paper's released code"
    ),
    "dcgan": ModelEntry(dcgan.build, "tanh", "image", dcgan.SIZES, "DCGAN guidelines", widths=True),
    "keras-mnist": ModelEntry(keras_mnist.build, "tanh", "image", (28,), "the Keras MNIST GAN"),
    "keras-mnist-relu": ModelEntry(
        keras_mnist.build_relu, "tanh", "image", (28,), "the Keras MNIST GAN with ReLU in G (its failure)"
    ),
    "toy-mlp": ModelEntry(toy.build, "linear", "vector", None, "MLPs for 1-D/2-D densities"),
    "toy-mlp-deep": ModelEntry(toy.build_deep, "linear", "vector", None, "toy-mlp with a 3x256 G"),
    "toy-pacgan": ModelEntry(toy.build_pacgan, "linear", "vector", None, "PacGAN's 2-D networks"),
    "resnet": ModelEntry(resnet.build, "tanh", "image", resnet.SIZES, "SNGAN-style ResNet pair", widths=True),
}


@dataclass(frozen=True)
class ModelOptions:
    """Changes to a registered model pair that apply to every model.

    `n_classes` > 0: a conditional G (one-hot label input) and a projection D;
    `pack`: D judges `pack` samples at once (PacGAN); `minibatch_std`: a minibatch
    standard-deviation feature before D's last layer; `spectral_norm`: spectral
    normalization on every weight of D; `g_width`, `d_width`: the base channel counts of G
    and D (None: the model's own, 64 for dcgan and resnet), for models that take them;
    `minibatch_disc`: that many minibatch-discrimination features before D's last layer
    (0: none); `label_factors`: the class counts (K_1, ..., K_F) whose product the
    `n_classes` classes are, so G and D see a label factor by factor (`factor_labels`);
    empty: plain classes.
    """

    n_classes: int = 0
    pack: int = 1
    minibatch_std: bool = False
    spectral_norm: bool = False
    g_width: int | None = None
    d_width: int | None = None
    minibatch_disc: int = 0
    label_factors: tuple[int, ...] = ()

    def widths(self, name: str) -> dict[str, int]:
        """The width arguments to give model `name`'s build; an error where it takes none."""
        given = {k: v for k, v in (("g_width", self.g_width), ("d_width", self.d_width)) if v is not None}
        if given and not get_model(name).widths:
            takes = ", ".join(n for n, entry in MODELS.items() if entry.widths)
            flags = " and ".join("--" + k.replace("_", "-") for k in given)
            raise GankitError(f"model {name} has fixed widths; {flags} needs one of: {takes}")
        return given

    @property
    def composed(self) -> bool:
        return bool(self.n_classes) or self.pack > 1 or self.minibatch_std or self.minibatch_disc > 0


def register_model(
    name: str,
    build: Build | None = None,
    *,
    output: str = "tanh",
    kind: str = "image",
    sizes: tuple[int, ...] | None = None,
    summary: str = "",
    widths: bool = False,
) -> Any:
    """Register `build(shape, noise_dim) -> (G, D)` as model `name` (D returns logits (N,)).

    Use it as a call or as a decorator (`@register_model("mine", output="tanh")`); `output` is
    G's output range (tanh, sigmoid, linear), `kind` image or vector, `sizes` the image sizes it
    takes (None: any), `widths` whether `build` also takes `g_width` and `d_width`.
    """
    if output not in ("tanh", "sigmoid", "linear") or kind not in ("image", "vector"):
        raise GankitError(f"model {name}: output must be tanh, sigmoid or linear and kind image or vector")

    def register(function: Build) -> Build:
        MODELS[name] = ModelEntry(function, output, kind, sizes, summary, widths)
        note_origin("model", name, function)
        return function

    return register if build is None else register(build)


def get_model(name: str) -> ModelEntry:
    """The model registered as `name`, or the `ModelEntry` that `package.module:name` names."""
    return lookup(MODELS, name, "model", ModelEntry)


def check_compatible(name: str, kind: str, shape: tuple[int, ...], dataset: str) -> None:
    """Raise a GankitError when model `name` cannot take data of this kind and shape."""
    entry = get_model(name)
    if entry.kind != kind:
        hint = "toy-mlp, toy-mlp-deep or toy-pacgan" if kind == "vector" else "dcgan, mlp or keras-mnist"
        raise GankitError(
            f"model {name} needs {entry.kind} data but dataset {dataset} is {kind} data "
            f"of shape {tuple(shape)}; use --model {hint}"
        )
    if entry.sizes is not None:
        height, width = shape[-2], shape[-1]
        if height != width or height not in entry.sizes:
            sizes = ", ".join(map(str, entry.sizes))
            raise GankitError(
                f"model {name} supports image sizes {sizes}; dataset {dataset} has "
                f"{height}x{width}; resize it with --image-size N for one of those sizes"
            )


def build_models(
    name: str, shape: tuple[int, ...], noise_dim: int, options: ModelOptions | None = None
) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) of model `name` for data of `shape` ((C, H, W) or (D,))."""
    options, shape = options or ModelOptions(), tuple(shape)
    widths = options.widths(name)
    build = functools.partial(get_model(name).build, **widths)
    label_inputs = label_width(options.n_classes, options.label_factors)
    generator, discriminator = build(shape, noise_dim + label_inputs)
    if options.n_classes:
        generator = ConditionalGenerator(generator, options.n_classes, options.label_factors)
    if options.composed:
        packed = (shape[0] * options.pack, *shape[1:])
        base = build(packed, noise_dim)[1] if options.pack > 1 else discriminator
        discriminator = ComposedDiscriminator(
            base,
            shape,
            options.pack,
            options.minibatch_std,
            options.n_classes,
            options.minibatch_disc,
            options.label_factors,
        )
    if options.spectral_norm:
        apply_spectral_norm(discriminator)
    return generator, discriminator


def build_generator(
    name: str,
    shape: tuple[int, ...],
    noise_dim: int,
    n_classes: int = 0,
    width: int | None = None,
    label_factors: tuple[int, ...] = (),
) -> nn.Module:
    """The generator of model `name` (`width`: its base channel count, None for the model's own;
    `label_factors`: as in `ModelOptions`)."""
    options = ModelOptions(n_classes=n_classes, g_width=width, label_factors=tuple(label_factors))
    return build_models(name, shape, noise_dim, options)[0]
