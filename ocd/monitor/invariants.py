"""The rules a night must keep, checked from its events. Pure: events in, violations out.

The checker keeps its own view of the world from the inputs, not from what the main loop says
about them: when the last TCS heartbeat came, whether HETDEX shots were last allowed or
forbidden, the guiders' fresh readings, which shots run. Against it, it checks:

- observation numbers are unique and increasing per date (every shot's start, whoever ran it);
- no shot of the main loop starts while HETDEX is forbidden, the TCS is dead (no heartbeat for
  ``heartbeat_timeout``), metrology is bad (the median of the fresh readings out of limits),
  or another shot runs;
- the main loop never waits for nothing: while every condition of its own is met and no shot
  of its runs, it decides, says why not, or reports an error at least every ``idle_limit``
  seconds (a failed start must not leave it waiting);
- every started shot ends (:meth:`InvariantChecker.finish`);
- ``n_obs`` goes down by exactly one per completed shot and never below 0
  (:func:`bookkeeping_violations`, from the shot list before and after).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ocd.core import events as ev
from ocd.core import state_names as sn
from ocd.core import topics
from ocd.core.events import InboundEvent, decode
from ocd.core.topics import TcsTopics
from ocd.timetext import day_hms_utc


@dataclass(frozen=True)
class Limits:
    """What the rules measure against (the configuration the night ran with)."""

    heartbeat_timeout: float
    max_seeing: float
    min_transparency: float
    stale_after: float
    #: Longest time (OCD-clock seconds) the main loop may stay silent with its conditions met.
    idle_limit: float
    tcs: TcsTopics = field(default_factory=TcsTopics)


def _time(seconds: float) -> str:
    return day_hms_utc(seconds)


@dataclass
class InvariantChecker:
    """Follows a night's events (:meth:`feed`); :attr:`violations` lists what broke a rule."""

    limits: Limits
    main_origin: str
    violations: list[str] = field(default_factory=list)
    #: Completed shots by shotid (whoever ran them), for :func:`bookkeeping_violations`.
    completed: Counter[str] = field(default_factory=Counter)
    starts: int = 0
    _last_heartbeat: float | None = None
    _allowed: bool = False
    _readings: dict[str, tuple[float, float | None, float | None]] = field(default_factory=dict)
    _running: dict[str, str] = field(default_factory=dict)  # origin -> shotid
    _numbers: dict[dt.date, int] = field(default_factory=dict)
    _meta: str = sn.UNSATISFIED
    _free_since: float | None = None

    def _violate(self, now: float, text: str) -> None:
        self.violations.append(f"{_time(now)}: {text}")

    def topics(self) -> tuple[str, ...]:
        """The topics :meth:`feed` reads: the others change nothing (the TCS's keep the
        liveness rule checked all night)."""
        tcs = self.limits.tcs
        return (tcs.heartbeat, *tcs.metrology, topics.COMMAND_ALLOW, topics.RUN_SHOT_RUN,
                topics.STATES_CHANGE, topics.MAIN_DECISION, topics.MAIN_NO_SHOT,
                topics.MAIN_ERROR)

    def feed(self, now: float, topic: str, payload: Mapping[str, Any]) -> None:
        """One event at OCD-clock time ``now``, from its topic and payload."""
        self.take(now, decode(topic, payload, self.limits.tcs))

    def take(self, now: float, event: InboundEvent | None) -> None:
        """One decoded event at OCD-clock time ``now``."""
        if isinstance(event, ev.TcsHeartbeat):
            self._last_heartbeat = now
        elif isinstance(event, ev.GuiderReading):
            self._readings[event.guider] = (now, event.seeing, event.transparency)
        elif isinstance(event, ev.AllowHetdex) and event.allowed is not None:
            self._allowed = event.allowed
        elif isinstance(event, ev.ShotStarted):
            self._started(now, event)
        elif isinstance(event, ev.ShotEnded):
            self._ended(now, event)
        elif isinstance(event, ev.StateChanged) and event.machine == sn.META:
            self._meta = str(event.new_state)
        elif isinstance(event, (ev.Decision, ev.NoShot, ev.MainError)):
            self._acted(now)
        self.check_idle(now)

    # -- shots ---------------------------------------------------------------------------
    def _started(self, now: float, e: ev.ShotStarted) -> None:
        shotid = str(e.shotid)
        self.starts += 1
        if e.origin == self.main_origin:
            self._check_start(now, shotid)
            self._acted(now)
        self._check_number(now, shotid, e.observation)
        self._running[e.origin] = shotid

    def _ended(self, now: float, e: ev.ShotEnded) -> None:
        if e.origin not in self._running:
            return
        del self._running[e.origin]
        if not e.failed:
            self.completed[str(e.shotid)] += 1
        if e.origin == self.main_origin:
            self._acted(now)

    def _check_start(self, now: float, shotid: str) -> None:
        why = []
        if not self._allowed:
            why.append("HETDEX shots are forbidden")
        last = self._last_heartbeat
        if last is None or now - last > self.limits.heartbeat_timeout:
            why.append("the TCS is dead (" + ("no heartbeat yet" if last is None else
                                              f"last heartbeat {now - last:.1f} s ago") + ")")
        bad = self._bad_conditions(now)
        if bad:
            why.append(f"metrology is bad ({bad})")
        if self._running:
            why.append("another shot runs (" + ", ".join(
                f"{s} by {o}" for o, s in sorted(self._running.items())) + ")")
        if why:
            self._violate(now, f"shot {shotid} started while " + "; ".join(why))

    def _bad_conditions(self, now: float) -> str:
        fresh = [r for r in self._readings.values() if now - r[0] <= self.limits.stale_after]
        seeing = [r[1] for r in fresh if r[1] is not None]
        transparency = [r[2] for r in fresh if r[2] is not None]
        problems = []
        if seeing and statistics.median(seeing) > self.limits.max_seeing:
            problems.append(f"seeing {statistics.median(seeing):.2f}")
        if transparency and statistics.median(transparency) < self.limits.min_transparency:
            problems.append(f"transparency {statistics.median(transparency):.2f}")
        return ", ".join(problems)

    def _check_number(self, now: float, shotid: str, observation: int | None) -> None:
        if observation is None:
            self._violate(now, f"shot {shotid} started without an observation number")
            return
        date = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
        last = self._numbers.get(date)
        if last is not None and observation <= last:
            self._violate(now, f"shot {shotid} started as observation {observation} on "
                               f"{date}, not above the previous one ({last})")
        self._numbers[date] = max(observation, last or 0)

    # -- liveness ------------------------------------------------------------------------
    def _acted(self, now: float) -> None:
        self._free_since = now

    def check_idle(self, now: float) -> None:
        """The main loop, free to act (conditions met, no shot of its own), must act."""
        free = self._meta == sn.SATISFIED and self.main_origin not in self._running
        if not free:
            self._free_since = None
            return
        if self._free_since is None:
            self._free_since = now
        elif now - self._free_since > self.limits.idle_limit:
            self._violate(now, f"the main loop did nothing for {now - self._free_since:.0f} s "
                               "with every condition met (no decision, no 'no shot', no error)")
            self._free_since = now  # once per silent stretch

    def finish(self, now: float) -> None:
        """The night is over (after the main loop stopped): every shot must have ended."""
        self.check_idle(now)
        for origin, shotid in sorted(self._running.items()):
            self._violate(now, f"shot {shotid} by {origin} started and never ended")


def bookkeeping_violations(before: Mapping[str, int], after: Mapping[str, int],
                           completed: Mapping[str, int]) -> list[str]:
    """``n_obs`` of each shot ``before`` and ``after`` a night, against its completed shots:
    down by one per completed shot, never below 0 (a shot completed more often than it had
    visits left stays at 0)."""
    problems = []
    for shotid, initial in before.items():
        final = after.get(shotid)
        done = completed.get(shotid, 0)
        if final is None:
            problems.append(f"shot {shotid} is missing from the list after the night")
        elif final < 0:
            problems.append(f"shot {shotid} has n_obs {final}, below 0")
        elif final != max(0, initial - done):
            problems.append(f"shot {shotid}: n_obs {initial} before, {done} completed, "
                            f"{final} after (expected {max(0, initial - done)})")
    for shotid in set(completed) - set(before):
        problems.append(f"shot {shotid} completed but is not in the shot list")
    return problems
