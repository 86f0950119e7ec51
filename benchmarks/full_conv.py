"""DCGAN's whole-map convolutions: torch's kernels against gankit's one matrix product.

    .venv/bin/python benchmarks/full_conv.py [--batch 64] [--repeats 50] [--threads N] [--strided]

G's first layer (a transposed convolution of the (nz, 1, 1) noise) and D's last layer (a
convolution whose kernel spans the whole map) at the 28 px and 64 px DCGAN shapes, in
channels-last layout as gankit trains them. Each row times forward plus backward (input and
weight gradients) of `nn.ConvTranspose2d` / `nn.Conv2d` and of gankit's `FullConvTranspose2d`
/ `FullConv2d` on the same weights, interleaved, and prints the best time of each and the ratio.

With `--strided` it also times torch's stride-2 convolutions that carry most of each DCGAN's
FLOPs (the widest of G and of D, at 28 and 64 px), forward plus backward, and prints their
GFLOP/s (FLOPs from torch.utils.flop_counter) as a fraction of an fp32 2048^3 matmul timed in
the same run: how much a rewrite of those layers as matrix products could still win.
"""

from __future__ import annotations

import argparse
import time

import torch
from common import matmul_rate
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from gankit.models.layers import FullConv2d, FullConvTranspose2d

SHAPES = (  # (name, gankit's layer, torch's, constructor arguments, input shape without the batch)
    ("dcgan28 G first", FullConvTranspose2d, nn.ConvTranspose2d, (100, 128, 7), (100, 1, 1)),
    ("dcgan28 D last", FullConv2d, nn.Conv2d, (128, 1, 7), (128, 7, 7)),
    ("dcgan64 G first", FullConvTranspose2d, nn.ConvTranspose2d, (100, 512, 4), (100, 1, 1)),
    ("dcgan64 D last", FullConv2d, nn.Conv2d, (512, 1, 4), (512, 4, 4)),
)

STRIDED = (  # (name, torch's layer, constructor arguments, input shape without the batch)
    ("dcgan28 D 64->128", nn.Conv2d, (64, 128, 4, 2, 1), (64, 14, 14)),
    ("dcgan28 G 128->64", nn.ConvTranspose2d, (128, 64, 4, 2, 1), (128, 7, 7)),
    ("dcgan64 D 256->512", nn.Conv2d, (256, 512, 4, 2, 1), (256, 8, 8)),
    ("dcgan64 G 512->256", nn.ConvTranspose2d, (512, 256, 4, 2, 1), (512, 4, 4)),
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
    parser.add_argument("--strided", action="store_true", help="also time the widest strided convolutions")
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
    if args.strided:
        rate = matmul_rate(torch.device("cpu"))
        print(f"strided convolutions, forward + backward; fp32 2048^3 matmul: {rate:.1f} GFLOP/s")
        for name, layer_type, ctor, shape in STRIDED:
            layer = layer_type(*ctor, bias=False).to(memory_format=torch.channels_last)
            x = torch.randn(args.batch, *shape).contiguous(memory_format=torch.channels_last)
            with FlopCounterMode(display=False) as counter:
                layer(x.clone().requires_grad_(True)).sum().backward()
            ms = best_ms(layer, x, args.repeats)
            achieved = counter.get_total_flops() / ms / 1e6
            print(f"  {name:<20} {ms:8.3f} ms   {achieved:6.1f} GFLOP/s = {achieved / rate:.0%} of matmul")


if __name__ == "__main__":
    main()
