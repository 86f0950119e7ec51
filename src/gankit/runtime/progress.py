"""Console progress and graceful Ctrl-C for the training loop."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any


class StopOnSignal:
    """While active, SIGINT sets `requested` instead of raising, so the loop can stop at a step boundary.

    A second Ctrl-C raises KeyboardInterrupt at once. Outside the main thread, or when not
    `enabled` (under torchrun, which stops all ranks itself), it does nothing.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.requested = False
        self.enabled = enabled
        self._previous: Any = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this step (Ctrl-C again to abort)...", file=sys.stderr)

    def __enter__(self) -> StopOnSignal:
        if self.enabled and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class Progress:
    """A tqdm bar over steps showing steps/s, ETA, the latest losses and any active alarm."""

    def __init__(self, total: int, initial: int, enabled: bool = True) -> None:
        self._bar = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                initial=initial,
                unit="step",
                dynamic_ncols=True,
                mininterval=1.0,
                file=sys.stderr,
            )
        self._last = initial

    def update(self, step: int, record: dict[str, float], alarms: list[str] | None = None) -> None:
        if self._bar is None:
            return
        self._bar.update(step - self._last)
        self._last = step
        postfix: dict[str, str] = {
            k: f"{record[k]:.3f}" for k in ("loss/d", "loss/g", "d/real", "d/fake") if k in record
        }
        if alarms:
            postfix["ALARM"] = ",".join(alarms)
        self._bar.set_postfix(postfix, refresh=False)

    def write(self, line: str) -> None:
        """A message above the bar (or on stderr when the bar is off): alarms are always shown."""
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
