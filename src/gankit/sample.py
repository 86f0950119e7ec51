"""Exported generators (`generator.safetensors` + `generator.json`) and writing samples to files."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from gankit import __version__
from gankit.data.base import to_uint8
from gankit.errors import GankitError
from gankit.io import atomic_write_bytes, atomic_write_json, read_json
from gankit.models import build_generator
from gankit.noise import sample_noise
from gankit.viz import make_grid, save_png


@dataclass(frozen=True)
class GeneratorInfo:
    """What it takes to rebuild and sample a generator without the training state."""

    model: str
    shape: tuple[int, ...]
    noise: str
    noise_dim: int
    output: str
    kind: str
    dataset: str
    step: int
    gankit_version: str = __version__

    @classmethod
    def from_dict(cls, data: dict) -> GeneratorInfo:
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{**{k: v for k, v in data.items() if k in names}, "shape": tuple(data["shape"])})
        except (KeyError, TypeError) as exc:
            raise GankitError(f"generator.json is missing a field ({exc})") from None


def export_generator(generator: nn.Module, info: GeneratorInfo, directory: str | Path) -> None:
    """Write `generator.safetensors` and `generator.json` into `directory` (atomically)."""
    directory = Path(directory)
    weights = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    atomic_write_bytes(directory / "generator.safetensors", st_save(weights))
    atomic_write_json(directory / "generator.json", dataclasses.asdict(info))


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, GeneratorInfo]:
    """Load a generator from a run directory, its `generator.safetensors`, or its latest checkpoint."""
    path = Path(path)
    if path.is_file() and path.suffix == ".safetensors":
        path = path.parent
    if not path.is_dir():
        raise GankitError(f"no run directory or generator at {path}")
    if (path / "generator.safetensors").is_file():
        info = GeneratorInfo.from_dict(read_json(path / "generator.json"))
        try:
            weights = st_load((path / "generator.safetensors").read_bytes())
        except Exception as exc:
            raise GankitError(f"{path / 'generator.safetensors'} is unreadable ({exc})") from None
    else:
        from gankit.checkpoint import load_checkpoint

        state = load_checkpoint(path / "checkpoint")
        info = GeneratorInfo.from_dict(state["generator_info"])
        weights = state["generator"]
    generator = build_generator(info.model, info.shape, info.noise_dim)
    try:
        generator.load_state_dict(weights)
    except RuntimeError as exc:
        raise GankitError(f"weights in {path} do not fit model {info.model}: {exc}") from None
    return generator.to(device).eval(), info


@torch.no_grad()
@torch.no_grad()
def generate(
    generator: nn.Module,
    info: GeneratorInfo,
    n: int,
    seed: int = 0,
    batch: int = 500,
    device: str | torch.device = "cpu",
) -> Tensor:
    """n samples from `generator` in eval mode, reproducible under `seed`; returned on the CPU."""
    rng = torch.Generator().manual_seed(seed)
    noise = sample_noise(info.noise, n, info.noise_dim, rng)  # (n, noise_dim)
    chunks = [generator(noise[i : i + batch].to(device)).cpu() for i in range(0, n, batch)]
    return torch.cat(chunks)


def write_samples(samples: Tensor, info: GeneratorInfo, out: str | Path) -> Path:
    """Write samples as a `.png` grid, an `.npz` (key images or samples), or PNG files in a folder."""
    out = Path(out)
    if out.suffix == ".npz":
        if info.kind == "image":
            images = to_uint8(samples, info.output).permute(0, 2, 3, 1).numpy()  # (N, H, W, C)
            np.savez(out, images=images)
        else:
            np.savez(out, samples=samples.numpy().astype(np.float32))  # (N, D)
    elif out.suffix == ".png":
        if info.kind != "image":
            from gankit.viz import save_scatter

            save_scatter(samples, samples[:0], out, title=f"{info.model} samples")
        else:
            save_png(make_grid(to_uint8(samples, info.output)), out)
    elif out.suffix == "":
        if info.kind != "image":
            raise GankitError("a folder of PNG files needs an image generator; use .npz for points")
        out.mkdir(parents=True, exist_ok=True)
        images = to_uint8(samples, info.output).permute(0, 2, 3, 1).numpy()
        width = len(str(len(images) - 1))
        for i, image in enumerate(images):
            save_png(image, out / f"{i:0{width}d}.png")
    else:
        raise GankitError(f"unsupported output {out}: use a .png, .npz or a directory name")
    return out
