"""Where the labels of a conditional G and D come from: one seam, `LabelSource`.

An unconditional run has none (`NoLabels`); `--conditional` uses the dataset's classes
(`ClassLabels`); an experiment may supply labels of its own (self-conditioning's clusters,
`gankit.experiments.self_condition`). A source says how many labels G and D see, labels the
training batches, draws G's labels, and saves and restores its own state in checkpoints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from gankit.data import Dataset
from gankit.errors import GankitError

if TYPE_CHECKING:
    from gankit.data.batches import EpochOrder, SyntheticBatches

__all__ = ["ClassLabels", "LabelSource", "NoLabels"]


class LabelSource:
    """The labels of one run. Subclasses override what they need; this base has no labels."""

    n_classes: int = 0  # how many labels G and D see (0: unconditional)
    label_factors: tuple[int, ...] = ()  # G and D see a label factor by factor (K,) * C, or whole

    def batch_labels(self, device: torch.device) -> Tensor | None:
        """The training split's labels (N,) on `device`, for the batch source; None: unlabelled."""
        return None

    def attach(self, batches: EpochOrder | SyntheticBatches) -> None:
        """Called once with the run's batch source (which it may relabel later)."""

    def before_step(self, step: int, discriminator: nn.Module) -> None:
        """Called before iteration `step + 1` (e.g. to cluster the training images again)."""

    def draw(self, total: int, rng: torch.Generator, device: torch.device) -> Tensor | None:
        """`total` labels for G's step, drawn with `rng` (None when unconditional)."""
        return None

    def class_prior(self) -> tuple[float, ...] | None:
        """The share of each label among the training images, where G's labels follow it."""
        return None

    @property
    def stats(self) -> dict[str, float]:
        """Numbers for the training log."""
        return {}

    def state_dict(self) -> dict[str, Any] | None:
        """What a checkpoint keeps of this source (None: nothing)."""
        return None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore from a checkpoint's entry (None where the checkpoint has none)."""


class NoLabels(LabelSource):
    """An unconditional run."""


class ClassLabels(LabelSource):
    """The dataset's own classes (`--conditional`); G's labels are uniform over them."""

    def __init__(self, dataset: Dataset, dataset_name: str) -> None:
        labels = getattr(dataset, "labels", {}).get("train")
        if labels is None:
            hint = (
                " (give each class's images a sub-folder of their own)"
                if dataset_name.startswith("folder:")
                else ""
            )
            raise GankitError(f"--conditional needs a labelled dataset; {dataset_name} has no labels{hint}")
        self.labels = labels
        self.n_classes = max(int(labels.max()) + 1, len(getattr(dataset, "classes", ())))

    def batch_labels(self, device: torch.device) -> Tensor:
        return self.labels.to(device)

    def draw(self, total: int, rng: torch.Generator, device: torch.device) -> Tensor:
        return torch.randint(self.n_classes, (total,), generator=rng, device=device)
