"""What judges candidates for discriminator rejection sampling besides the run's own D:
a copy of D refined against the sampled G (`refine_discriminator`), or a fresh classifier of
points on random Fourier features (`FourierCritic`). Both train on the 2014 game's D loss,
whose optimum for a fixed G is D* = p_data / (p_data + p_g) (Prop. 1 of Goodfellow et al.)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from gankit.data import Dataset, ImageData
from gankit.losses import discriminator_loss
from gankit.noise import sample_noise
from gankit.sampling.drs_options import DRSOptions
from gankit.sampling.generator import GeneratorInfo

__all__ = ["FourierCritic", "RealSource", "real_source", "refine_discriminator"]

RealSource = Callable[[int, torch.Generator], Tensor]
"""`source(n, rng)`: n real samples (n, *shape), scaled as G's output, drawn with `rng`."""


class FourierCritic(nn.Module):
    """A classifier of points for DRS: `features` random Fourier features of the input
    (Tancik et al. 2020), sin and cos of 2*pi*x@B with B ~ N(0, scale^2) fixed by `seed`,
    under two LeakyReLU(0.2) layers of `width`. Maps (N, dim) to logits (N,).

    A `scale` of s resolves detail down to about 1/(4s) data units: at 2, a quarter of the
    grid's spacing of 2 is 0.125, 2.5 of its standard deviations of 0.05.
    """

    def __init__(
        self, dim: int, features: int = 128, scale: float = 2.0, width: int = 256, seed: int = 0
    ) -> None:
        super().__init__()
        rng = torch.Generator().manual_seed(seed)
        self.register_buffer("frequencies", torch.randn(dim, features, generator=rng) * scale)
        self.net = nn.Sequential(
            nn.Linear(2 * features, width),
            nn.LeakyReLU(0.2),
            nn.Linear(width, width),
            nn.LeakyReLU(0.2),
            nn.Linear(width, 1),
        )
        with torch.no_grad():  # initialised from `seed`, not from torch's global stream
            for layer in self.net:
                if isinstance(layer, nn.Linear):
                    bound = 1 / math.sqrt(layer.in_features)
                    layer.weight.copy_(torch.empty_like(layer.weight).uniform_(-bound, bound, generator=rng))
                    layer.bias.copy_(torch.empty_like(layer.bias).uniform_(-bound, bound, generator=rng))

    def forward(self, x: Tensor) -> Tensor:
        phase = 2 * math.pi * x.flatten(1) @ self.frequencies  # (N, features)
        return self.net(torch.cat([phase.sin(), phase.cos()], 1)).squeeze(1)


def real_source(dataset: Dataset, output: str) -> RealSource:
    """Draws of real data for `refine_discriminator`: fresh points of a synthetic density, or
    training images picked uniformly at random, scaled for a G with `output` range."""
    if isinstance(dataset, ImageData):
        images = dataset.tensor("train", output)  # (N, C, H, W)
        return lambda n, rng: images[torch.randint(len(images), (n,), generator=rng)]
    return dataset.sample


def refine_discriminator(
    discriminator: nn.Module,
    generator: nn.Module,
    info: GeneratorInfo,
    real: RealSource,
    options: DRSOptions,
    seed: int = 0,
) -> nn.Module:
    """A copy of `discriminator` trained `options.refine_steps` more steps against `generator`, frozen.

    Each step draws `refine_batch` real samples from `real` and as many of G's, and takes an
    Adam step on the 2014 game's D loss, -V(D, G): the binary cross-entropy whose optimum for
    a fixed G is p_data / (p_data + p_g), so the copy's logit estimates log p_data / p_g.
    G runs in the mode it is in, without gradients; neither argument is changed. The copy is
    returned in training mode.
    """
    refined = copy.deepcopy(discriminator).train()
    if options.refine_steps == 0:
        return refined
    device = next(refined.parameters()).device
    optimizer = torch.optim.Adam(refined.parameters(), lr=options.refine_lr, betas=(0.5, 0.999))
    rng = torch.Generator().manual_seed(seed)
    n = options.refine_batch
    for _ in range(options.refine_steps):
        x_real = real(n, rng).to(device)
        with torch.no_grad():
            x_fake = generator(sample_noise(info.noise, n, info.noise_dim, rng).to(device))
        loss = discriminator_loss(refined(x_real), refined(x_fake))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return refined
