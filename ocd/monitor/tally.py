"""Following a night from its events: the shots seen (started, completed, failed,
interrupted), their exposures and observation numbers, events per topic and sequence gaps;
progress lines as things happen and a summary at the end. Pure: events in, lines out.
``ocd rehearse`` prints it; any monitor can use it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ocd.core import topics

#: Keys of the ``--summary`` JSON file, exactly.
SUMMARY_KEYS = ("shots_completed", "shots_failed", "obsnums", "events_by_topic", "gaps")


@dataclass
class Shot:
    """One shot as its events tell it."""

    shotid: str
    track: str
    observation: int | None
    origin: str
    state: str = "running"  # running, completed, failed, interrupted
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

    def _shot(self, origin: str, payload: dict[str, Any]) -> Shot | None:
        observation = payload.get("observation")
        for shot in reversed(self.shots):
            if shot.origin == origin and shot.observation == observation:
                return shot
        return None

    def feed(self, topic: str, payload: dict[str, Any]) -> list[str]:
        """Count one event; the progress lines it deserves (often none)."""
        self.events_by_topic[topic] += 1
        data = payload
        origin = str(payload.get("__origin") or "?")
        if topic == topics.RUN_SHOT_RUN:
            if data.get("exec_status") == 0:
                started = Shot(str(data.get("shotid")), str(data.get("obs_track") or "?"),
                               data.get("observation") if isinstance(data.get("observation"),
                                                                     int) else None, origin)
                self.shots.append(started)
                return [f"shot {started.shotid} ({started.track}) started: observation "
                        f"{started.observation}"]
            shot = self._shot(origin, data)
            if shot is None or shot.state != "running":
                return []
            if not data.get("error"):
                shot.state = "completed"
                return [f"shot {shot.describe()} completed"]
            shot.error = f"{data.get('exc_type')}: {data.get('exc_value')}"
            if self.stopping and data.get("exc_value") == "shutdown":
                shot.state = "interrupted"
                return [f"shot {shot.describe()} interrupted: the rehearsal stopped ocd run"]
            shot.state = "failed"
            return [f"shot {shot.describe()} FAILED: {shot.error}"]
        if topic == topics.RUN_SHOT_SETUP_TELESCOPE and data.get("exec_status") == 1:
            return ["  telescope set up"]
        if topic == topics.RUN_SHOT_EXP_HETDEX and data.get("exec_status") == 1:
            exposed = self._shot(origin, data)
            if exposed is not None:
                exposed.exposures += 1
            return [f"  exposure {data.get('exposure')}/{self.exposures_per_shot} done "
                    f"(observation {data.get('observation')})"]
        if topic == topics.STATES_CHANGE and data.get("machine_name") in ("tcs", "metrology",
                                                                         "hetdex_allowed"):
            return [f"{data.get('machine_name')}: {data.get('old_state')} -> "
                    f"{data.get('new_state')}"]
        if topic == topics.MAIN_DECISION and data.get("started"):
            return [f"chose {data.get('shotid')} {data.get('track')}: {data.get('reason')}"]
        if topic == topics.MAIN_NO_SHOT:
            reason = str(data.get("reason"))
            if reason != self._last_no_shot:
                self._last_no_shot = reason
                return [f"no shot: {reason}"]
        if topic == topics.MAIN_ERROR:
            return [f"main loop error ({data.get('stage')}): {data.get('error')}"]
        return []

    def gap(self, origin: str, expected: int | None, received: int, lost: int) -> str:
        self.gaps.append({"origin": origin, "expected": expected, "received": received,
                          "lost": lost})
        return f"!! lost {lost} event(s) from {origin} (expected seq {expected}, got {received})"

    def finish(self) -> None:
        """The rehearsal is over: shots still running were interrupted by its end."""
        for shot in self.shots:
            if shot.state == "running":
                shot.state = "interrupted"

    def of_state(self, state: str) -> list[Shot]:
        return [s for s in self.shots if s.state == state]

    @property
    def obsnums(self) -> list[int]:
        return sorted({s.observation for s in self.shots if s.observation is not None})

    def summary(self, stored: dict[str, int] | None = None) -> dict[str, Any]:
        """The ``--summary`` JSON: exactly :data:`SUMMARY_KEYS`; the events by topic are those
        the recorder ``stored`` when given (else those this tally saw)."""
        counts = self.events_by_topic if stored is None else stored
        return {"shots_completed": len(self.of_state("completed")),
                "shots_failed": len(self.of_state("failed")),
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
            listed = ", ".join(s.describe() + (f": {s.error}" if state == "failed" else "")
                               for s in chosen)
            return f"{len(chosen)}" + (f"  {listed}" if listed else "")

        until = reached.strftime("%H:%M:%S") if reached else "?"
        lines = [f"rehearsal summary: OCD clock {start:%Y-%m-%d %H:%M:%S} to {until} "
                 f"UTC ({planned / 60:g} min planned), {wall:.1f} s of wall time at "
                 f"{speed:g}x",
                 f"  shots completed:     {shots('completed')}",
                 f"  shots failed:        {shots('failed')}"]
        if self.of_state("interrupted"):
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
