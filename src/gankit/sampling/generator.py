"""Exported generators (`generator.safetensors` + `generator.json`) and writing samples to files."""

from __future__ import annotations

import dataclasses
import hashlib
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from gankit import __version__
from gankit.config.options import check_type, scalar_type
from gankit.data.base import to_uint8
from gankit.errors import GankitError
from gankit.models import build_generator
from gankit.models.parts import eval_mode
from gankit.noise import sample_noise
from gankit.outputs.checkpoint import load_checkpoint
from gankit.outputs.files import atomic_write_bytes, atomic_write_json, read_json
from gankit.outputs.viz import make_grid, save_png, save_scatter
from gankit.registry import import_plugins


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
    n_classes: int = 0
    ema: bool = False
    gankit_version: str = __version__
    class_prior: tuple[float, ...] | None = None  # shares of the classes (self-conditioned runs)
    g_width: int | None = None  # G's base channel count, where the run set one (--g-width)
    label_factors: tuple[int, ...] | None = None  # classes per label factor (--cluster-space channels)
    plugins: tuple[str, ...] = ()  # modules that registered the model (imported before building it)

    @classmethod
    def from_dict(cls, data: dict) -> GeneratorInfo:
        """The info of a `generator.json` (or a checkpoint's copy), each field checked by type."""
        hints = typing.get_type_hints(cls)
        fields = {}
        for field in dataclasses.fields(cls):
            if field.name not in data:
                if field.default is dataclasses.MISSING:
                    raise GankitError(f"generator.json is damaged: it has no {field.name}")
                continue
            fields[field.name] = _field_value(field.name, data[field.name], hints[field.name])
        if not fields["shape"] or any(size < 1 for size in fields["shape"]):
            raise GankitError(f"generator.json is damaged: shape {list(fields['shape'])} is not a shape")
        counts = {"noise_dim": 1, "n_classes": 0, "g_width": 1}
        for name, least in counts.items():
            if fields.get(name) is not None and fields[name] < least:
                raise GankitError(f"generator.json is damaged: {name} {fields[name]} is below {least}")
        if any(k < 1 for k in fields.get("label_factors") or ()):
            raise GankitError("generator.json is damaged: label_factors must be counts >= 1")
        return cls(**fields)


def _field_value(name: str, value: object, hint: object) -> object:
    """`value` as the field `name` of type `hint` holds it (JSON lists become tuples)."""
    scalar, optional = scalar_type(hint)
    if value is None and optional:
        return None
    if typing.get_origin(scalar) is tuple:
        item = typing.get_args(scalar)[0]
        if not isinstance(value, list | tuple):
            raise GankitError(f"generator.json is damaged: {name} must be a list, got {value!r}")
        for element in value:
            check_type(f"generator.json is damaged: {name}[...]", element, item)
        return tuple(value)
    check_type(f"generator.json is damaged: {name}", value, hint)
    return value


def export_generator(
    generator: nn.Module, info: GeneratorInfo, directory: str | Path, name: str = "generator"
) -> None:
    """Write `NAME.safetensors` into `directory` (atomically), and `generator.json` with `generator`.

    A run that keeps an EMA of G exports the EMA as `generator` and G's own weights
    as `generator_raw`; both share the one `generator.json`, whose `sha256` holds each
    weight file's SHA-256 (checked when they load).
    """
    directory = Path(directory)
    weights = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    blob = st_save(weights)
    atomic_write_bytes(directory / f"{name}.safetensors", blob)
    digest = {f"{name}.safetensors": hashlib.sha256(blob).hexdigest()}
    if name == "generator":
        atomic_write_json(directory / "generator.json", {**dataclasses.asdict(info), "sha256": digest})
    else:
        record = read_json(directory / "generator.json")
        record["sha256"] = {**record.get("sha256", {}), **digest}
        atomic_write_json(directory / "generator.json", record)


