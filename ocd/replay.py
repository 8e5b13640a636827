"""``ocd db_replay``: publish a recorded night again, with its recorded timing.

Reads the schema :mod:`ocd.recorder` writes, orders the events by ``id`` (reception order),
``__data_time`` or ``__wire_time``, and publishes each one as recorded except ``__wire_time``,
which is re-stamped when it is sent (``__data_time``, ``__seq``, ``__origin`` and the rest are
kept). The pure parts (selection SQL, re-stamping, pacing, what the recording says about its
clock) are separate from the asyncio loop (:func:`replay`).

Timing rule (doc/recording.md): an event recorded ``d`` seconds after the first one is sent
``d / speedup`` real seconds after it. ``ocd run`` times the TCS with its own clock, so the
replayed TCS looks live when one recorded second lasts one OCD-clock second:
``speedup = mock_speed / recorded_speed``, where ``recorded_speed`` is the speed of the mock
clock the night was recorded on (1 for a real night).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import math
import operator
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import zmq

from ocd.bus.publisher import Publisher
from ocd.errors import OcdError, UsageError

log = logging.getLogger(__name__)

#: The orders ``--sort-by`` accepts, each a column of the recording.
SORT_KEYS = ("id", "__data_time", "__wire_time")
#: Which recorded time paces the replay in each order (``id``: when the recorder got it).
TIME_COLUMN = {"id": "received", "__data_time": "__data_time", "__wire_time": "__wire_time"}
#: Columns a recording must have.
COLUMNS = ("id", "topic", "payload", "__data_time", "__wire_time", "received")
#: Rows read from SQLite at a time.
_FETCH = 2048
_SNDMORE = int(zmq.SNDMORE)
_WIRE_KEY = '"__wire_time"'
_first = operator.itemgetter(0)


# -- reading a recording -------------------------------------------------------------------------

def open_for_replay(path: Path) -> sqlite3.Connection:
    """Open a recording read-only; an error names the file and what is wrong with it."""
    if not path.is_file():
        raise OcdError(f"{path}: no such recording (expected an SQLite file made by ocd record)")
    conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise OcdError(f"{path}: not an OCD recording ({exc})") from None
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        conn.close()
        what = "no events table" if not columns else f"events lacks {', '.join(missing)}"
        raise OcdError(f"{path}: not an OCD recording ({what}; see doc/recording.md)")
    return conn


def topic_filter(topics: Iterable[str]) -> tuple[str, list[Any]]:
    """SQL condition and parameters selecting topics that start with any of ``topics``."""
    prefixes = list(dict.fromkeys(topics))
    if not prefixes or "" in prefixes:
        return "1", []
    clause = " OR ".join("substr(topic, 1, ?) = ?" for _ in prefixes)
    params: list[Any] = []
    for prefix in prefixes:
        params += [len(prefix), prefix]
    return f"({clause})", params


def select_sql(sort_by: str, topics: Iterable[str]) -> tuple[str, list[Any]]:
    """The query yielding ``(topic, payload, time, wire_at)`` in replay order: ``time`` paces
    the replay, ``wire_at`` is where the text ``"__wire_time"`` first occurs in the payload
    (0-based; -1 if the payload has no numeric ``__wire_time``)."""
    if sort_by not in SORT_KEYS:
        raise UsageError(f"--sort-by {sort_by!r}: expected one of {', '.join(SORT_KEYS)}")
    where, params = topic_filter(topics)
    order = "id" if sort_by == "id" else f"{sort_by} IS NULL, {sort_by}, id"
    return (f"SELECT topic, payload, {TIME_COLUMN[sort_by]}, CASE WHEN __wire_time IS NULL "
            f"THEN -1 ELSE instr(payload, '{_WIRE_KEY}') - 1 END "
            f"FROM events WHERE {where} ORDER BY {order}", params)


@dataclass(frozen=True)
class Selection:
    """What a replay will send: how many events, of which topics, over how long."""

    count: int
    topics: dict[str, int]
    first_time: float | None
    last_time: float | None

    @property
    def span(self) -> float:
        """Recorded seconds from the first to the last event."""
        if self.first_time is None or self.last_time is None:
            return 0.0
        return max(0.0, self.last_time - self.first_time)


def inspect(conn: sqlite3.Connection, sort_by: str, topics: Iterable[str]) -> Selection:
    where, params = topic_filter(topics)
    column = TIME_COLUMN[sort_by]
    counts = dict(conn.execute(f"SELECT topic, count(*) FROM events WHERE {where} "
                               "GROUP BY topic ORDER BY topic", params).fetchall())
    first, last = conn.execute(f"SELECT min({column}), max({column}) FROM events WHERE {where}",
                               params).fetchone()
    return Selection(sum(counts.values()), counts, first, last)


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


def _utc(text: Any) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _clock_point(payload: str) -> tuple[str | None, float, dt.datetime | None, bool] | None:
    """(origin, data time, OCD UTC, mocked) of one payload, None without a data time."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    data_time = _number(data.get("__data_time"))
    if data_time is None:
        return None
    return (data.get("__origin"), data_time, _utc(data.get("__ocd_utc")),
            data.get("__clock") == "mock")


