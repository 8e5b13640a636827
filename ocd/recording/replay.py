"""Sending a recording again (``ocd db_replay``): the events in replay order, as recorded
except ``__wire_time``, re-stamped when each is sent (``__data_time``, ``__seq``, ``__origin``
and the rest are kept), paced by :mod:`ocd.recording.pacing`."""

from __future__ import annotations

import asyncio
import logging
import operator
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import zmq

from ocd.bus import Publisher, RateLimitedLog
from ocd.bus.envelope import MAX_MESSAGE_BYTES, MAX_TOPIC_BYTES, dumps, loads
from ocd.errors import Interrupted, printable
from ocd.recording.pacing import Pacer
from ocd.recording.store import WIRE_KEY, inspect, select_sql

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Rows read from SQLite at a time.
_FETCH = 2048
#: Rows sent at full speed between two turns of the event loop (when a stop is seen).
_SLICE = 256
#: Seconds of one wait of a send for a full subscriber queue (see :class:`SendGuard`).
SEND_SLICE = 0.2
#: Longest single wait for a recorded gap (the wait is cut in slices this long at most).
_LONGEST_WAIT = 3600.0
_SNDMORE = int(zmq.SNDMORE)
_first = operator.itemgetter(0)
#: A recorded row as replay reads it: topic, payload, replay-order key, has-wire-time flag.
_Row = tuple[str, str, Any, int]


# -- re-stamping (pure) ----------------------------------------------------------------------------

def _wire_value(payload: str) -> tuple[int, int] | None:
    """Where the number of the single ``"__wire_time":`` of ``payload`` is (start, end)."""
    at = payload.find(WIRE_KEY)
    start = at + 14
    if at < 0 or not payload.startswith(":", at + 13) or payload.find(WIRE_KEY, start) >= 0:
        return None
    end = payload.find(",", start)
    brace = payload.find("}", start, end if end >= 0 else len(payload))
    end = brace if brace >= 0 else end
    return (start, end) if end > start else None


def restamp(payload: str, wire_time: float, has_wire_time: bool = True) -> str:
    """``payload`` (a recorded JSON object) with ``__wire_time`` set to ``wire_time``.

    Fast path: when the recording says the object has a numeric ``__wire_time`` and the key
    occurs once in the text (so that occurrence is the top-level key), only the number is
    replaced and everything else stays byte for byte. Otherwise the object is parsed (strictly,
    as every OCD process reads) and written again; ValueError if it is not a JSON object.
    """
    if has_wire_time:
        span = _wire_value(payload)
        if span is not None:
            return f"{payload[:span[0]]}{wire_time!r}{payload[span[1]:]}"
    data = loads(payload)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    data["__wire_time"] = wire_time
    return dumps(data).decode("utf-8")


def send_batch(rows: list[tuple[str, str, Any, int]], send: Callable[[bytes, int], object],
               on_full: Callable[[list[bytes]], object], topic_bytes: dict[str, bytes],
               ns: Callable[[], int] = time.time_ns,
               on_unreadable: Callable[[str, str], None] | None = None,
               max_bytes: int = MAX_MESSAGE_BYTES) -> int:
    """Send ``rows`` (topic, payload, time, ``wire_at`` of :func:`select_sql`) at once, each
    with ``__wire_time`` re-stamped as by :func:`restamp`, to the millisecond, through
    ``send``/``on_full`` (:meth:`Publisher.raw_send`; ``on_full`` returns False when it got
    the event out after all); returns how many some subscriber lost.
    A row that cannot be re-stamped (not a strict JSON object) or is larger than
    ``max_bytes`` (``[bus] max_message_bytes``: every subscriber would refuse it, and lose the
    replay's connection) is skipped and passed to ``on_unreadable(topic, reason)`` (without
    it, a ValueError propagates).

    The hot loop of ``-s 0``, hence written for speed: SQLite has found the key
    (``wire_at``), the fast path of :func:`restamp` and the send are inlined, and the stamp's
    text is made once per millisecond (a function call per event costs a tenth of the speed,
    formatting the time each time another tenth).
    """
    lost = 0
    key, more = WIRE_KEY, _SNDMORE
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
            text = _restamped(topic, payload, float(stamp), at >= 0, on_unreadable)
            if text is None:
                continue
        data = text.encode()
        if len(data) > max_bytes or len(raw) > MAX_TOPIC_BYTES:
            _skip(topic, f"{len(raw)} + {len(data)} bytes: over the frame size ([bus] "
                  f"max_message_bytes = {max_bytes})", on_unreadable)
            continue
        try:
            send(raw, more)
        except zmq.Again:  # a subscriber's queue stayed full: it may lose this one
            if on_full([raw, data]) is not False:
                lost += 1
            continue
        send(data, 0)
    return lost


