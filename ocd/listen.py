"""``ocd listen``: the reference monitor. Subscribe, print one line per event, report gaps.

Deliberately small and built only on the public bus API, so that a GUI author can copy it. The
formatting functions are pure; :func:`listen` is the asyncio loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TextIO

import zmq.asyncio

from ocd.bus.addresses import SERVICES, connect_urls, service_urls
from ocd.bus.envelope import Event
from ocd.bus.options import bus_options
from ocd.bus.schemas import topic_schemas
from ocd.bus.sequence import SeqCheck, SeqKind
from ocd.bus.subscriber import Subscriber, SubscriberStats
from ocd.bus.topics import OCD_PREFIX, extra_topics, subscription_topics, tcs_topics
from ocd.config import Config
from ocd.errors import UsageError

#: The OCD services a monitor follows by default (a replay only when asked).
DEFAULT_SERVICES = tuple(s for s in SERVICES if s != "ocd_db_replay")
#: Widest line printed for an event without key fields (a TCS event, say).
MAX_LINE = 200
#: Fields shown for events of topics without a schema.
MAX_FIELDS = 8


@dataclass(frozen=True)
class ListenPlan:
    """What to connect to and which topic prefixes to receive."""

    urls: list[str]
    topics: list[str]


def make_plan(cfg: Config, *, urls: Sequence[str] | None = None, tcs: bool = False,
              replay: bool = False, topics: Sequence[str] | None = None,
              all_topics: bool = True) -> ListenPlan:
    """The OCD services' URLs (plus TCS and replay ones when asked), or exactly ``urls``; the
    OCD topics and the TCS topics OCD follows, plus the extras (``-a no``: extras only)."""
    if urls:
        chosen = list(dict.fromkeys(urls))
    else:
        chosen = connect_urls(cfg, DEFAULT_SERVICES, tcs=tcs)
        if replay:
            replay_urls = service_urls(cfg, "ocd_db_replay")
            if not replay_urls:
                raise UsageError("--replay: [urls] ocd_db_replay is empty")
            chosen = list(dict.fromkeys([*chosen, *replay_urls]))
    if not chosen:
        raise UsageError("no address to listen to")
    needed = [OCD_PREFIX, *tcs_topics(cfg)]
    return ListenPlan(chosen, subscription_topics(needed, extra_topics(cfg, topics), all_topics))


# -- formatting (pure) ----------------------------------------------------------------------------

@cache
def key_fields(topic: str) -> tuple[str, ...] | None:
    """The fields worth a glance for an OCD topic (from its schema), None for other topics."""
    schema = topic_schemas().get(topic)
    return tuple(schema.get("x-ocd-key-fields", ())) if schema else None


def event_time(event: Event, received: float | None = None) -> str:
    """When the event happened, UTC to the millisecond: OCD's clock (mock time in a
    rehearsal), else the TCS data time, else ``received`` (Unix seconds)."""
    payload = event.payload
    stamp = payload.get("__ocd_utc")
    when: dt.datetime | None = None
    if isinstance(stamp, str):
        try:
            when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            when = None
    if when is None:
        seconds = payload.get("__data_time")
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or \
                not math.isfinite(seconds):
            seconds = time.time() if received is None else received
        when = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    when = when.astimezone(dt.timezone.utc)
    text = when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return text + (" mock" if payload.get("__clock") == "mock" else "")


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


# -- the loop -----------------------------------------------------------------------------------

async def listen(cfg: Config, plan: ListenPlan, subscriber_stats: list[SubscriberStats], *,
                 as_json: bool = False, count: int | None = None,
                 duration: float | None = None, out: TextIO | None = None) -> int:
    """Print events until ``count`` events or ``duration`` seconds (or forever); returns the
    number printed. ``subscriber_stats`` receives the subscriber's counters at once, so the
    caller can report them even when interrupted."""
    out = sys.stdout if out is None else out
    ctx = zmq.asyncio.Context()
    subscriber = Subscriber(ctx, plan.urls, plan.topics, options=bus_options(cfg),
                            log_gaps=False)
    subscriber_stats.append(subscriber.stats)
    loop = asyncio.get_running_loop()
    deadline = None if duration is None else loop.time() + duration
    printed = 0
    try:
        while count is None or printed < count:
            timeout = None if deadline is None else deadline - loop.time()
            try:
                event = await subscriber.recv(timeout=timeout)
            except TimeoutError:
                break
            check = subscriber.last_check
            note = format_check(check, as_json) if check is not None else None
            if note is not None:
                print(note, file=out)
            print(format_json(event) if as_json else format_line(event), file=out, flush=True)
            printed += 1
    finally:
        subscriber.close()
        ctx.term()
    return printed