def recorded_clock(conn: sqlite3.Connection, topics: Iterable[str] = ("",),
                   scan: int = 1000) -> RecordedClock:
    """The recording's clock, from its first and last events that carry ``__data_time`` (and
    ``__ocd_utc`` when recorded on a mock clock): the speed is the ratio of OCD-clock time to
    real time between them, for one publisher."""
    where, params = topic_filter(topics)

    def points(order: str) -> Iterator[tuple[str | None, float, dt.datetime | None, bool]]:
        rows = conn.execute(f"SELECT payload FROM events WHERE {where} ORDER BY id {order} "
                            f"LIMIT {scan}", params)
        for (payload,) in rows:
            point = _clock_point(payload)
            if point is not None:
                yield point

    first = next(points("ASC"), None)
    if first is None:
        return RecordedClock(1.0, None, None, False)
    origin, first_time, first_utc, mocked = first
    last = next((p for p in points("DESC") if p[0] == origin), first)
    _, last_time, last_utc, _ = last
    if not mocked or first_utc is None or last_utc is None:
        start = dt.datetime.fromtimestamp(first_time, dt.timezone.utc)
        end = dt.datetime.fromtimestamp(last_time, dt.timezone.utc)
        return RecordedClock(1.0, start, end, False)
    real = last_time - first_time
    speed = (last_utc - first_utc).total_seconds() / real if real > 1e-3 else 1.0
    return RecordedClock(speed if speed > 0 else 1.0, first_utc, last_utc, True)


# -- re-stamping (pure) ----------------------------------------------------------------------------

_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode


def _wire_value(payload: str) -> tuple[int, int] | None:
    """Where the number of the single ``"__wire_time":`` of ``payload`` is (start, end)."""
    at = payload.find(_WIRE_KEY)
    start = at + 14
    if at < 0 or not payload.startswith(":", at + 13) or payload.find(_WIRE_KEY, start) >= 0:
        return None
    end = payload.find(",", start)
    brace = payload.find("}", start, end if end >= 0 else len(payload))
    end = brace if brace >= 0 else end
    return (start, end) if end > start else None


def restamp(payload: str, wire_time: float, has_wire_time: bool = True) -> str:
    """``payload`` (a recorded JSON object) with ``__wire_time`` set to ``wire_time``.

    Fast path: when the recording says the object has a numeric ``__wire_time`` and the key
    occurs once in the text (so that occurrence is the top-level key), only the number is
    replaced and everything else stays byte for byte. Otherwise the object is parsed and
    written again.
    """
    if has_wire_time:
        span = _wire_value(payload)
        if span is not None:
            return f"{payload[:span[0]]}{wire_time!r}{payload[span[1]:]}"
    data = json.loads(payload)
    data["__wire_time"] = wire_time
    return _dumps(data)


def send_batch(rows: list[tuple[str, str, Any, int]], send: Callable[[bytes, int], object],
               on_full: Callable[[list[bytes]], None], topic_bytes: dict[str, bytes],
               ns: Callable[[], int] = time.time_ns) -> int:
    """Send ``rows`` (topic, payload, time, ``wire_at`` of :func:`select_sql`) at once, each
    with ``__wire_time`` re-stamped as by :func:`restamp`, to the millisecond, through
    ``send``/``on_full`` (:meth:`Publisher.raw_send`); returns how many some subscriber lost.

    The hot loop of ``-s 0``, hence written for speed: SQLite has found the key
    (``wire_at``), the fast path of :func:`restamp` and the send are inlined, and the stamp's
    text is made once per millisecond (a function call per event costs a tenth of the speed,
    formatting the time each time another tenth).
    """
    lost = 0
    key, more = _WIRE_KEY, _SNDMORE
    stamp, stamp_until = "", 0
    for topic, payload, _, at in rows:
        raw = topic_bytes.get(topic)
        if raw is None:
            raw = topic_bytes[topic] = topic.encode()
        now = ns()
        if now >= stamp_until:
            ms = now // 1_000_000
            stamp, stamp_until = f"{ms // 1000}.{ms % 1000:03d}", (ms + 1) * 1_000_000
        text = None
        start = at + 14
        if at >= 0 and payload.startswith(":", at + 13) and payload.find(key, start) < 0:
            # the key occurs once, as a key: it is the top-level one
            end = payload.find(",", start)
            brace = payload.find("}", start, end if end >= 0 else len(payload))
            if brace >= 0:
                end = brace
            if end > start:
                text = f"{payload[:start]}{stamp}{payload[end:]}"
        if text is None:
            text = restamp(payload, float(stamp), at >= 0)
        data = text.encode()
        try:
            send(raw, more)
        except zmq.Again:  # a subscriber's queue stayed full: it loses this one
            on_full([raw, data])
            lost += 1
            continue
        send(data, 0)
    return lost