def _restamped(topic: str, payload: str, wire_time: float, has_wire_time: bool,
               on_unreadable: Callable[[str, str], None] | None) -> str | None:
    """:func:`restamp`, or None after telling ``on_unreadable`` why it failed."""
    try:
        return restamp(payload, wire_time, has_wire_time)
    except ValueError as exc:
        _skip(topic, str(exc), on_unreadable)
        return None


def _skip(topic: str, reason: str, on_unreadable: Callable[[str, str], None] | None) -> None:
    """A recorded row that is not sent: said to ``on_unreadable``, else a ValueError."""
    if on_unreadable is None:
        raise ValueError(reason)
    on_unreadable(topic, reason)


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
    unreadable: int = 0  # recorded payloads skipped: not a strict JSON object
    seconds: float = 0.0
    topics: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False

    def summary(self, source: Path) -> str:
        rate = self.sent / self.seconds if self.seconds > 0 else 0.0
        how = "interrupted after" if self.interrupted else "replayed"
        return (f"{how} {self.sent} events ({len(self.topics)} topics) from {source} in "
                f"{self.seconds:.1f} s ({rate:.0f} events/s), {self.passes} pass(es); "
                f"{self.lost} lost to full subscriber queues"
                + (f", {self.unreadable} unreadable or oversized recorded payload(s) skipped"
                   if self.unreadable else ""))


class ProgressSink(Protocol):
    """Where a replay reports how far it is (a progress bar, say)."""

    def update(self, done: int, passes: int, force: bool = False) -> None: ...

    def close(self) -> None: ...


class SendInterrupted(Exception):
    """A stop arrived while a send waited for a full subscriber queue."""


class SendGuard:
    """Tells a send that waits for a full subscriber queue (up to ``[bus] heartbeat_timeout``
    per event) that a stop was asked for. The wait happens in libzmq, in slices of
    :data:`SEND_SLICE`, where the event loop cannot run but Python signal handlers can: a stop
    signal's handler calls :meth:`interrupt`, and the wait ends after the slice under way."""

    def __init__(self) -> None:
        self.stop_requested = False

    def interrupt(self) -> None:
        self.stop_requested = True


