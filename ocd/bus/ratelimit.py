"""Log a recurring problem once per interval per key, counting the repeats in between.

A publisher flooding garbage must not flood the log too, nor hide that it goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

_MAX_KEYS = 1000


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, interval: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self._monotonic = monotonic
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, message: str) -> bool:
        """Log ``message`` unless ``key`` was logged less than ``interval`` ago; True if
        logged."""
        now = self._monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        if len(self._last) >= _MAX_KEYS and key not in self._last:
            self._last.clear()
            self._suppressed.clear()
        suppressed = self._suppressed.pop(key, 0)
        if suppressed and last is not None:
            message += f" ({suppressed} more like it in the last {now - last:.0f} s not logged)"
        self._last[key] = now
        self.logger.warning("%s", message)
        return True
