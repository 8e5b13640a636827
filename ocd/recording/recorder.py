"""``ocd record``: store every event received in an SQLite file, for replay and inspection.

The receiving thread (the caller's) only copies messages off the SUB socket with the time of
reception and hands batches to a writer thread, which decodes them (checks, times, sequence
numbers) and inserts them with ``executemany``, one transaction per batch. SQLite releases the
GIL while it writes, and a burst waits in memory rather than at the socket's high-water mark:
the recorder keeps up with the bus (``bench/replay_throughput.py`` measures it).

Stopping (:meth:`Recorder.stop`, called from a signal handler) is clean: the socket is drained
of what already arrived, every batch is written, and only then is the file closed. The schema
(:data:`ocd.recording.store.SCHEMA`) is documented in doc/recording.md.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from ocd.bus import (
    BusOptions,
    BusSecurity,
    RateLimitedLog,
    Reconnector,
    Source,
    open_source,
    passes_whole_system,
)
from ocd.bus.envelope import loads
from ocd.bus.sequence import SeqCheck, SeqKind, SequenceTracker
from ocd.core.payload import finite_number
from ocd.core.sources import ANY
from ocd.errors import OcdError
from ocd.recording.store import open_recording

log = logging.getLogger(__name__)

_INSERT = ("INSERT INTO events (topic, payload, __data_time, __wire_time, received) "
           "VALUES (?, ?, ?, ?, ?)")

Row = tuple[str, str, float | None, float | None, float]


@dataclass(frozen=True)
class RecordSettings:
    """``[record]``: how often batches are written and how long a stop drains the socket."""

    batch_size: int = 5000
    flush_interval: float = 0.5
    stop_drain: float = 0.2
    #: Events kept in memory while the disk is full (the newest; older ones are dropped).
    full_disk_buffer: int = 100_000


@dataclass
class RecordStats:
    """What a recording session stored and saw; final once :meth:`Recorder.run` returns."""

    received: int = 0    # messages taken off the socket
    stored: int = 0      # events committed
    malformed: int = 0   # messages dropped because they were not [topic, JSON object]
    dropped: int = 0     # events dropped, oldest first, while the disk was full
    topics: Counter[str] = field(default_factory=Counter)
    sequences: SequenceTracker = field(default_factory=SequenceTracker)

    def summary(self) -> str:
        seq = self.sequences
        unwritten = self.received - self.stored - self.malformed - self.dropped
        return (f"{self.stored} events stored ({len(self.topics)} topics)"
                + (f", {self.dropped} dropped while the disk was full (the oldest of those "
                   "waiting)" if self.dropped else "")
                + (f", {unwritten} received but NOT written" if unwritten else "")
                + f"; {self.malformed} malformed dropped; {seq.gaps} sequence gap(s), "
                f"{seq.lost} event(s) lost before reaching the recorder, {seq.restarts} "
                "restart(s)")


#: A message as taken off the socket: topic and payload frames, time received (for a message
#: without exactly two frames: the topic frame, None and the number of frames).
Raw = tuple[bytes, bytes | None, float]
#: Distinct topics counted one by one at most (a sender chooses topics: the table is bounded);
#: events of further topics are counted under :data:`OTHER_TOPICS`. They are all stored.
MAX_TOPICS = 10_000
OTHER_TOPICS = "(other topics)"
#: Batches waiting for the writer at most; beyond, the receiver waits and the socket's
#: high-water mark takes over (and losses show as sequence gaps).
_MAX_QUEUED = 40
#: SQLite's result code for a write refused for want of space (sqlite3.h).
_SQLITE_FULL = 13
#: Seconds between two attempts to write while the disk is full.
FULL_RETRY = 1.0
#: Seconds between two lines saying what a full disk has cost so far.
FULL_REPORT = 60.0


def disk_full(exc: BaseException) -> bool:
    """Whether SQLite refused a write for want of space (the file itself stays consistent:
    the transaction is rolled back, and what was committed stays readable)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    return code == _SQLITE_FULL if code is not None else "disk is full" in str(exc)


