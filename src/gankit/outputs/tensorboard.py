"""TensorBoard logging (scalars, sample grids, histograms of D's outputs) when tensorboard is installed.

`pip install 'gankit[tensorboard]'`; without the package, `TensorBoard.open` returns None and
training logs to `metrics.jsonl` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor


class TensorBoard:
    """A thin wrapper over torch's SummaryWriter with gankit's names."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    @classmethod
    def open(cls, directory: Path) -> TensorBoard | None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # the tensorboard package is not installed
            return None
        return cls(SummaryWriter(str(directory)))

    def scalars(self, step: int, record: dict[str, Any]) -> None:
        for key, value in record.items():
            if key not in ("step", "time") and isinstance(value, int | float):
                self.writer.add_scalar(key, value, step)

    def histograms(self, step: int, real: Tensor, fake: Tensor) -> None:
        self.writer.add_histogram("d_output/real", real.float().cpu(), step)
        self.writer.add_histogram("d_output/fake", fake.float().cpu(), step)

    def image(self, step: int, grid: Tensor) -> None:
        """A uint8 (H, W, C) sample grid."""
        self.writer.add_image("samples", grid, step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()
