"""A night as a timeline: every shot, every idle period with its reason, and the totals.
Pure: events (with their OCD-clock time) in, a :class:`NightReport` out.

What it reads is what the main loop published, so the report says what OCD did and why, the
way a monitor of a real night would tell it:

- a shot is its ``ocd.run_shot.run`` start and finish (whoever published them: the main loop,
  or an RA's ``ocd run_shot -e``, told apart by ``__origin``), why it was chosen is the
  ``ocd.main_loop.decision`` before it;
- idle is any time no shot runs, and its reason is the first of: a shot run by hand, the TCS
  down (``tcs`` dead), HETDEX forbidden (``hetdex_allowed`` not_allowed), bad conditions
  (``metrology`` bad), the pause after a failed shot or a failed step (``run_shot`` error,
  ``ocd.main_loop.error``), or what the scheduler last answered (``ocd.main_loop.no_shot``:
  twilight, conditions, no observable shot);
- the totals count shots by outcome, the exposure time taken against the dark time, and the
  idle time by reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ocd.core import events as ev
from ocd.core import state_names as sn
from ocd.core import topics
from ocd.core.events import InboundEvent, decode
from ocd.core.state_names import blocks_shots
from ocd.core.topics import TcsTopics

#: Idle reasons, in the order reports list them.
TWILIGHT = "twilight"
NO_SHOT = "no observable shot"
CONDITIONS = "conditions"
TCS_DOWN = "TCS down"
FORBIDDEN = "forbidden"
ERROR_PAUSE = "error pause"
BY_HAND = "shot by hand"
STARTING = "starting"
IDLE_REASONS = (TWILIGHT, NO_SHOT, CONDITIONS, TCS_DOWN, FORBIDDEN, ERROR_PAUSE, BY_HAND,
                STARTING)

#: How the scheduler's reasons for no shot begin (``ocd.sky.scheduler``): dark time first,
#: then the conditions; anything else means no shot is observable (or none is left).
_TWILIGHT_WORDS = ("not dark", "dark time ends")
_CONDITION_WORDS = ("seeing ", "transparency ")


#: Why no shot starts when a machine blocks shots, the first that does in this order (a
#: running ``run_shot`` is told from the shots themselves: only its error pause counts).
_BLOCKED = ((sn.TCS, (TCS_DOWN, "")), (sn.HETDEX_ALLOWED, (FORBIDDEN, "")),
            (sn.METROLOGY, (CONDITIONS, "guider metrology out of limits")),
            (sn.RUN_SHOT, (ERROR_PAUSE, "after a failed shot")))


def no_shot_kind(reason: str) -> str:
    """The idle reason a scheduler's "no shot" stands for."""
    if reason.startswith(_TWILIGHT_WORDS):
        return TWILIGHT
    if reason.startswith(_CONDITION_WORDS):
        return CONDITIONS
    return NO_SHOT


@dataclass
class ShotRecord:
    """One shot of the night."""

    shotid: str
    track: str
    observation: int | None
    start: float
    origin: str
    by_hand: bool
    reason: str = ""  # why the main loop chose it
    end: float | None = None
    outcome: ev.ShotState = ev.RUNNING
    error: str = ""
    exposures: int = 0
    exposure_seconds: float = 0.0
    ra: float | None = None
    dec: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"shotid": self.shotid, "track": self.track, "observation": self.observation,
                "start": _iso(self.start), "end": _iso(self.end), "outcome": self.outcome,
                "by_hand": self.by_hand, "reason": self.reason, "error": self.error,
                "exposures": self.exposures,
                "exposure_seconds": round(self.exposure_seconds, 1)}


@dataclass
class IdlePeriod:
    """A time without a shot of the main loop, and why."""

    start: float
    end: float
    reason: str
    detail: str = ""

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def as_dict(self) -> dict[str, Any]:
        return {"start": _iso(self.start), "end": _iso(self.end), "reason": self.reason,
                "detail": self.detail, "minutes": round(self.seconds / 60.0, 1)}


