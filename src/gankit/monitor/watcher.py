"""What a run watches while it trains: the dominance and collapse alarms and their signals.

`RunWatcher` holds the alarms of one run (rank 0 only) and measures what the collapse
alarm needs: the diversity of G's fixed-noise samples against real data, and, where the
dataset has labels and a cached classifier, how evenly the samples spread over classes.
The training loop hands it each logged record; it returns the alarm events to log.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gankit.config import TrainConfig
from gankit.data import Dataset, ImageData, scale_images, to_uint8
from gankit.metrics import has_class_labels
from gankit.metrics.classifier import cached_classifier
from gankit.metrics.features import class_coverage
from gankit.monitor.alarms import AlarmEvent, CollapseAlarm, DominanceAlarm, pairwise_diversity

__all__ = ["RunWatcher"]


class RunWatcher:
    """The alarms of one run and the diversity signals they read."""

    def __init__(self, config: TrainConfig, dataset: Dataset, output: str, enabled: bool = True) -> None:
        self.dataset, self.output = dataset, output
        self.alarms: dict[str, Any] = {}
        if enabled:  # alarms watch rank 0's log
            if config.watch.alarm_dominance:
                self.alarms["dominance"] = DominanceAlarm(config.watch.alarm_window)
            if config.watch.alarm_collapse:
                self.alarms["collapse"] = CollapseAlarm(warmup=config.watch.alarm_window)
        self._real_diversity: float | None = None
        self._classifier: nn.Module | None = None

    @property
    def active(self) -> list[str]:
        """Names of the alarms that are raised now."""
        return sorted(name for name, alarm in self.alarms.items() if alarm.active)

    @property
    def watches_samples(self) -> bool:
        """Whether `diversity` has anything to measure (the collapse alarm is on)."""
        return "collapse" in self.alarms

    @torch.no_grad()
    def diversity(self, fake: Tensor) -> dict[str, float]:
        """Diversity of `fake` (G's fixed-noise samples) against real data, and class KL if it can."""
        if not self.watches_samples:
            return {}
        if self._real_diversity is None:
            self._real_diversity = pairwise_diversity(self._reference_batch(len(fake)))
            self._classifier = self._cached_classifier()
        fake = fake.float()
        out = {"diversity/ratio": pairwise_diversity(fake) / max(self._real_diversity, 1e-12)}
        if self._classifier is not None:
            pixels = to_uint8(fake, self.output).float() / 255
            probs = torch.softmax(self._classifier(pixels), dim=1)
            out["classes/kl_to_uniform"] = float(class_coverage(probs)["kl_to_uniform"])
        return out

    def events(self, step: int, record: dict[str, Any]) -> list[AlarmEvent]:
        """Feed one logged record to the alarms; the start/stop events it causes."""
        events = []
        if "dominance" in self.alarms:
            events.append(self.alarms["dominance"].observe(step, record))
        if "collapse" in self.alarms and "diversity/ratio" in record:
            kl = record.get("classes/kl_to_uniform")
            events.append(self.alarms["collapse"].observe(step, record["diversity/ratio"], kl))
        return [e for e in events if e is not None]

    def _reference_batch(self, n: int) -> Tensor:
        if isinstance(self.dataset, ImageData):
            index = torch.linspace(0, self.dataset.count("train") - 1, n).long()
            return scale_images(self.dataset.images("train", index), self.output)
        return self.dataset.tensor("test")[:n]

    def _cached_classifier(self) -> nn.Module | None:
        if not has_class_labels(self.dataset):
            return None
        return cached_classifier(self.dataset)