# -- pacing (pure) ---------------------------------------------------------------------------------

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


# -- progress --------------------------------------------------------------------------------------

class Progress:
    """A one-line progress bar, drawn only on a terminal, at most ten times a second."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO | None = None,
                 enabled: bool | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total = total
        self._next_draw = 0.0
        self._start = time.monotonic()
        self._drawn = False

    def update(self, done: int, passes: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now < self._next_draw:
            return
        self._next_draw = now + 0.1
        fraction = (done / self.total) if self.total else 1.0
        filled = int(round(fraction * self.WIDTH))
        elapsed = now - self._start
        loop = f"  pass {passes}" if passes > 1 else ""
        self.stream.write(f"\rreplay [{'#' * filled}{'-' * (self.WIDTH - filled)}] "
                          f"{fraction * 100:3.0f}%  {done}/{self.total} events  "
                          f"{elapsed:6.1f} s{loop}\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


# -- the loop --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReplayPlan:
    sort_by: str = "id"
    topics: tuple[str, ...] = ("",)
    speedup: float = 1.0
    loop: bool = False
    #: Seconds a send may wait for a full subscriber queue before that subscriber loses it.
    send_wait: float = 5.0


@dataclass
class ReplayResult:
    sent: int = 0
    passes: int = 0
    lost: int = 0  # events some subscriber lost to a full queue
    seconds: float = 0.0
    topics: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False

    def summary(self, source: Path) -> str:
        rate = self.sent / self.seconds if self.seconds > 0 else 0.0
        how = "interrupted after" if self.interrupted else "replayed"
        return (f"{how} {self.sent} events ({len(self.topics)} topics) from {source} in "
                f"{self.seconds:.1f} s ({rate:.0f} events/s), {self.passes} pass(es); "
                f"{self.lost} lost to full subscriber queues")


async def replay(publisher: Publisher, conn: sqlite3.Connection, plan: ReplayPlan,
                 stop: asyncio.Event, progress: Progress | None = None,
                 on_pass: Callable[[int], None] | None = None) -> ReplayResult:
    """Send the selected events on ``publisher`` until done (or ``stop`` is set)."""
    sql, params = select_sql(plan.sort_by, plan.topics)
    selection = inspect(conn, plan.sort_by, plan.topics)
    gap = selection.span / (selection.count - 1) if selection.count > 1 else 0.0
    pacer = Pacer(plan.speedup)
    result = ReplayResult()
    counts: Counter[str] = Counter()
    topic_bytes: dict[str, bytes] = {}
    send, on_full = publisher.raw_send(plan.send_wait)
    clock = time.monotonic
    paced = pacer.speedup > 0
    start = clock()
    try:
        while not stop.is_set():
            result.passes += 1
            if on_pass is not None:
                on_pass(result.passes)
            if result.passes > 1:
                pacer.next_pass(gap)
            done_in_pass = 0
            cursor = conn.execute(sql, params)
            while not stop.is_set():
                rows = cursor.fetchmany(_FETCH)
                if not rows:
                    break
                if not paced:
                    result.lost += send_batch(rows, send, on_full, topic_bytes)
                    counts.update(map(_first, rows))
                    done_in_pass += len(rows)
                    await asyncio.sleep(0)  # let signal handlers run, even at full speed
                    if progress is not None:
                        progress.update(done_in_pass, result.passes)
                    continue
                for row in rows:  # paced: one at a time, each when it is due
                    now = clock()
                    delay = pacer.due(row[2], now) - now
                    if delay > 0:
                        await asyncio.sleep(delay)
                        if stop.is_set():
                            break
                    result.lost += send_batch([row], send, on_full, topic_bytes)
                    counts[row[0]] += 1
                    done_in_pass += 1
                    if progress is not None:
                        progress.update(done_in_pass, result.passes)
            cursor.close()
            result.sent += done_in_pass
            if progress is not None:
                progress.update(done_in_pass, result.passes, force=True)
            if not plan.loop or selection.count == 0:
                break
    finally:
        result.seconds = clock() - start
        result.topics = dict(counts)
        result.interrupted = stop.is_set()
        if progress is not None:
            progress.close()
    return result


# -- staying in step with OCD's clock (pure) -------------------------------------------------------

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
            f"[dates] mock_time {mock_start.isoformat()} is outside the recorded night "
            f"({recorded.start.isoformat()} to {recorded.end.isoformat()}): the replayed sky "
            "and the scheduler's will not match")
    return warnings
