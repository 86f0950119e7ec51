"""Convolutions whose kernel covers the whole map, computed as one matrix product.

DCGAN's G starts with a transposed convolution of a 1x1 "image" of noise (nz, 1, 1) into a
(C, k, k) map, and its D ends with a convolution whose k x k kernel spans the whole (C, k, k)
feature map. Each is a fully connected layer written as a convolution: every output is a
dot product of the whole input with a slice of the weight. These subclasses keep the
convolution's parameters, state-dict keys and initialisation, and compute that case as one
`torch.mm`. On the CPU that is 2-5x faster than torch's convolution kernels for DCGAN's
shapes, forward plus backward (`benchmarks/full_conv.py`; not measured on a GPU). Any
other input takes the parent's forward.

For a channels-last weight (and input) the product is taken in (kh, kw, C) order, so no
tensor is copied and the output comes back channels-last.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["FullConv2d", "FullConvTranspose2d"]


def _plain(layer: nn.Conv2d | nn.ConvTranspose2d) -> bool:
    """No padding, dilation, groups or output padding: the layer is a product over its window."""
    return (
        layer.padding == (0, 0)
        and layer.dilation == (1, 1)
        and layer.groups == 1
        and tuple(getattr(layer, "output_padding", (0, 0))) == (0, 0)
    )


class FullConvTranspose2d(nn.ConvTranspose2d):
    """`nn.ConvTranspose2d`; on a (N, C_in, 1, 1) input with stride 1, one matrix product."""

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        if output_size is not None or x.dim() != 4 or x.shape[-2:] != (1, 1) or not _plain(self):
            return super().forward(x, output_size)
        w = self.weight  # (C_in, C_out, kh, kw)
        (c_in, c_out, kh, kw), n = w.shape, x.shape[0]
        z = x.reshape(n, c_in)
        if w.is_contiguous(memory_format=torch.channels_last):  # stored as (C_in, kh, kw, C_out)
            y = torch.mm(z, w.permute(0, 2, 3, 1).reshape(c_in, kh * kw * c_out))
            y = y.view(n, kh, kw, c_out).permute(0, 3, 1, 2)
        else:
            y = torch.mm(z, w.reshape(c_in, c_out * kh * kw)).view(n, c_out, kh, kw)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)


class FullConv2d(nn.Conv2d):
    """`nn.Conv2d`; on an input exactly the kernel's size (no padding), one matrix product."""

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or tuple(x.shape[-2:]) != self.kernel_size or not _plain(self):
            return super().forward(x)
        w = self.weight  # (C_out, C_in, kh, kw)
        n, c_out = x.shape[0], w.shape[0]
        if x.is_contiguous(memory_format=torch.channels_last):  # take both in (kh, kw, C) order
            y = torch.mm(x.permute(0, 2, 3, 1).reshape(n, -1), w.permute(0, 2, 3, 1).reshape(c_out, -1).t())
        else:
            y = torch.mm(x.reshape(n, -1), w.reshape(c_out, -1).t())
        y = y.view(n, c_out, 1, 1)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)