class FullDisk:
    """The newest events waiting while the disk is full, at most ``limit`` of them: on a full
    disk the recorder keeps recording into memory, drops the oldest events beyond the limit,
    says once every :data:`FULL_REPORT` seconds what it has dropped, and writes the waiting
    events when space returns."""

    def __init__(self, limit: int, stats: RecordStats,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rows: deque[Row] = deque(maxlen=limit)
        self.stats = stats
        self.since: float | None = None   # when the disk was found full (None: not full)
        self.dropped_now = 0              # dropped since the disk was found full
        self.reason = ""                  # what SQLite said
        self._said = 0.0
        self._tried = 0.0
        self._monotonic = monotonic

    @property
    def full(self) -> bool:
        return self.since is not None

    def due(self) -> bool:
        """Whether to try writing again (every :data:`FULL_RETRY` s while the disk is full:
        a refused transaction costs the whole batch's work)."""
        return self.since is None or self._monotonic() - self._tried >= FULL_RETRY

    def keep(self, rows: list[Row], exc: BaseException | None = None) -> None:
        """Hold ``rows`` (refused by the disk: ``exc``; or not tried, the disk being full),
        dropping the oldest beyond the limit."""
        now = self._monotonic()
        if exc is not None:
            self._tried, self.reason = now, str(exc)
        if self.since is None:
            self.since, self.dropped_now, self._said = now, 0, now - FULL_REPORT
        room = self.rows.maxlen or 0
        over = max(0, len(self.rows) + len(rows) - room)
        self.rows.extend(rows)
        self.dropped_now += over
        self.stats.dropped += over
        if now - self._said >= FULL_REPORT:
            self._said = now
            log.warning("disk full (%s): recording into memory since %.0f s, the newest %d "
                        "event(s) waiting; %d older one(s) dropped so far; writing again as "
                        "soon as there is space", self.reason, now - self.since,
                        len(self.rows), self.dropped_now)

    def retry_now(self) -> None:
        """Make the next write a try, however recent the last one."""
        self._tried = -math.inf

    def take(self) -> list[Row]:
        """The waiting rows (oldest first), to be written before anything newer."""
        rows = list(self.rows)
        self.rows.clear()
        return rows

    def written(self, count: int) -> None:
        """Space came back: ``count`` waiting events are written."""
        if self.since is not None:
            log.warning("disk space is back: writing again after %.0f s (%d waiting event(s) "
                        "written, %d dropped while the disk was full)",
                        self._monotonic() - self.since, count, self.dropped_now)
        self.since = None


class BatchWriter(threading.Thread):
    """Decodes batches of raw messages and hands the events to :meth:`write`, batch by batch.

    Decoding here rather than in the receiving thread keeps the socket drained: the receiver
    only copies messages into memory, so a burst waits in the queue, not at the high-water mark.
    The decoding (checks, times, sequence numbers) is the same for every store; a subclass
    says what one event becomes (:meth:`row`) and how a batch is written (:meth:`write`).
    """

    def __init__(self, stats: RecordStats, complete: Callable[[str], bool],
                 name: str = "record-writer") -> None:
        super().__init__(name=name, daemon=True)
        self.stats = stats
        self.complete = complete
        self.batches: queue.Queue[list[Raw] | None] = queue.Queue(_MAX_QUEUED)
        #: Batches written before any of the queue's (received by an earlier process).
        self.first: list[list[Raw]] = []
        self.error: BaseException | None = None
        self.limited = RateLimitedLog(log, 10.0)

    # -- what a store says -----------------------------------------------------------------
    def row(self, topic: str, text: str, payload: dict[str, Any], received: float,
            check: SeqCheck | None) -> Any:
        """What one valid event becomes for :meth:`write` (``check``: its sequence check)."""
        raise NotImplementedError

    def write(self, rows: list[Any]) -> None:
        """Store one batch (possibly empty: a retry without new events)."""
        raise NotImplementedError

    def retry_interval(self) -> float | None:
        """Seconds after which :meth:`write` is called even without events (None: never)."""
        return None

    def last_try(self) -> None:
        """Called once after the last batch, before the receiver closes the store."""

    def batch_done(self) -> None:
        """Called after each batch received is written (or kept safe) by :meth:`write`."""

    # -- the thread ------------------------------------------------------------------------
    def run(self) -> None:
        try:
            for earlier in self.first:
                self.write(self._rows(earlier))
                self.batch_done()
        except BaseException as exc:  # reported by the receiving thread
            self.error = exc
        self.first = []
        while True:
            try:  # while the store waits to retry, call it again even without events
                batch = self.batches.get(timeout=self.retry_interval())
            except queue.Empty:
                batch = []
            if batch is None:
                if self.error is None:
                    try:
                        self.last_try()
                    except BaseException as exc:  # reported by the receiving thread
                        self.error = exc
                return
            if self.error is not None:
                continue  # keep draining so the receiver never blocks; the error is reported
            try:
                self.write(self._rows(batch))
                if batch:
                    self.batch_done()
            except BaseException as exc:  # reported by the receiving thread
                self.error = exc

    def _rows(self, batch: list[Raw]) -> list[Any]:
        stats, rows = self.stats, []
        observe, topics = stats.sequences.observe, stats.topics
        for topic_frame, payload_frame, received in batch:
            if payload_frame is None:  # the receiver saw the wrong number of frames
                self._malformed(topic_frame, f"expected 2 frames [topic, JSON object], got "
                                             f"{received:g}")
                continue
            try:
                topic = topic_frame.decode("utf-8")
                payload = loads(payload_frame)  # the decoder every OCD process uses
                if type(payload) is not dict or not topic:
                    raise ValueError("not a JSON object")
                text = payload_frame.decode("utf-8")
            except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
                self._malformed(topic_frame, exc)
                continue
            if topic in topics or len(topics) < MAX_TOPICS:
                topics[topic] += 1
            else:
                topics[OTHER_TOPICS] += 1
            check = None
            origin, seq = payload.get("__origin"), payload.get("__seq")
            if type(seq) is int and isinstance(origin, str):
                check = observe(origin, seq, self.complete(topic.split(".", 1)[0]))
                if check.kind is SeqKind.GAP:
                    self.limited.warning("gap", f"lost {check.missing} event(s) from "
                                         f"{origin[:100]} before {topic[:100]} (they never "
                                         f"reached the recorder; {stats.sequences.lost} so far)")
            rows.append(self.row(topic, text, payload, received, check))
        return rows

    def _malformed(self, topic: bytes, exc: object) -> None:
        self.stats.malformed += 1
        if self.stats.malformed == 1 or not self.stats.malformed % 1000:
            log.warning("dropped a malformed message on topic %s (%d so far): %s",
                        topic[:60].decode("utf-8", "replace") or "?", self.stats.malformed, exc)


class _Writer(BatchWriter):
    """Writes the events into the SQLite recording, each batch in one transaction; keeps them
    in memory (the newest, bounded) while the disk is full."""

    def __init__(self, conn: sqlite3.Connection, stats: RecordStats,
                 complete: Callable[[str], bool],
                 full_disk_buffer: int = RecordSettings.full_disk_buffer) -> None:
        super().__init__(stats, complete)
        self.conn = conn
        self.waiting = FullDisk(full_disk_buffer, stats)

    def row(self, topic: str, text: str, payload: dict[str, Any], received: float,
            check: SeqCheck | None) -> Row:
        return (topic, text, finite_number(payload.get("__data_time")),
                finite_number(payload.get("__wire_time")), received)

    def retry_interval(self) -> float | None:
        return FULL_RETRY if self.waiting.full else None

    def last_try(self) -> None:
        if self.waiting.full:
            self.waiting.retry_now()
            self.write([])  # a last try before the file is closed

    def write(self, rows: list[Row]) -> None:
        """Write the events waiting for space, then ``rows``, in one transaction; on a full
        disk keep them all (the newest, bounded) for the next try."""
        if not self.waiting.due():
            self.waiting.keep(rows)
            return
        waiting = self.waiting.take() if self.waiting.full else []
        everything = waiting + rows
        if not everything:
            return
        try:
            self.conn.execute("BEGIN")
            self.conn.executemany(_INSERT, everything)
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            if not disk_full(exc):
                raise
            self.waiting.keep(everything, exc)
            return
        self.stats.stored += len(everything)
        if waiting:
            self.waiting.written(len(waiting))


class Receiver:
    """Subscribe to ``urls`` (or ``sources``) for ``topics`` (prefixes) and hand every message
    to a :class:`BatchWriter`, batch by batch: the reception of ``ocd record`` and ``ocd
    archive record``, whatever they store into.

    Call :meth:`run` (in the main thread, for signals); :meth:`stop` (safe from a signal
    handler) ends it after draining the socket and writing everything received.
    """

    def __init__(self, urls: Iterable[str] = (), topics: Iterable[str] = ("",), *,
                 sources: Iterable[Source] | None = None, ctx: zmq.Context[Any] | None = None,
                 options: BusOptions | None = None, settings: RecordSettings | None = None,
                 security: BusSecurity | None = None) -> None:
        if sources is None:
            sources = [Source(ANY, tuple(dict.fromkeys(urls)))]
        self.sources = [source for source in sources if source.urls]
        self.urls = list(dict.fromkeys(url for source in self.sources for url in source.urls))
        self.topics = list(dict.fromkeys(topics))
        if not self.urls:
            raise OcdError("no address to record from")
        self.options = options or BusOptions()
        self.settings = settings or RecordSettings()
        self.stats = RecordStats()
        self._stop = False
        self._complete: dict[str, bool] = {}
        # a context of the caller's (then it terminates it) or one of our own
        self._own_ctx = ctx is None
        self._ctx: zmq.Context[Any] = zmq.Context() if ctx is None else ctx
        # one socket per source (CURVE or not, as [security] says for it), each a plain
        # (blocking) socket even from an asyncio context: they are read in a thread
        self._inputs: list[tuple[zmq.Socket[bytes], Reconnector]] = []
        self._poller = zmq.Poller()
        try:
            for source in self.sources:
                self._open(source, security or BusSecurity())
        except BaseException:
            self._close_socket()
            raise

    def _open(self, source: Source, security: BusSecurity) -> None:
        sock = open_source(self._ctx, source, self.options, security, self.topics)
        reconnector = Reconnector(self._ctx, sock, source.urls, self.options.reconnect_interval)
        self._inputs.append((sock, reconnector))
        self._poller.register(sock, zmq.POLLIN)

    def _poll(self, timeout_ms: int) -> bool:
        """Whether a message waits on some socket (within ``timeout_ms``)."""
        return bool(self._poller.poll(timeout_ms))

    def stop(self) -> None:
        """Ask :meth:`run` to finish (drain, write, close). Safe from signal handlers."""
        self._stop = True

    def receives_all_of(self, system: str) -> bool:
        """Whether every topic of ``system`` is recorded: only then is a jump in a publisher's
        sequence a loss rather than a filtered-out event."""
        complete = self._complete.get(system)
        if complete is None:
            complete = passes_whole_system(self.topics, system)
            if len(self._complete) < MAX_TOPICS:  # systems are chosen by senders: bounded
                self._complete[system] = complete
        return complete

    def _receive_available(self, batch: list[Raw], limit: int) -> None:
        """Copy what is queued (up to ``limit`` messages in all) into ``batch`` without
        waiting, from each socket in turn."""
        for sock, _ in self._inputs:
            if len(batch) >= limit:
                return
            self._receive_from(sock, batch, limit - len(batch))

    def _receive_from(self, sock: zmq.Socket[bytes], batch: list[Raw], limit: int) -> None:
        stats = self.stats
        # the compiled recv and getsockopt, without pyzmq's Python wrappers: this loop is the
        # recorder's speed limit
        recv = super(zmq.Socket, sock).recv
        more = super(zmq.Socket, sock).get
        for _ in range(limit):
            try:
                topic = recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            stats.received += 1
            if not more(zmq.RCVMORE):
                batch.append((topic, None, 1))  # one frame only: the writer counts it
                continue
            payload = recv(0)  # the rest of a message is there already
            if more(zmq.RCVMORE):  # more than two frames: skip the rest
                count = 2
                while more(zmq.RCVMORE):
                    recv(0)
                    count += 1
                batch.append((topic, None, count))
                continue
            batch.append((topic, payload, time.time()))

    def receive(self, writer: BatchWriter) -> None:
        """Receive until :meth:`stop`, handing batches to ``writer`` (started here); returns
        once the writer has written everything (its error, if any, in ``writer.error``)."""
        writer.start()
        settings = self.settings
        batch: list[Raw] = []
        last_flush = time.monotonic()
        poll_ms = max(1, int(min(settings.flush_interval, 0.1) * 1000))
        try:
            while not self._stop:
                for _, reconnector in self._inputs:
                    reconnector.check()
                if self._poll(poll_ms):
                    self._receive_available(batch, settings.batch_size - len(batch))
                now = time.monotonic()
                if batch and (len(batch) >= settings.batch_size
                              or now - last_flush >= settings.flush_interval):
                    self.hand(writer, batch)
                    batch, last_flush = [], now
                if writer.error is not None:
                    break
            # stopping: take what already arrived (and what is still arriving right now)
            deadline = time.monotonic() + max(10 * settings.stop_drain, 2.0)
            idle_ms = max(1, int(settings.stop_drain * 1000))
            while writer.error is None and time.monotonic() < deadline \
                    and self._poll(idle_ms):
                self._receive_available(batch, settings.batch_size)
                if len(batch) >= settings.batch_size:
                    self.hand(writer, batch)
                    batch = []
        finally:
            self._close_socket()
            if batch:
                self.hand(writer, batch)
            writer.batches.put(None)
            writer.join()

    def hand(self, writer: BatchWriter, batch: list[Raw]) -> None:
        """Give a batch received to the writer (a subclass may note it first)."""
        writer.batches.put(batch)

    def _close_socket(self) -> None:
        for sock, reconnector in getattr(self, "_inputs", ()):
            reconnector.close()
            sock.close(linger=0)
        if self._own_ctx:
            self._ctx.term()


class Recorder(Receiver):
    """Subscribe to ``urls`` for ``topics`` (prefixes) and store every event in ``path``.

    Call :meth:`run` (in the main thread, for signals); :meth:`stop` (safe from a signal
    handler) ends it after draining the socket and writing everything received.
    """

    def __init__(self, path: Path, urls: Iterable[str] = (), topics: Iterable[str] = ("",), *,
                 sources: Iterable[Source] | None = None, ctx: zmq.Context[Any] | None = None,
                 options: BusOptions | None = None, settings: RecordSettings | None = None,
                 security: BusSecurity | None = None) -> None:
        self.path = Path(path)
        self.conn = open_recording(self.path)
        try:
            super().__init__(urls, topics, sources=sources, ctx=ctx, options=options,
                             settings=settings, security=security)
        except BaseException:
            self.conn.close()
            raise
        first = self.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM events").fetchone()[0]
        self.session = self.conn.execute(
            "INSERT INTO recordings (started, urls, topics, first_id) VALUES (?, ?, ?, ?)",
            (time.time(), json.dumps(self.urls), json.dumps(self.topics), first)).lastrowid

    def run(self) -> RecordStats:
        """Record until :meth:`stop`; returns the statistics once everything is written."""
        writer = _Writer(self.conn, self.stats, self.receives_all_of,
                         self.settings.full_disk_buffer)
        try:
            self.receive(writer)
        finally:
            self._finish(writer.error, writer.waiting)
        return self.stats

    def _finish(self, error: BaseException | None, waiting: FullDisk) -> None:
        stats = self.stats
        try:
            if waiting.full:  # stopped on a full disk: what waits in memory is lost
                lost = len(waiting.take())
                stats.dropped += lost
                log.warning("stopping on a full disk: %d event(s) waiting in memory are not "
                            "written; the file holds everything written before", lost)
            if error is None:
                self._close_session()
        finally:
            self.conn.close()
        if error is not None:
            raise OcdError(f"{self.path}: writing failed after {stats.stored} events: "
                           f"{error}") from None

    def _close_session(self) -> None:
        """Say in the file that this session ended, and make it one self-contained file again
        (no -wal/-shm), readable from read-only places. On a full disk both may be refused:
        the file stays a valid recording (this session's row without its end)."""
        stats = self.stats
        try:
            self.conn.execute(
                "UPDATE recordings SET stopped = ?, events = ?, malformed = ?, lost = ? "
                "WHERE id = ?", (time.time(), stats.stored, stats.malformed,
                                 stats.sequences.lost, self.session))
        except sqlite3.OperationalError as exc:
            if not disk_full(exc):
                raise
            log.warning("disk full: the end of this recording session is not written (%s); "
                        "the events written are all there", exc)
            return
        try:
            self.conn.execute("PRAGMA journal_mode = DELETE")
        except sqlite3.OperationalError as exc:
            # another program reading the recording (sqlite3, a monitor) holds it open; a
            # full disk: the file stays in WAL mode, complete with its -wal file
            log.info("the recording stays in WAL mode, with its -wal file beside it (%s)", exc)


def record_topics(cli_topics: Iterable[str] | None) -> list[str]:
    """The topic prefixes to record: those given, else everything."""
    topics = list(dict.fromkeys(cli_topics or []))
    return topics or [""]
