"""OCD's one clock: every time OCD reasons with comes from a :class:`Clock`.

The mock clock lets a whole night be rehearsed in daytime: it reads ``[dates] mock_time`` at one
real instant, its *anchor*, and advances with real elapsed time multiplied by ``[dates]
mock_speed``. The three numbers (mock time, speed, anchor) are the whole clock: they travel in
the envelope of every event, so that a process started later adopts the main loop's clock
(:meth:`MockClock.adopted`) and a GUI can compute OCD's time. ``[dates] mock_anchor`` pins the
anchor in the configuration, for processes started in any order. Log records keep real time.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ocd.config import Config
from ocd.timetext import day_hms_utc, day_hms_utc_local

#: Julian Date of the Unix epoch, 1970-01-01T00:00:00 UTC.
_JD_UNIX_EPOCH = 2440587.5


def utc_to_jd(when: dt.datetime) -> float:
    """Julian Date (UTC scale) of an aware datetime.

    Plain arithmetic rather than astropy: a POSIX timestamp counts every UTC day as 86400 s,
    exactly as a UTC-scale Julian Date does, so the two agree to the microsecond except inside
    a leap second (tests check against astropy); and importing astropy would cost every
    command that shows the time a fifth of a second.
    """
    return when.timestamp() / 86400.0 + _JD_UNIX_EPOCH


class Clock(Protocol):
    """What OCD asks of a clock."""

    is_mock: bool
    #: OCD-clock seconds per real second (1 for the real clock).
    speed: float

    def anchor(self) -> tuple[dt.datetime, float] | None:
        """A mock clock's (mock time, real Unix seconds when it read that time); None for the
        real clock."""

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
    speed = 1.0

    def anchor(self) -> None:
        return None

    def utc(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    def jd(self) -> float:
        return utc_to_jd(self.utc())

    def timestamp(self) -> float:
        return time.time()

    def describe(self) -> str:
        return "real clock"


#: OCD-clock seconds by which two mock clocks may read apart before they count as two clocks
#: (the envelope carries an anchor to the microsecond: a real split, another ``mock_time`` or
#: speed, is far larger): said, shown on the board, and the main loop's followed.
SPLIT = 1.0


class MockClock:
    """A clock that reads ``start`` at the real instant ``real_start`` (Unix seconds; default:
    now) and runs ``speed`` times faster than real time.

    Elapsed real time comes from ``monotonic`` (so wall-clock jumps do not move it; the wall
    clock is read once, to place ``real_start``); freezegun can drive it in tests because it
    patches :func:`time.monotonic` and :func:`time.time`. ``source`` says where the clock came
    from, for :meth:`describe`.
    """

    is_mock = True

    def __init__(self, start: dt.datetime, speed: float = 1.0,
                 monotonic: Callable[[], float] | None = None, *,
                 real_start: float | None = None, wall: Callable[[], float] | None = None,
                 source: str = "") -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.timezone.utc)
        if not speed > 0 or not math.isfinite(speed):
            raise ValueError("mock_speed must be positive")
        self.start = start
        self._start_seconds = start.timestamp()
        self.speed = speed
        self.source = source
        # looked up at each call, not bound at import, so that freezegun's patch applies
        self._monotonic = monotonic or (lambda: time.monotonic())
        self._wall_now = wall or (lambda: time.time())
        now_wall = self._wall_now()
        #: The real Unix time at which this clock read ``start``.
        self.real_start = now_wall if real_start is None else float(real_start)
        self._origin = self._monotonic() - (now_wall - self.real_start)

    @classmethod
    def adopted(cls, start: dt.datetime, speed: float, real_start: float,
                source: str) -> MockClock:
        """Another process's clock (its mock time, speed and anchor), e.g. the main loop's as
        its events carry them: from now on both read the same time."""
        return cls(start, speed, real_start=real_start, source=source)

    def anchor(self) -> tuple[dt.datetime, float]:
        return self.start, self.real_start

    def reading_at(self, wall: float) -> float:
        """What this clock reads (Unix seconds) at the real Unix time ``wall``: two clocks
        agree when they read the same at the same real instant, whatever the transit time of
        the events that carried them."""
        return self._start_seconds + (wall - self.real_start) * self.speed

    def follow(self, other: MockClock) -> None:
        """Read ``other``'s time from now on (its start, speed and anchor): the main loop's,
        when this process's adopted clock turns out to disagree with it. Every holder of this
        clock follows at once (the process has one clock)."""
        self.start, self._start_seconds = other.start, other._start_seconds
        self.speed, self.real_start, self.source = other.speed, other.real_start, other.source
        self._origin = self._monotonic() - (self._wall_now() - self.real_start)

    def utc(self) -> dt.datetime:
        elapsed = (self._monotonic() - self._origin) * self.speed
        return self.start + dt.timedelta(seconds=elapsed)

    def jd(self) -> float:
        return utc_to_jd(self.utc())

    def timestamp(self) -> float:
        return self._start_seconds + (self._monotonic() - self._origin) * self.speed

    def describe(self) -> str:
        # a person reads it at start-up: to the second, with the local time at HET
        text = (f"mock clock started at {day_hms_utc_local(self.start)} (real time "
                f"{day_hms_utc(self.real_start)}) running at {self.speed:g}x real time")
        return f"{text}, {self.source}" if self.source else text


@dataclass(frozen=True)
class MockSettings:
    """``[dates] mock_time``, ``mock_speed`` and ``mock_anchor`` as the configuration gives
    them: read in one place (:func:`mock_settings`), so that every process reasons about the
    same three values."""

    start: dt.datetime
    speed: float
    #: The real instant the clock reads ``start`` (``mock_anchor``); None: when it is made.
    anchor: dt.datetime | None = None
    #: Where ``mock_time`` was set (``command line``, ``environment OCD__DATES__MOCK_TIME``,
    #: ``FILE:LINE``), for messages.
    origin: str = ""
    #: Whether a user file, the environment or ``--set`` gave ``mock_speed`` (rather than the
    #: shipped default): only then does a different speed on the bus disagree with it.
    speed_given: bool = False


def mock_settings(cfg: Config) -> MockSettings | None:
    """The mock clock the configuration asks for; None for the real clock (no ``[dates]
    mock_time``). The one place these options are read."""
    start = cfg.get_time("dates", "mock_time")
    if start is None:
        return None
    speed = cfg.get_float("dates", "mock_speed")  # its range is checked by the configuration
    return MockSettings(start, speed, cfg.get_time("dates", "mock_anchor"),
                        str(cfg.origin("dates", "mock_time")),
                        cfg.set_by_user("dates", "mock_speed"))


def clock_from(settings: MockSettings | None, source: str = "this process's own") -> Clock:
    """The real clock for None; else a mock clock pinned by ``settings.anchor`` when it is
    set, else reading ``settings.start`` now (``source`` says whose it is)."""
    if settings is None:
        return RealClock()
    if settings.anchor is not None:
        return MockClock(settings.start, settings.speed, real_start=settings.anchor.timestamp(),
                         source="pinned by [dates] mock_anchor")
    return MockClock(settings.start, settings.speed, source=source)


def clock_from_config(cfg: Config) -> Clock:
    """A mock clock when ``[dates] mock_time`` is set (pinned by ``[dates] mock_anchor`` when
    that is set too, else starting now), else the real one; nothing asked of the bus (for
    that, :mod:`ocd.shell.clock_source`)."""
    return clock_from(mock_settings(cfg))


def real_seconds(clock: Clock, seconds: float) -> float:
    """How many real seconds ``seconds`` of OCD-clock time last."""
    return seconds / clock.speed


_last_iso: tuple[int, str] = (-1, "")


def iso_utc(seconds: float) -> str:
    """``seconds`` (Unix) as ISO-8601 UTC, to the millisecond (``datetime.isoformat``'s form).
    The text of one millisecond is made once: every event carries its clock's time, and
    formatting a datetime costs as much as the rest of stamping an event. One tuple holds
    the cache, so threads never pair one millisecond with another's text."""
    global _last_iso
    ms = math.floor(seconds * 1000)
    cached_ms, text = _last_iso
    if ms != cached_ms:
        text = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat()
        _last_iso = (ms, text)
    return text
