"""How a monitor shows events as text: one line per event, gaps and restarts as ``!!`` lines,
or one strict JSON object per line. Pure functions, shared by ``ocd listen`` and anything else
that prints events."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Sequence
from functools import cache
from typing import Any

from ocd.bus.envelope import Event
from ocd.bus.schemas import topic_schemas
from ocd.bus.sequence import SeqCheck, SeqKind
from ocd.core import topics as names
from ocd.core.payload import finite_number, ocd_time
from ocd.core.topics import OCD_PREFIX
from ocd.timetext import hms

#: Widest line printed for an event without key fields (a TCS event, say).
MAX_LINE = 200
#: Fields shown for events of topics without a schema.
MAX_FIELDS = 8


@cache
def key_fields(topic: str) -> tuple[str, ...] | None:
    """The fields worth a glance for an OCD topic (from its schema), None for other topics
    (TCS events are shown whole: a TCS may send more than OCD reads)."""
    schema = topic_schemas().get(topic) if topic.startswith(OCD_PREFIX) else None
    return tuple(schema.get("x-ocd-key-fields", ())) if schema else None


def routine_topics(tcs: names.TcsTopics, asked: Sequence[str] = ()) -> tuple[str, ...]:
    """The periodic topics a person does not want to read (state re-publications, the status,
    TCS heartbeats, pointing, guider metrology, a shot's progress while it waits on a
    subsystem, heartbeat enquiries and replies), except those an ``asked`` prefix (``-t``)
    selects."""
    periodic = (*tcs.all(), names.STATES_STATE, names.MAIN_STATUS, names.RUN_SHOT_PROGRESS,
                names.HEARTBEAT_ENQUIRY, names.HEARTBEAT_REPLY, names.ALARM_LIST)
    return tuple(t for t in periodic if not any(t.startswith(prefix) for prefix in asked))


def event_time(event: Event, received: float | None = None) -> str:
    """When the event happened, ``HH:MM:SS`` UTC as a person reads it: OCD's clock (mock
    time in a rehearsal, marked ``mock``), else the TCS data time, else ``received`` (Unix
    seconds). The exact times stay in the payload (``--json``)."""
    payload = event.payload
    when: dt.datetime | float | None = ocd_time(payload)
    if when is None:
        when = finite_number(payload.get("__data_time"))
        if when is None or not -1e10 < when < 1e11:
            when = time.time() if received is None else received
    return hms(when) + (" mock" if payload.get("__clock") == "mock" else "")


def _value(value: Any) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in "=\"" for c in value):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def format_line(event: Event, received: float | None = None) -> str:
    """One human line: time, topic and the key fields (``name=value``)."""
    data = event.data
    names = key_fields(event.topic)
    if names is None:
        names = tuple(list(data)[:MAX_FIELDS])
    fields = " ".join(f"{name}={_value(data[name])}" for name in names if name in data)
    line = f"{event_time(event, received)}  {event.topic}  {fields}".rstrip()
    if len(line) > MAX_LINE:
        line = line[:MAX_LINE - 1] + "…"
    return line


#: The alarm topics a monitor shows apart from the stream (:func:`format_alarm`).
ALARM_TOPICS = (names.ALARM_RAISED, names.ALARM_CLEARED, names.ALARM_ACKNOWLEDGED,
                names.ALARM_MUTED)
#: ANSI colours of an alarm line on a terminal, by severity (a clear is green).
_COLOURS = {"critical": "\x1b[1;37;41m", "serious": "\x1b[1;31m", "warning": "\x1b[33m"}
_CLEARED, _RESET = "\x1b[32m", "\x1b[0m"


def format_alarm(event: Event, received: float | None = None) -> str:
    """An alarm as a line that stands out: ``ALARM``, the time, what happened to which alarm,
    its severity, reason and who acknowledged or muted it. Text from the payload as sent (the
    caller escapes the line)."""
    data = event.data
    what = event.topic.rpartition(".")[2].upper()
    if what == "RAISED" and data.get("escalated") is True:
        what = f"RAISED AGAIN ({_value(data.get('times'))})"
    severity, reason = data.get("severity"), data.get("reason") or data.get("summary")
    line = (f"ALARM {event_time(event, received)}  {what} {_value(data.get('alarm'))}"
            + (f" [{severity}]" if isinstance(severity, str) else "")
            + (f": {reason}" if isinstance(reason, str) else "")
            + (f" (by {data['by']})" if isinstance(data.get("by"), str) else ""))
    return line[:MAX_LINE - 1] + "…" if len(line) > MAX_LINE else line


def alarm_colour(event: Event) -> tuple[str, str]:
    """The ANSI codes around an alarm line on a terminal (nothing for an unknown severity)."""
    if event.topic == names.ALARM_CLEARED:
        return _CLEARED, _RESET
    start = _COLOURS.get(str(event.payload.get("severity")))
    return (start, _RESET) if start else ("", "")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def format_json(event: Event) -> str:
    """One JSON object per line: ``{"topic": ..., "payload": {...}}``. Always strict JSON
    (a NaN or infinity from a foreign publisher becomes null)."""
    record = {"topic": event.topic, "payload": event.payload}
    try:
        return json.dumps(record, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    except ValueError:
        return json.dumps(_finite(record), separators=(",", ":"), ensure_ascii=False)


def format_check(check: SeqCheck, as_json: bool) -> str | None:
    """A line reporting a gap or a restart (None for an event in order)."""
    if check.kind is SeqKind.GAP:
        if as_json:
            return json.dumps({"gap": {"origin": check.origin, "expected": check.expected,
                                       "received": check.seq, "lost": check.missing}})
        return (f"!! lost {check.missing} event(s) from {check.origin} "
                f"(expected seq {check.expected}, got {check.seq})")
    if check.kind is SeqKind.RESTART:
        previous = (check.expected or 1) - 1
        if as_json:
            return json.dumps({"restart": {"origin": check.origin, "previous": previous,
                                           "received": check.seq}})
        return f"!! {check.origin} restarted its sequence (seq {check.seq} after {previous})"
    return None