def _read_weights(file: Path, record: dict) -> dict[str, Tensor]:
    """The tensors of `file`, checked against the SHA-256 that generator.json recorded for it."""
    try:
        blob = file.read_bytes()
    except FileNotFoundError:
        raise GankitError(f"generator weights missing: {file}") from None
    recorded = record.get("sha256")
    expected = recorded.get(file.name) if isinstance(recorded, dict) else None
    if expected is not None and hashlib.sha256(blob).hexdigest() != expected:
        raise GankitError(f"{file} is corrupt (its SHA-256 differs from the one in generator.json)")
    try:
        return st_load(blob)
    except Exception as exc:  # safetensors raises its own error types
        raise GankitError(f"{file} is unreadable ({exc})") from None


def load_generator(
    path: str | Path, device: str | torch.device = "cpu", ema: bool = True
) -> tuple[nn.Module, GeneratorInfo]:
    """Load a generator from a run directory, its `generator.safetensors`, or its latest checkpoint.

    Where the run kept an EMA of G, that is what loads, unless `ema` is False.
    """
    path = Path(path)
    if path.is_file() and path.suffix == ".safetensors":
        path = path.parent
    if not path.is_dir():
        raise GankitError(f"no run directory or generator at {path}")
    if (path / "generator.safetensors").is_file():
        record = read_json(path / "generator.json")  # a JSON object, or a GankitError
        info = GeneratorInfo.from_dict(record)
        file = path / ("generator.safetensors" if ema or not info.ema else "generator_raw.safetensors")
        weights = _read_weights(file, record)
    else:
        state = load_checkpoint(path / "checkpoint")
        info = GeneratorInfo.from_dict(state["generator_info"])
        weights = state["generator_ema"] if ema and "generator_ema" in state else state["generator"]
    import_plugins(info.plugins)
    generator = build_generator(
        info.model, info.shape, info.noise_dim, info.n_classes, info.g_width, info.label_factors or ()
    )
    try:
        generator.load_state_dict(weights)
    except RuntimeError as exc:
        raise GankitError(f"weights in {path} do not fit model {info.model}: {exc}") from None
    return generator.to(device).eval(), info


@torch.no_grad()
def generate(
    generator: nn.Module,
    info: GeneratorInfo,
    n: int,
    seed: int = 0,
    batch: int = 500,
    device: str | torch.device = "cpu",
    label: int | None = None,
) -> Tensor:
    """n samples from `generator` in eval mode, reproducible under `seed`; returned on the CPU.

    `label` picks the class of a conditional generator (default: classes in turn, sample i
    of class i mod K, however the samples are split into batches or ranks).
    """
    return torch.cat(list(generate_chunks(generator, info, n, max(n, 1), seed, batch, device, label)))


def generate_chunks(
    generator: nn.Module,
    info: GeneratorInfo,
    n: int,
    chunk: int,
    seed: int = 0,
    batch: int = 500,
    device: str | torch.device = "cpu",
    label: int | None = None,
) -> Iterator[Tensor]:
    """The samples `generate` draws, `chunk` at a time (so that 50,000 large images need not sit
    in memory at once); the same noise and labels, so the chunks concatenate to `generate`'s."""
    rng = torch.Generator().manual_seed(seed)
    noise = sample_noise(info.noise, n, info.noise_dim, rng)  # (n, noise_dim)
    labels = _labels(info, label, n)
    if labels is None:
        labels = balanced_labels(torch.arange(n), info)
    for start in range(0, n, chunk):
        part = None if labels is None else labels[start : start + chunk]
        yield _through(generator, noise[start : start + chunk], batch, device, part)


_GOLDEN = 0.6180339887498949  # frac((i + 1/2) * golden) spreads any run of indices evenly over [0, 1)


