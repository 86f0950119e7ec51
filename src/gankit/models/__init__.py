"""Generators and discriminators by name. Discriminators return logits of shape (N,)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from gankit.errors import GankitError
from gankit.models import dcgan, keras_mnist, mlp, toy


@dataclass(frozen=True)
class ModelEntry:
    """How to build a model pair, and what data it accepts.

    `output` is the value range of G's output (`tanh`, `sigmoid` or `linear`);
    `sizes` the image sizes it supports (None: any); `kind` is `image` or `vector`.
    """

    build: Callable[[tuple[int, ...], int], tuple[nn.Module, nn.Module]]
    output: str
    kind: str
    sizes: tuple[int, ...] | None = None
    summary: str = ""


MODELS: dict[str, ModelEntry] = {
    "mlp": ModelEntry(mlp.build, "sigmoid", "image", None, "2014 paper: ReLU MLP G, maxout D"),
    "dcgan": ModelEntry(dcgan.build, "tanh", "image", dcgan.SIZES, "DCGAN guidelines"),
    "keras-mnist": ModelEntry(keras_mnist.build, "tanh", "image", (28,), "the Keras MNIST GAN"),
    "toy-mlp": ModelEntry(toy.build, "linear", "vector", None, "MLPs for 1-D/2-D densities"),
}


def get_model(name: str) -> ModelEntry:
    try:
        return MODELS[name]
    except KeyError:
        raise GankitError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


def check_compatible(name: str, kind: str, shape: tuple[int, ...], dataset: str) -> None:
    """Raise a GankitError when model `name` cannot take data of this kind and shape."""
    entry = get_model(name)
    if entry.kind != kind:
        hint = "toy-mlp" if kind == "vector" else "dcgan, mlp or keras-mnist"
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
                f"{height}x{width} (use --image-size)"
            )


def build_models(name: str, shape: tuple[int, ...], noise_dim: int) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) of model `name` for data of `shape` ((C, H, W) or (D,))."""
    return get_model(name).build(tuple(shape), noise_dim)


def build_generator(name: str, shape: tuple[int, ...], noise_dim: int) -> nn.Module:
    return build_models(name, shape, noise_dim)[0]
