"""A one-line progress bar for long work on a terminal (``ocd db_replay``, ``ocd simulate``)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """A one-line progress bar, drawn only on a terminal, at most ten times a second."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO | None = None,
                 enabled: bool | None = None, label: str = "replay",
                 unit: str = "events") -> None:
        self.label, self.unit = label, unit
        self.stream = sys.stderr if stream is None else stream
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total = total
        self._next_draw = 0.0
        self._start = time.monotonic()
        self._drawn = False

    def update(self, done: int, passes: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now < self._next_draw:
            return
        self._next_draw = now + 0.1
        fraction = (done / self.total) if self.total else 1.0
        filled = int(round(fraction * self.WIDTH))
        elapsed = now - self._start
        loop = f"  pass {passes}" if passes > 1 else ""
        self.stream.write(f"\r{self.label} [{'#' * filled}{'-' * (self.WIDTH - filled)}] "
                          f"{fraction * 100:3.0f}%  {done}/{self.total} {self.unit}  "
                          f"{elapsed:6.1f} s{loop}\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
