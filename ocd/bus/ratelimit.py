"""Log a recurring problem once per interval per key, counting the repeats in between.

A publisher flooding garbage must not flood the log too, nor hide that it goes on. Keys should
name a kind of problem chosen by the code ("drop:json", "gap"), never something a sender
chooses; the table is bounded all the same (least recently logged key forgotten first).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

#: Keys remembered at most.
MAX_KEYS = 256


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, interval: float,
                 monotonic: Callable[[], float] = time.monotonic,
                 capacity: int = MAX_KEYS) -> None:
        self.logger = logger
        self.interval = interval
        self.capacity = capacity
        self._monotonic = monotonic
        #: key -> (time last logged, repeats not logged since)
        self._keys: OrderedDict[str, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def warning(self, key: str, message: str) -> bool:
        """Log ``message`` unless ``key`` was logged less than ``interval`` ago; True if
        logged."""
        return self.log(logging.WARNING, key, message)

    def log(self, level: int, key: str, message: str) -> bool:
        now = self._monotonic()
        entry = self._keys.get(key)
        if entry is not None and now - entry[0] < self.interval:
            entry[1] += 1
            return False
        if entry is not None and entry[1]:
            message += (f" ({entry[1]:.0f} more like it in the last {now - entry[0]:.0f} s "
                        "not logged)")
        self._keys[key] = [now, 0]
        self._keys.move_to_end(key)
        if len(self._keys) > self.capacity:
            self._keys.popitem(last=False)
        self.logger.log(level, "%s", message)
        return True
