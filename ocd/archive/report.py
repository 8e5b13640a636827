"""A night of the archive told the way ``ocd simulate`` tells a simulated one: the shots, the
idle stretches and why, the errors, and the commands with who sent them. Pure: the stored
events in, a :class:`ArchivedNight` out.

The interpretation is the monitors' own: the shots, idle stretches and errors come from
:class:`~ocd.monitor.timeline.Timeline` (the report of ``ocd simulate``), the commands from
:class:`~ocd.monitor.narrator.Narrator` (the main loop's log); nothing here decides what an
event means.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import orjson

from ocd.core import topics
from ocd.core.events import decode
from ocd.monitor.narrator import Line, Narrator
from ocd.monitor.night_table import aligned, clip, hm, night_rows
from ocd.monitor.timeline import NightReport, Timeline

#: The prefix of the main loop's origin, and of its shot publisher's (same host and pid).
MAIN_LOOP = "ocd_main_loop@"
SHOTS = "ocd_run_shot@"
#: Lines of commands and gaps kept for a night (a hostile bus cannot make a report huge).
MAX_LINES = 2000


def report_topics() -> tuple[str, ...]:
    """The topics a night's report reads: the timeline's (its metrology curve aside: the
    report does not draw it) and the commands with their answers."""
    timeline = Timeline(MAIN_LOOP, 0.0, metrology_topics=())
    return (*timeline.topics(), topics.COMMAND_ALLOW, topics.COMMAND_ABORT,
            topics.COMMAND_CONFIG, *topics.ACK_TOPICS)


@dataclass
class ArchivedNight:
    """What the archive says of one night."""

    night: dt.date
    report: NightReport
    events: int
    commands: list[Line] = field(default_factory=list)
    gaps: list[tuple[str, int, int, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"night": self.night.isoformat(), "events": self.events,
                **self.report.as_dict(),
                "commands": [{"level": line.level, "text": line.text}
                             for line in self.commands],
                "gaps": [{"origin": origin, "before_seq": seq, "missing": missing,
                          "time": _iso(at)} for origin, seq, missing, at in self.gaps]}


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="seconds")


def tell_night(night: dt.date, span: tuple[float, float, int],
               events: list[tuple[str, str, float]],
               gaps: list[tuple[str, int, int, float]]) -> ArchivedNight:
    """The night from its stored events (topic, payload text, OCD time), in time order."""
    first, last, count = span
    timeline = Timeline(SHOTS, first, metrology_topics=())
    narrator = Narrator()
    commands: list[Line] = []
    for topic, text, at in events:
        try:
            payload = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(payload, dict):
            continue
        origin = payload.get("__origin")
        if isinstance(origin, str) and origin.startswith(MAIN_LOOP):
            # the shots of this main loop are its shot publisher's (a restarted ocd run is
            # a new origin: from then on, its shots are the main loop's)
            timeline.main_origin = narrator.main_origin = SHOTS + origin[len(MAIN_LOOP):]
        event = decode(topic, payload)
        timeline.take(at, event)
        if topic.startswith(topics.COMMAND_PREFIX) or topic in topics.ACK_TOPICS:
            when = dt.datetime.fromtimestamp(at, dt.timezone.utc)
            commands.extend(narrator.tell(event, when))
    report = timeline.report(max(last, first))
    return ArchivedNight(night, report, count, commands[:MAX_LINES], gaps[:MAX_LINES])


# -- for a person ------------------------------------------------------------------------------
def render_night(night: ArchivedNight) -> str:
    """The night for a person (every text from the bus is escaped by the caller)."""
    report = night.report
    totals = report.totals()
    lines = [f"night {night.night.isoformat()}: {night.events} events archived, "
             f"{_iso(report.start)} to {_iso(report.end)}"]
    lines += aligned(night_rows(report))
    idle = ", ".join(f"{reason} {hours:.1f} h" for reason, hours in totals["idle_hours"].items())
    lines.append(f"shots: {totals['shots_completed']} completed, {totals['shots_failed']} "
                 f"failed, {totals['shots_aborted']} aborted, {totals['shots_interrupted']} "
                 f"interrupted; exposure {totals['exposure_hours']:.2f} h"
                 + (f"; idle: {idle}" if idle else ""))
    if report.errors:
        lines.append(f"errors ({len(report.errors)}):")
        lines += [f"  {hm(at)}  {clip(error, 150)}" for at, error in report.errors[:50]]
    if night.commands:
        lines.append(f"commands ({len(night.commands)}):")
        lines += [f"  {clip(line.text, 150)}" for line in night.commands]
    if night.gaps:
        lost = sum(missing for _, _, missing, _ in night.gaps)
        lines.append(f"sequence gaps: {len(night.gaps)} ({lost} event(s) never archived)")
        lines += [f"  {hm(at)}  {missing} event(s) of {clip(origin, 80)} before seq {seq}"
                  for origin, seq, missing, at in night.gaps[:50]]
    else:
        lines.append("sequence gaps: none")
    return "\n".join(lines)


def render_visits(shotid: str, visits: list[dict[str, Any]]) -> str:
    """A shot's visits for a person."""
    if not visits:
        return f"shot {shotid}: no visit in the archive"
    rows: list[tuple[str, ...]] = [("night", "start", "end", "obs", "track", "outcome",
                                    "by / error")]
    for v in visits:
        rows.append((v["night"].isoformat(), hm(v["start_at"]), hm(v["end_at"]),
                     str(v["observation"] or ""), v["track"] or "", v["outcome"],
                     clip(v["error"] or v["origin"], 100)))
    return "\n".join([f"shot {shotid}: {len(visits)} visit(s)", *aligned(rows)])


def visit_document(visit: dict[str, Any]) -> dict[str, Any]:
    """A visit as JSON."""
    return {"night": visit["night"].isoformat(), "origin": visit["origin"],
            "observation": visit["observation"] or None, "track": visit["track"],
            "start": None if visit["start_at"] is None else _iso(visit["start_at"]),
            "end": None if visit["end_at"] is None else _iso(visit["end_at"]),
            "outcome": visit["outcome"], "error": visit["error"]}
