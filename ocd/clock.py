"""OCD's one clock: every time OCD reasons with comes from a :class:`Clock`.

The mock clock lets a whole night be rehearsed in daytime: it starts at ``[dates] mock_time`` and
advances with real elapsed time multiplied by ``[dates] mock_speed``. Log records keep real time.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Protocol

from ocd.config import Config

#: Julian Date of the Unix epoch, 1970-01-01T00:00:00 UTC.
_JD_UNIX_EPOCH = 2440587.5


def utc_to_jd(when: dt.datetime) -> float:
    """Julian Date (UTC scale) of an aware datetime, computed by astropy."""
    from astropy.time import Time  # imported here: astropy is slow to import

    return float(Time(when.astimezone(dt.timezone.utc), scale="utc").jd)


class Clock(Protocol):
    """What OCD asks of a clock."""

    is_mock: bool

    def utc(self) -> dt.datetime:
        """Now, as a timezone-aware UTC datetime."""

    def jd(self) -> float:
        """Now, as a Julian Date."""

    def timestamp(self) -> float:
        """Now, as Unix seconds (of this clock, so mocked when the clock is)."""

    def describe(self) -> str:
        """One line for start-up summaries and ``ocd time``."""


class RealClock:
    """The computer's clock."""

    is_mock = False

    def utc(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    def jd(self) -> float:
        return utc_to_jd(self.utc())

    def timestamp(self) -> float:
        return self.utc().timestamp()

    def describe(self) -> str:
        return "real clock"


class MockClock:
    """A clock that starts at ``start`` and runs ``speed`` times faster than real time.

    Elapsed real time comes from ``monotonic`` (so wall-clock jumps do not move it); freezegun
    can drive it in tests because it patches :func:`time.monotonic`.
    """

    is_mock = True

    def __init__(self, start: dt.datetime, speed: float = 1.0,
                 monotonic: Callable[[], float] | None = None) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.timezone.utc)
        if speed <= 0:
            raise ValueError("mock_speed must be positive")
        self.start = start
        self.speed = speed
        # looked up at each call, not bound at import, so that freezegun's patch applies
        self._monotonic = monotonic or (lambda: time.monotonic())
        self._origin = self._monotonic()

    def utc(self) -> dt.datetime:
        elapsed = (self._monotonic() - self._origin) * self.speed
        return self.start + dt.timedelta(seconds=elapsed)

    def jd(self) -> float:
        return utc_to_jd(self.utc())

    def timestamp(self) -> float:
        return self.utc().timestamp()

    def describe(self) -> str:
        return (f"mock clock started at {self.start.isoformat()} "
                f"running at {self.speed:g}x real time")


def clock_from_config(cfg: Config) -> Clock:
    """A mock clock when ``[dates] mock_time`` is set, else the real one."""
    start = cfg.get_time("dates", "mock_time")
    if start is None:
        return RealClock()
    speed = cfg.get_float("dates", "mock_speed")
    if speed <= 0:
        raise cfg.error("dates", "mock_speed", str(speed), "must be positive")
    return MockClock(start, speed)


def real_seconds(clock: Clock, seconds: float) -> float:
    """How many real seconds ``seconds`` of OCD-clock time last."""
    return seconds / (getattr(clock, "speed", 1.0) if clock.is_mock else 1.0)
