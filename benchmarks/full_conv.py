"""DCGAN's whole-map convolutions: torch's kernels against gankit's one matrix product.

    .venv/bin/python benchmarks/full_conv.py [--batch 64] [--repeats 50] [--threads N]

G's first layer (a transposed convolution of the (nz, 1, 1) noise) and D's last layer (a
convolution whose kernel spans the whole map) at the 28 px and 64 px DCGAN shapes, in
channels-last layout as gankit trains them. Each row times forward plus backward (input and
weight gradients) of `nn.ConvTranspose2d` / `nn.Conv2d` and of gankit's `FullConvTranspose2d`
/ `FullConv2d` on the same weights, interleaved, and prints the best time of each and the ratio.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from gankit.models.layers import FullConv2d, FullConvTranspose2d

SHAPES = (  # (name, gankit's layer, torch's, constructor arguments, input shape without the batch)
    ("dcgan28 G first", FullConvTranspose2d, nn.ConvTranspose2d, (100, 128, 7), (100, 1, 1)),
    ("dcgan28 D last", FullConv2d, nn.Conv2d, (128, 1, 7), (128, 7, 7)),
    ("dcgan64 G first", FullConvTranspose2d, nn.ConvTranspose2d, (100, 512, 4), (100, 1, 1)),
    ("dcgan64 D last", FullConv2d, nn.Conv2d, (512, 1, 4), (512, 4, 4)),
)


def best_ms(layer: nn.Module, x: torch.Tensor, repeats: int) -> float:
    x = x.clone().requires_grad_(True)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        layer(x).sum().backward()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"CPU, {args.threads} threads; torch {torch.__version__}; batch {args.batch}; forward + backward")
    for name, mine, theirs, ctor, shape in SHAPES:
        fast, plain = mine(*ctor, bias=False), theirs(*ctor, bias=False)
        plain.load_state_dict(fast.state_dict())
        fast, plain = (m.to(memory_format=torch.channels_last) for m in (fast, plain))
        x = torch.randn(args.batch, *shape).contiguous(memory_format=torch.channels_last)
        times = {"torch": [], "gankit": []}
        for _ in range(3):  # interleaved rounds
            times["torch"].append(best_ms(plain, x, args.repeats))
            times["gankit"].append(best_ms(fast, x, args.repeats))
        t, g = min(times["torch"]), min(times["gankit"])
        print(f"  {name:<16} torch {t:7.3f} ms   gankit {g:7.3f} ms   x{t / g:.2f}")


if __name__ == "__main__":
    main()