def balanced_labels(index: Tensor, info: GeneratorInfo) -> Tensor | None:
    """The class that sample number `index` of an unlabelled draw gets (None when G is not
    conditional): index mod K, or, where the run has a class prior (self-conditioned), the
    class whose stretch of the prior's cumulative sum holds frac((index + 1/2) x golden ratio).
    That low-discrepancy sequence gives any run of n consecutive samples each class's share to
    within a few samples, however the samples are split into batches or ranks."""
    if not info.n_classes:
        return None
    if info.class_prior is None:
        return index % info.n_classes
    cdf = torch.tensor(info.class_prior, dtype=torch.float64).cumsum(0)
    u = torch.frac((index.double() + 0.5) * _GOLDEN) * cdf[-1]
    return torch.searchsorted(cdf, u, right=True).clamp_max(info.n_classes - 1)


def _labels(info: GeneratorInfo, label: int | None, n: int) -> Tensor | None:
    if label is None:
        return None
    if not info.n_classes:
        raise GankitError(
            f"--class needs a conditional generator (trained with --conditional); {info.model} is not"
        )
    if not 0 <= label < info.n_classes:
        raise GankitError(f"--class must be in 0..{info.n_classes - 1}, got {label}")
    return torch.full((n,), label, dtype=torch.long)


@torch.no_grad()
def _through(
    generator: nn.Module, noise: Tensor, batch: int, device: str | torch.device, labels: Tensor | None
) -> Tensor:
    """`noise` through `generator` in eval mode, `batch` rows at a time, without a graph; G's mode
    is put back."""
    chunks = []
    with eval_mode(generator):
        for i in range(0, len(noise), batch):
            z = noise[i : i + batch].to(device)
            out = generator(z) if labels is None else generator(z, labels[i : i + batch].to(device))
            chunks.append(out.cpu())
    return torch.cat(chunks)


@torch.no_grad()
def interpolate(
    generator: nn.Module,
    info: GeneratorInfo,
    rows: int,
    frames: int = 10,
    seed: int = 0,
    device: str | torch.device = "cpu",
    label: int | None = None,
) -> Tensor:
    """`rows` strips of `frames` samples each, walking from one noise vector to another.

    Normal noise is interpolated spherically (slerp), so every frame has a typical norm;
    uniform noise linearly, so it stays in the cube. Returns (rows * frames, ...) row by row.
    A conditional generator keeps one class along a strip: `label`, or strip r gets the class
    `balanced_labels` gives index r (r mod K; a self-conditioned run's classes by their shares,
    so no strip shows a class that no training image fell in).
    """
    if frames < 2:
        raise GankitError(f"--frames must be >= 2, got {frames}")
    rng = torch.Generator().manual_seed(seed)
    ends = sample_noise(info.noise, 2 * rows, info.noise_dim, rng).view(rows, 2, info.noise_dim).double()
    t = torch.linspace(0, 1, frames, dtype=torch.float64)[None, :, None]  # (1, frames, 1)
    start, end = ends[:, :1], ends[:, 1:]  # (rows, 1, dim)
    if info.noise == "normal":
        cos = torch.nn.functional.cosine_similarity(start, end, dim=2)[..., None].clamp(-1, 1)
        omega = torch.acos(cos).clamp_min(1e-6)
        path = (torch.sin((1 - t) * omega) * start + torch.sin(t * omega) * end) / torch.sin(omega)
    else:
        path = (1 - t) * start + t * end  # (rows, frames, dim)
    noise = path.reshape(rows * frames, info.noise_dim).float()
    labels = _labels(info, label, rows * frames)
    if labels is None and info.n_classes:  # one class per strip
        labels = balanced_labels(torch.arange(rows), info).repeat_interleave(frames)
    return _through(generator, noise, 500, device, labels)


def write_samples(samples: Tensor, info: GeneratorInfo, out: str | Path, nrow: int | None = None) -> Path:
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
            save_scatter(samples, samples[:0], out, title=f"{info.model} samples")
        else:
            save_png(make_grid(to_uint8(samples, info.output), nrow=nrow), out)
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
