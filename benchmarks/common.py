"""What the benchmarks share: the synthetic data, the reference loop of PyTorch's DCGAN example,
gankit's loop through its public API, the matmul ceiling, and a timed window of steps.

Each benchmark script imports this module (the scripts run with benchmarks/ on sys.path).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from gankit.config import TrainConfig
from gankit.data import ImageData
from gankit.models import build_models
from gankit.models.layers import FullConv2d, FullConvTranspose2d
from gankit.training.trainer import Trainer

NZ = 100  # noise dimension of every benchmarked model


@dataclass(frozen=True)
class Setup:
    model: str
    shape: tuple[int, ...]
    target: float | None  # gankit / reference on CPU, from the performance issue


def images(shape: tuple[int, ...], batch: int = 64) -> ImageData:
    """Random images, at least 8 batches' worth, so an epoch (and the reference's worker start-up) is rare."""
    n, gen = max(1024, 8 * batch), torch.Generator().manual_seed(0)
    data = torch.randint(0, 256, (n, *shape), generator=gen, dtype=torch.uint8)
    return ImageData(name="bench", splits={"train": data, "test": data[:64]})


class PerItem(Dataset):
    """What an image folder dataset hands a DataLoader: one image at a time, scaled to [-1, 1]."""

    def __init__(self, data: torch.Tensor) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.data[i].float() / 127.5 - 1, 0


def torch_layers(module: nn.Module) -> nn.Module:
    """`module` with torch's own convolutions in place of gankit's matrix-product ones.

    The example builds its nets from `nn.ConvTranspose2d` and `nn.Conv2d`; gankit's DCGAN
    computes its first G layer and last D layer as one matrix product (`FullConvTranspose2d`,
    `FullConv2d`, same parameters and outputs). The reference keeps the example's layers.
    """
    for layer in module.modules():
        if isinstance(layer, FullConvTranspose2d):
            layer.__class__ = nn.ConvTranspose2d
        elif isinstance(layer, FullConv2d):
            layer.__class__ = nn.Conv2d
    return module


class ReferenceLoop:
    """The pytorch/examples DCGAN iteration, as written there."""

    def __init__(
        self, setup: Setup, device: torch.device, data: torch.Tensor | None = None, batch: int = 64
    ) -> None:
        torch.manual_seed(0)
        torch.backends.cudnn.benchmark = True  # as the example sets it
        generator, discriminator = build_models(setup.model, setup.shape, NZ)
        self.g = torch_layers(generator).to(device)
        self.d = nn.Sequential(torch_layers(discriminator), nn.Sigmoid()).to(device)
        self.criterion = nn.BCELoss()
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.loader = DataLoader(
            PerItem(images(setup.shape, batch).splits["train"] if data is None else data),
            batch,
            shuffle=True,
            num_workers=2,
            drop_last=True,
        )
        self.batches = iter(self.loader)
        self.device = device

    def _next(self) -> torch.Tensor:
        try:
            return next(self.batches)[0]
        except StopIteration:
            self.batches = iter(self.loader)
            return next(self.batches)[0]

    def step(self) -> None:
        real = self._next().to(self.device)
        b = real.size(0)
        self.d.zero_grad()
        label = torch.full((b,), 1.0, device=self.device)
        output = self.d(real).view(-1)
        err_d_real = self.criterion(output, label)
        err_d_real.backward()
        output.mean().item()
        noise = torch.rand(b, NZ, device=self.device) * 2 - 1
        fake = self.g(noise)
        label.fill_(0.0)
        output = self.d(fake.detach()).view(-1)
        err_d_fake = self.criterion(output, label)
        err_d_fake.backward()
        output.mean().item()
        err_d = err_d_real + err_d_fake
        self.opt_d.step()
        self.g.zero_grad()
        label.fill_(1.0)
        output = self.d(fake).view(-1)
        err_g = self.criterion(output, label)
        err_g.backward()
        output.mean().item()
        self.opt_g.step()
        err_d.item(), err_g.item()


class GankitLoop:
    """gankit's trainer step with its defaults, and its host sync every `log_every` steps."""

    def __init__(
        self,
        setup: Setup,
        device: torch.device,
        dataset: ImageData | None = None,
        batch: int = 64,
        **options: object,
    ) -> None:
        options.setdefault("steps", 10**9)  # run_steps never passes the budget
        config = TrainConfig(model=setup.model, batch_size=batch, noise_dim=NZ, device=device.type, **options)
        data = images(setup.shape, batch) if dataset is None else dataset
        self.trainer = Trainer(config, dataset=data, progress=False, callbacks=[])  # steps, no outputs

    def step(self) -> None:
        self.trainer.run_steps(1)  # reads the statistics (a host sync) every log_every steps


def matmul_rate(device: torch.device, dtype: torch.dtype = torch.float32, n: int = 2048) -> float:
    """GFLOP/s of an n^3 matmul (best of several; on CUDA each timing spans 10 matmuls)."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    repeat = 10 if device.type == "cuda" else 1
    best = float("inf")
    for _ in range(5):
        sync(device)
        start = time.perf_counter()
        for _ in range(repeat):
            a @ b
        sync(device)
        best = min(best, (time.perf_counter() - start) / repeat)
    return 2 * n**3 / best / 1e9


def flops_per_image(step: Callable[[], None], batch: int) -> float:
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / batch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def window(step: Callable[[], None], iterations: int, device: torch.device, batch: int) -> float:
    sync(device)
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    sync(device)
    return iterations * batch / (time.perf_counter() - start)