class _Player:
    """The sending side of one replay: the publisher's raw send, the counts of what went out,
    the pacing, and the progress shown."""

    def __init__(self, publisher: Publisher, plan: ReplayPlan, result: ReplayResult,
                 progress: ProgressSink | None, guard: SendGuard | None = None) -> None:
        self.guard = guard or SendGuard()
        self.send, self.lossy = publisher.raw_send(min(plan.send_wait, SEND_SLICE))
        self.send_wait = plan.send_wait
        self.max_bytes = publisher.options.max_message_bytes
        self.pacer = Pacer(plan.speedup)
        self.result = result
        self.progress = progress
        self.counts: Counter[str] = Counter()
        self.topic_bytes: dict[str, bytes] = {}
        self._limited = RateLimitedLog(log, 10.0)

    def unreadable(self, topic: str, reason: str) -> None:
        self.result.unreadable += 1
        self._limited.warning(
            "unreadable", f"skipped a recorded {printable(topic[:100])} event that is not a "
            f"strict JSON object of the frame size ({reason[:200]}; {self.result.unreadable} "
            "so far)")

    def show(self, done: int, force: bool = False) -> None:
        if self.progress is not None:
            self.progress.update(done, self.result.passes, force=force)

    async def play_pass(self, cursor: sqlite3.Cursor, stop: asyncio.Event) -> int:
        """Send the rows of ``cursor`` until they end or ``stop`` is set; how many were sent.
        Rows are read off the event loop, so that a slow read never delays a stop."""
        paced = self.pacer.speedup > 0
        done = 0
        while not stop.is_set():
            rows = await _off_loop(stop, cursor.fetchmany, _FETCH)
            if not rows:
                break
            if paced:
                done = await self._paced(rows, done, stop)
            else:
                done = await self._at_full_speed(rows, done, stop)
        return done

    async def _at_full_speed(self, rows: list[_Row], done: int, stop: asyncio.Event) -> int:
        """The rows in slices, each followed by a turn of the event loop: a send waits for a
        full subscriber queue, so a slice is what a stop may have to wait for."""
        for first in range(0, len(rows), _SLICE):
            if stop.is_set():
                break
            part = rows[first:first + _SLICE]
            if not self._send(part):
                break
            done += len(part)
            await asyncio.sleep(0)  # let signal handlers run, even at full speed
        self.show(done)
        return done

    def _send(self, rows: list[_Row]) -> bool:
        """Send ``rows``; False when a stop ended a send that waited for a full subscriber
        queue (:class:`SendGuard`; the rows of this call then count as not sent)."""
        try:
            lost = send_batch(rows, self.send, self._full, self.topic_bytes,
                              on_unreadable=self.unreadable, max_bytes=self.max_bytes)
        except SendInterrupted:
            return False
        self.result.lost += lost
        self.counts.update(map(_first, rows))
        return True

    def _full(self, frames: list[bytes]) -> bool:
        """A send found a subscriber's queue full for one slice: wait on, slice by slice, up
        to ``send_wait`` in all unless a stop is asked for (SendInterrupted); then that
        subscriber loses the event. Whether it was lost."""
        waited = SEND_SLICE
        while waited < self.send_wait:
            if self.guard.stop_requested:
                raise SendInterrupted
            try:
                self.send(frames[0], _SNDMORE)
            except zmq.Again:
                waited += SEND_SLICE
                continue
            self.send(frames[1], 0)  # the rest of a started message is never refused
            return False
        self.lossy(frames)
        return True

    async def _paced(self, rows: list[_Row], done: int, stop: asyncio.Event) -> int:
        """One row at a time, each when it is due."""
        clock = time.monotonic
        for row in rows:
            now = clock()
            delay = self.pacer.due(row[2], now) - now
            if delay > 0 and await _stopped_within(stop, delay):
                break  # a stop is obeyed at once, even in a long recorded gap
            if not self._send([row]):
                break
            done += 1
            self.show(done)
        return done


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` (any length: a hostile recording may hold a gap of 1e12 s) or until
    ``stop`` is set; whether it was."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0:
        try:
            await asyncio.wait_for(stop.wait(), min(remaining, _LONGEST_WAIT))
        except TimeoutError:
            continue
        return True
    return stop.is_set()


async def _off_loop(stop: asyncio.Event, call: Callable[..., T], *args: Any) -> T | None:
    """``call(*args)`` (a read of the recording) in a worker thread; None when a stop
    interrupted it (the recording's :meth:`~GuardedRecording.cancel`, called at the stop,
    makes it raise Interrupted)."""
    try:
        return await asyncio.to_thread(call, *args)
    except Interrupted:
        if stop.is_set():
            return None
        raise


async def replay(publisher: Publisher, conn: sqlite3.Connection, plan: ReplayPlan,
                 stop: asyncio.Event, progress: ProgressSink | None = None,
                 on_pass: Callable[[int], None] | None = None,
                 guard: SendGuard | None = None) -> ReplayResult:
    """Send the selected events on ``publisher`` until done (or ``stop`` is set; ``guard``
    lets a signal handler end a send waiting for a full queue)."""
    sql, params = select_sql(plan.sort_by, plan.topics)
    selection = await _off_loop(stop, inspect, conn, plan.sort_by, plan.topics)
    if selection is None:
        return ReplayResult(interrupted=True)
    gap = selection.span / (selection.count - 1) if selection.count > 1 else 0.0
    result = ReplayResult()
    player = _Player(publisher, plan, result, progress, guard)
    start = time.monotonic()
    try:
        while not stop.is_set():
            result.passes += 1
            if on_pass is not None:
                on_pass(result.passes)
            if result.passes > 1:
                player.pacer.next_pass(gap)
            cursor = await _off_loop(stop, conn.execute, sql, params)
            if cursor is None:
                break
            done_in_pass = await player.play_pass(cursor, stop)
            cursor.close()
            result.sent += done_in_pass
            player.show(done_in_pass, force=True)
            if not plan.loop or selection.count == 0:
                break
    finally:
        result.seconds = time.monotonic() - start
        result.topics = dict(player.counts)
        result.interrupted = stop.is_set()
        if progress is not None:
            progress.close()
    return result
