"""Pacing a replay (pure): when each recorded event is due, and the speed-up at which a
replayed TCS stays in step with OCD's clock.

Timing rule (doc/recording.md): an event recorded ``d`` seconds after the first one is sent
``d / speedup`` real seconds after it. ``ocd run`` times the TCS with its own clock, so the
replayed TCS looks live when one recorded second lasts one OCD-clock second:
``speedup = mock_speed / recorded_speed``, where ``recorded_speed`` is the speed of the mock
clock the night was recorded on (1 for a real night).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ocd.timetext import day_hms_utc

#: The orders ``--sort-by`` accepts, each a column of the recording.
SORT_KEYS = ("id", "__data_time", "__wire_time")
#: Which recorded time paces the replay in each order (``id``: when the recorder got it).
TIME_COLUMN = {"id": "received", "__data_time": "__data_time", "__wire_time": "__wire_time"}


@dataclass(frozen=True)
class RecordedClock:
    """What a recording says about the clock its publishers ran on."""

    #: OCD-clock seconds per recorded (real) second: the mock speed of the recording, 1 for a
    #: night recorded on the real clock.
    speed: float
    #: The recorded night's first and last times, UTC (OCD clock when mocked).
    start: dt.datetime | None
    end: dt.datetime | None
    mocked: bool


@dataclass
class Pacer:
    """When each event is due (monotonic seconds): recorded intervals divided by ``speedup``;
    ``speedup`` 0 sends at once. An event without a time goes with the previous one; a time
    that goes backwards is due at once (the order is the sort order, never changed)."""

    speedup: float
    _base_real: float | None = None
    _base_time: float | None = None
    _last: float | None = None

    def due(self, recorded: float | None, now: float) -> float:
        if self.speedup <= 0:
            return now
        when = recorded if recorded is not None else self._last
        if when is None:
            return now
        if self._base_time is None:
            self._base_time = when
            if self._base_real is None:
                self._base_real = now
        self._last = when
        assert self._base_real is not None
        return self._base_real + (when - self._base_time) / self.speedup

    def next_pass(self, gap: float) -> None:
        """Start another pass (``--loop``): its first event is due ``gap`` recorded seconds
        after the last one of this pass."""
        if self.speedup <= 0 or self._last is None or self._base_real is None \
                or self._base_time is None:
            return
        end = self._base_real + (self._last - self._base_time) / self.speedup
        self._base_real = end + gap / self.speedup
        self._base_time = self._last = None


def in_step_speedup(clock_speed: float, recorded_speed: float) -> float:
    """The speed-up at which one recorded second lasts one OCD-clock second: ``clock_speed``
    is the replaying side's mock speed (1 on the real clock)."""
    return clock_speed / recorded_speed


def clock_warnings(speedup: float, recorded: RecordedClock, clock_speed: float,
                   mock_start: dt.datetime | None) -> list[str]:
    """Why ``ocd run`` on this configuration's clock would not see the replayed TCS as live."""
    warnings = []
    if speedup > 0:
        ideal = in_step_speedup(clock_speed, recorded.speed)
        if abs(speedup / ideal - 1) > 0.05:
            factor = ideal / speedup
            warnings.append(
                f"out of step: the night was recorded at {recorded.speed:g}x and this "
                f"configuration's clock runs at {clock_speed:g}x, so at -s {speedup:g} an "
                f"ocd run sees the recorded intervals (heartbeats included) {factor:.3g} times "
                f"as long in OCD-clock seconds ([tcs] heartbeat_timeout is in OCD-clock "
                f"seconds); use -s {ideal:g} to stay in step")
    if mock_start is not None and recorded.start is not None and recorded.end is not None \
            and not recorded.start <= mock_start <= recorded.end:
        warnings.append(
            f"[dates] mock_time {day_hms_utc(mock_start)} is outside the recorded night "
            f"({day_hms_utc(recorded.start)} to {day_hms_utc(recorded.end)}): the replayed sky "
            "and the scheduler's will not match")
    return warnings
