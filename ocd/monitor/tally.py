"""Following a night from its events: the shots seen (started, completed, failed,
interrupted), their exposures and observation numbers, events per topic and sequence gaps;
progress lines as things happen and a summary at the end. Pure: events in, lines out.
``ocd rehearse`` prints it; any monitor can use it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ocd.core import events as ev
from ocd.core import state_names as sn
from ocd.core.events import InboundEvent, decode
from ocd.timetext import day_hms_utc_local, hms_utc

#: Keys of the ``--summary`` JSON file, exactly.
SUMMARY_KEYS = ("shots_completed", "shots_failed", "obsnums", "events_by_topic", "gaps")
#: The machines whose changes a rehearsal prints (the shot's own lines tell run_shot's).
_TOLD_MACHINES = (sn.TCS, sn.METROLOGY, sn.HETDEX_ALLOWED)


@dataclass
class Shot:
    """One shot as its events tell it."""

    shotid: str
    track: str
    observation: int | None
    origin: str
    state: ev.ShotState = ev.RUNNING
    exposures: int = 0
    error: str = ""

    def describe(self) -> str:
        obs = f"observation {self.observation}" if self.observation is not None else "no obsnum"
        return f"{self.shotid} {self.track} ({obs})"


@dataclass
class Tally:
    """Everything a rehearsal learns from the events: progress lines and the summary."""

    exposures_per_shot: int = 3
    events_by_topic: Counter[str] = field(default_factory=Counter)
    shots: list[Shot] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    #: Set when the rehearsal stops ``ocd run``: a shot aborted then was interrupted, not failed.
    stopping: bool = False
    _last_no_shot: str = ""

    def _shot(self, origin: str, observation: int | None) -> Shot | None:
        for shot in reversed(self.shots):
            if shot.origin == origin and shot.observation == observation:
                return shot
        return None

    def feed(self, topic: str, payload: dict[str, Any]) -> list[str]:
        """Count one event; the progress lines it deserves (often none)."""
        return self.take(topic, decode(topic, payload))

    def take(self, topic: str, event: InboundEvent | None) -> list[str]:
        """Count one event of ``topic``, decoded; the progress lines it deserves."""
        self.events_by_topic[topic] += 1
        taker = _TAKERS.get(type(event))
        return [] if taker is None else taker(self, event)

    def _started(self, e: ev.ShotStarted) -> list[str]:
        started = Shot(str(e.shotid), e.track or "?", e.observation, e.origin or "?")
        self.shots.append(started)
        return [f"shot {started.shotid} ({started.track}) started: observation "
                f"{started.observation}"]

    def _ended(self, e: ev.ShotEnded) -> list[str]:
        shot = self._shot(e.origin or "?", e.observation)
        if shot is None or shot.state != ev.RUNNING:
            return []
        if not e.failed:
            shot.state = ev.COMPLETED
            return [f"shot {shot.describe()} completed"]
        shot.error = f"{e.exc_type}: {e.exc_value}"
        if self.stopping and e.shut_down:
            shot.state = ev.INTERRUPTED
            return [f"shot {shot.describe()} interrupted: the rehearsal stopped ocd run"]
        if e.aborted:  # asked for: not a fault; who and when, for the shots table
            shot.state, shot.error = ev.ABORTED_SHOT, str(e.exc_value)
            return [f"shot {shot.describe()} {e.exc_value}"]
        shot.state = ev.FAILED
        return [f"shot {shot.describe()} FAILED: {shot.error}"]

    def _step(self, e: ev.ShotStep) -> list[str]:
        if not e.finished:
            return []
        if e.step == ev.SETUP_TELESCOPE:
            return ["  telescope set up"]
        exposed = self._shot(e.origin or "?", e.observation)
        if exposed is not None:
            exposed.exposures += 1
        return [f"  exposure {e.exposure}/{self.exposures_per_shot} done "
                f"(observation {e.observation})"]

    def _state_changed(self, e: ev.StateChanged) -> list[str]:
        if e.machine in _TOLD_MACHINES:
            return [f"{e.machine}: {e.old_state} -> {e.new_state}"]
        return []

    def _decision(self, e: ev.Decision) -> list[str]:
        return [f"chose {e.shotid} {e.track}: {e.reason}"] if e.started else []

    def _no_shot(self, e: ev.NoShot) -> list[str]:
        reason = str(e.reason)
        if reason == self._last_no_shot:
            return []
        self._last_no_shot = reason
        return [f"no shot: {reason}"]

    def _error(self, e: ev.MainError) -> list[str]:
        return [f"main loop error ({e.stage}): {e.error}"]

    def gap(self, origin: str, expected: int | None, received: int, lost: int) -> str:
        self.gaps.append({"origin": origin, "expected": expected, "received": received,
                          "lost": lost})
        return f"!! lost {lost} event(s) from {origin} (expected seq {expected}, got {received})"

    def finish(self) -> None:
        """The rehearsal is over: shots still running were interrupted by its end."""
        for shot in self.shots:
            if shot.state == ev.RUNNING:
                shot.state = ev.INTERRUPTED

    def of_state(self, state: str) -> list[Shot]:
        return [s for s in self.shots if s.state == state]

    @property
    def obsnums(self) -> list[int]:
        return sorted({s.observation for s in self.shots if s.observation is not None})

    def summary(self, stored: dict[str, int] | None = None) -> dict[str, Any]:
        """The ``--summary`` JSON: exactly :data:`SUMMARY_KEYS`; the events by topic are those
        the recorder ``stored`` when given (else those this tally saw)."""
        counts = self.events_by_topic if stored is None else stored
        return {"shots_completed": len(self.of_state(ev.COMPLETED)),
                "shots_failed": len(self.of_state(ev.FAILED)),
                "obsnums": self.obsnums,
                "events_by_topic": dict(sorted(counts.items())),
                "gaps": len(self.gaps)}

    def report(self, start: dt.datetime, planned: float, speed: float, wall: float,
               reached: dt.datetime | None, stored: dict[str, int] | None = None) -> str:
        """The human summary of a night segment from ``start`` (``planned`` OCD-clock seconds
        at ``speed``), ``wall`` real seconds long, that reached ``reached``. The events by
        topic are those the recorder ``stored`` when given, with a word on why this tally's
        own count differs, if it does."""
        def shots(state: str) -> str:
            chosen = self.of_state(state)
            listed = ", ".join(s.describe() + (f": {s.error}" if state == ev.FAILED else "")
                               for s in chosen)
            return f"{len(chosen)}" + (f"  {listed}" if listed else "")

        until = hms_utc(reached) if reached else "?"
        lines = [f"rehearsal summary: OCD clock {day_hms_utc_local(start)} to {until} "
                 f"({planned / 60:g} min planned), {wall:.1f} s of wall time at "
                 f"{speed:g}x",
                 f"  shots completed:     {shots('completed')}",
                 f"  shots failed:        {shots('failed')}"]
        if self.of_state(ev.ABORTED_SHOT):
            lines.append(f"  shots aborted:       {shots('aborted')}")
        if self.of_state(ev.INTERRUPTED):
            lines.append(f"  interrupted at end:  {shots('interrupted')}")
        obsnums = ", ".join(map(str, self.obsnums)) or "none"
        lines.append(f"  observation numbers: {obsnums}")
        counts = self.events_by_topic if stored is None else stored
        what = "events by topic" if stored is None else "events recorded, by topic"
        lines.append(f"  {what} ({sum(counts.values())} in all):")
        width = max((len(t) for t in counts), default=0)
        for topic, count in sorted(counts.items()):
            lines.append(f"    {topic:<{width}}  {count:6d}")
        seen = sum(self.events_by_topic.values())
        if stored is not None and self.events_by_topic != stored:
            lines.append(f"    (the rehearsal's own monitor received {seen}: it connects before "
                         "the recorder starts and stops reading before the recorder stops)")
        if not self.gaps:
            lines.append("  sequence gaps:       none")
        else:
            lost = sum(g["lost"] for g in self.gaps)
            lines.append(f"  sequence gaps:       {len(self.gaps)} ({lost} event(s) lost)")
            for gap in self.gaps[:10]:
                lines.append(f"    {gap['origin']}: expected seq {gap['expected']}, got "
                             f"{gap['received']}")
        return "\n".join(lines)


_TAKERS: dict[type, Callable[[Tally, Any], list[str]]] = {
    ev.ShotStarted: Tally._started,
    ev.ShotEnded: Tally._ended,
    ev.ShotStep: Tally._step,
    ev.StateChanged: Tally._state_changed,
    ev.Decision: Tally._decision,
    ev.NoShot: Tally._no_shot,
    ev.MainError: Tally._error,
}