@dataclass
class NightReport:
    """What one night came to."""

    start: float
    end: float
    dark_start: float | None
    dark_end: float | None
    shots: list[ShotRecord]
    idle: list[IdlePeriod]
    errors: list[tuple[float, str]]
    metrology: list[tuple[float, float | None, float | None]]

    @property
    def dark_seconds(self) -> float:
        if self.dark_start is None or self.dark_end is None:
            return 0.0
        return max(0.0, min(self.end, self.dark_end) - max(self.start, self.dark_start))

    def count(self, outcome: str) -> int:
        return sum(1 for s in self.shots if s.outcome == outcome)

    @property
    def exposure_seconds(self) -> float:
        return sum(s.exposure_seconds for s in self.shots)

    def idle_by_reason(self) -> dict[str, float]:
        """Idle seconds per reason, in :data:`IDLE_REASONS` order (only those that occur)."""
        totals: dict[str, float] = {}
        for period in self.idle:
            totals[period.reason] = totals.get(period.reason, 0.0) + period.seconds
        return {reason: totals[reason] for reason in IDLE_REASONS if totals.get(reason, 0) > 0}

    def totals(self) -> dict[str, Any]:
        return {"shots_completed": self.count(ev.COMPLETED),
                "shots_failed": self.count(ev.FAILED),
                "shots_aborted": self.count(ev.ABORTED_SHOT),
                "shots_interrupted": self.count(ev.INTERRUPTED),
                "exposure_hours": round(self.exposure_seconds / 3600.0, 3),
                "dark_hours": round(self.dark_seconds / 3600.0, 3),
                "idle_hours": {reason: round(seconds / 3600.0, 3)
                               for reason, seconds in self.idle_by_reason().items()},
                "errors": len(self.errors)}

    def as_dict(self) -> dict[str, Any]:
        return {"start": _iso(self.start), "end": _iso(self.end),
                "dark_start": _iso(self.dark_start), "dark_end": _iso(self.dark_end),
                "shots": [s.as_dict() for s in self.shots],
                "idle": [p.as_dict() for p in self.idle],
                "errors": [{"time": _iso(t), "error": e} for t, e in self.errors],
                "totals": self.totals()}


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Timeline:
    """Follows a night's events (:meth:`feed`) and builds its :class:`NightReport`."""

    main_origin: str
    start: float
    #: The guiders' metrology topics (``[topics] metrology``): their readings are kept, one
    #: every ``metrology_step`` seconds at most (enough for a curve; a month of nights stays
    #: small).
    metrology_topics: tuple[str, ...] = topics.GUIDER_METROLOGY
    metrology_step: float = 60.0
    states: dict[str, str] = field(default_factory=lambda: dict(sn.INITIAL))
    shots: list[ShotRecord] = field(default_factory=list)
    idle: list[IdlePeriod] = field(default_factory=list)
    errors: list[tuple[float, str]] = field(default_factory=list)
    metrology: list[tuple[float, float | None, float | None]] = field(default_factory=list)
    _running: dict[str, ShotRecord] = field(default_factory=dict)
    _decision: str = ""
    _no_shot: str = ""
    _paused: str = ""
    _idle_reason: tuple[str, str] | None = None
    _idle_since: float = 0.0

    def __post_init__(self) -> None:
        self._idle_since = self.start
        self._idle_reason = self._reason()

    # -- the events --------------------------------------------------------------------------
    def topics(self) -> tuple[str, ...]:
        """The topics :meth:`feed` reads (the others change nothing)."""
        return (topics.RUN_SHOT_RUN, topics.RUN_SHOT_EXP_HETDEX, topics.STATES_CHANGE,
                topics.MAIN_DECISION, topics.MAIN_NO_SHOT, topics.MAIN_ERROR,
                *self.metrology_topics)

    def feed(self, now: float, topic: str, payload: dict[str, Any]) -> None:
        """One event at OCD-clock time ``now``, from its topic and payload."""
        self.take(now, decode(topic, payload, TcsTopics(metrology=self.metrology_topics)))

    def take(self, now: float, event: InboundEvent | None) -> None:
        """One decoded event at OCD-clock time ``now``."""
        taker = _TAKERS.get(type(event))
        if taker is not None:
            taker(self, now, event)
        self._update(now)

    def _step(self, now: float, e: ev.ShotStep) -> None:
        shot = self._running.get(e.origin)
        if e.step == ev.EXP_HETDEX and e.finished and shot is not None:
            shot.exposures += 1
            shot.exposure_seconds += e.seconds or 0.0

    def _state_changed(self, now: float, e: ev.StateChanged) -> None:
        if e.machine is not None and e.new_state is not None:
            self.states[e.machine] = e.new_state

    def _chose(self, now: float, e: ev.Decision) -> None:
        if e.started:  # (a start refused leaves a pause as it was)
            self._paused = ""
            self._decision = e.reason or ""
            self._no_shot = ""

    def _no_shot_said(self, now: float, e: ev.NoShot) -> None:
        self._no_shot = e.reason or ""
        self._paused = ""

    def _error(self, now: float, e: ev.MainError) -> None:
        error = f"{e.stage}: {e.error}"
        self.errors.append((now, error))
        if e.pauses:
            self._paused = error

    def _reading(self, now: float, e: ev.GuiderReading) -> None:
        if not self.metrology or now - self.metrology[-1][0] >= self.metrology_step:
            self.metrology.append((now, e.seeing, e.transparency))

    def _started(self, now: float, e: ev.ShotStarted) -> None:
        mine = e.origin == self.main_origin
        shot = ShotRecord(str(e.shotid), e.track or "?", e.observation, now, e.origin,
                          by_hand=not mine, reason=self._decision if mine else "run by hand",
                          ra=e.ra, dec=e.dec)
        if mine:
            self._decision = ""
        self.shots.append(shot)
        self._running[e.origin] = shot

    def _ended(self, now: float, e: ev.ShotEnded) -> None:
        if e.origin not in self._running:
            return
        shot = self._running.pop(e.origin)
        shot.end = now
        shot.outcome = e.outcome
        if e.failed:
            shot.error = f"{e.exc_type}: {e.exc_value or ''}"

    # -- idle periods ------------------------------------------------------------------------
    def _reason(self) -> tuple[str, str] | None:
        """Why no shot of the main loop runs now (None: one runs)."""
        if self.main_origin in self._running:
            return None
        if self._running:
            return BY_HAND, ", ".join(r.shotid for r in self._running.values())
        for machine, reason in _BLOCKED:
            state = self.states.get(machine)
            if state is not None and blocks_shots(machine, state) \
                    and not (machine == sn.RUN_SHOT and state == sn.RUN_SHOT_RUNNING):
                return reason
        if self._paused:
            return ERROR_PAUSE, self._paused
        if self._no_shot:
            return no_shot_kind(self._no_shot), self._no_shot
        return STARTING, ""

    def _update(self, now: float) -> None:
        reason = self._reason()
        if reason == self._idle_reason:
            return
        self._close(now)
        self._idle_reason, self._idle_since = reason, now

    def _close(self, now: float) -> None:
        if self._idle_reason is not None and now > self._idle_since:
            kind, detail = self._idle_reason
            last = self.idle[-1] if self.idle else None
            if last is not None and last.reason == kind and last.end == self._idle_since:
                last.end = now  # the same reason, another detail: one period
            else:
                self.idle.append(IdlePeriod(self._idle_since, now, kind, detail))

    def report(self, end: float, dark: tuple[float, float] | None = None) -> NightReport:
        """The night up to ``end``; shots still running then are cut by it."""
        self._close(end)
        self._idle_since = end
        return NightReport(self.start, end, dark[0] if dark else None,
                           dark[1] if dark else None, self.shots, self.idle, self.errors,
                           self.metrology)


_TAKERS: dict[type, Callable[[Timeline, float, Any], None]] = {
    ev.ShotStarted: Timeline._started,
    ev.ShotEnded: Timeline._ended,
    ev.ShotStep: Timeline._step,
    ev.StateChanged: Timeline._state_changed,
    ev.Decision: Timeline._chose,
    ev.NoShot: Timeline._no_shot_said,
    ev.MainError: Timeline._error,
    ev.GuiderReading: Timeline._reading,
}
