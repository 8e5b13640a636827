"""A recording: the SQLite file ``ocd record`` writes and ``ocd db_replay`` reads.

The schema (:data:`SCHEMA`, documented in doc/recording.md), opening a file for writing or for
reading, selecting events in replay order, and what a recording says about the clock of the
night it holds.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

from ocd.bus.envelope import loads
from ocd.core.payload import finite_number, utc_time
from ocd.errors import Interrupted, OcdError, UsageError
from ocd.recording.pacing import SORT_KEYS, TIME_COLUMN, RecordedClock

#: Version of the recording schema, stored in ``PRAGMA user_version``.
SCHEMA_VERSION = 1

#: The recording schema. Times are Unix seconds (floats). ``id`` is the order of reception.
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY,  -- order of reception, from 1
    topic       TEXT NOT NULL,        -- system.source.key
    payload     TEXT NOT NULL,        -- the JSON object exactly as received, metadata included
    __data_time REAL,                 -- the payload's __data_time (NULL if absent)
    __wire_time REAL,                 -- the payload's __wire_time (NULL if absent)
    received    REAL NOT NULL         -- when the recorder received it (real clock)
);
CREATE INDEX IF NOT EXISTS events_topic ON events (topic, id);
CREATE INDEX IF NOT EXISTS events_data_time ON events (__data_time);
CREATE INDEX IF NOT EXISTS events_wire_time ON events (__wire_time);
CREATE TABLE IF NOT EXISTS recordings (
    id       INTEGER PRIMARY KEY,     -- one row per ocd record session writing to this file
    started  REAL NOT NULL,           -- Unix seconds (real clock)
    stopped  REAL,                    -- NULL while recording (or if the recorder was killed)
    urls     TEXT NOT NULL,           -- JSON list of the addresses subscribed to
    topics   TEXT NOT NULL,           -- JSON list of the topic prefixes
    events   INTEGER,                 -- events stored by this session
    first_id INTEGER,                 -- their ids: first_id .. first_id + events - 1
    malformed INTEGER,                -- messages dropped because they were not events
    lost     INTEGER                  -- events missing from sequence gaps while recording
);
"""

#: Columns a recording must have.
COLUMNS = ("id", "topic", "payload", "__data_time", "__wire_time", "received")
WIRE_KEY = '"__wire_time"'


def open_recording(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) a recording for writing; refuse files that are something
    else, with the reason."""
    try:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise OcdError(f"{path}: cannot open as SQLite: {exc}") from None
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if version not in (0, SCHEMA_VERSION) or (tables and "events" not in tables):
            raise OcdError(f"{path}: not an OCD recording (schema version {version}, tables "
                           f"{', '.join(sorted(tables)) or 'none'}): choose another file")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(SCHEMA)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise OcdError(f"{path}: not an OCD recording ({exc})") from None
    except BaseException:
        conn.close()
        raise
    return conn


#: Real seconds one statement on a recording (or one fetch of its rows) may take: a file
#: read for replay is untrusted, and must not make a process spin.
STATEMENT_SECONDS = 10.0
#: SQLite virtual-machine steps between two checks of the deadline.
_CHECK_STEPS = 10_000


class GuardedRecording(sqlite3.Connection):
    """A recording opened for reading, whose every statement and fetch has a deadline
    (:data:`STATEMENT_SECONDS`, checked by an SQLite progress handler) and can be cancelled
    from another thread or a signal handler (:meth:`cancel`): a hostile or damaged file cannot
    make a process spin, nor deaf to SIGINT and SIGTERM. A statement stopped either way raises
    :class:`~ocd.errors.OcdError` (:class:`~ocd.errors.Interrupted` when cancelled)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.label = "recording"
        self.statement_seconds = STATEMENT_SECONDS
        self.deadline = math.inf
        self.cancelled = False
        self.set_progress_handler(self._expired, _CHECK_STEPS)

    def _expired(self) -> bool:
        return self.cancelled or time.monotonic() > self.deadline

    def arm(self) -> None:
        """Start the deadline of the statement or fetch about to run."""
        self.deadline = time.monotonic() + self.statement_seconds

    def cancel(self) -> None:
        """Stop the statement running now, and every later one (the process is stopping)."""
        self.cancelled = True
        self.interrupt()

    def stopped(self, exc: sqlite3.Error) -> OcdError:
        """The error to raise for an SQLite error of a guarded statement."""
        if self.cancelled:
            return Interrupted(f"{self.label}: interrupted while reading it")
        if time.monotonic() > self.deadline:
            return OcdError(f"{self.label}: a read took more than {self.statement_seconds:g} s "
                            "and was stopped (a damaged or hostile recording?)")
        return OcdError(f"{self.label}: cannot read the recording ({exc})")

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or _GuardedCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)


class _GuardedCursor(sqlite3.Cursor):
    """A cursor of a :class:`GuardedRecording`: each call that runs SQLite starts a deadline."""

    connection: GuardedRecording

    def _guarded(self, call: Callable[..., Any], *args: Any) -> Any:
        conn = self.connection
        conn.arm()
        try:
            return call(*args)
        except sqlite3.Error as exc:
            raise conn.stopped(exc) from None

    def execute(self, sql: str, parameters: Any = (), /) -> _GuardedCursor:
        return cast(_GuardedCursor, self._guarded(super().execute, sql, parameters))

    def fetchone(self) -> Any:
        return self._guarded(super().fetchone)

    def fetchmany(self, size: int | None = 1) -> list[Any]:
        return cast(list[Any], self._guarded(super().fetchmany, size))

    def fetchall(self) -> list[Any]:
        return cast(list[Any], self._guarded(super().fetchall))

    def __next__(self) -> Any:
        return self._guarded(super().__next__)


def open_for_replay(path: Path) -> GuardedRecording:
    """Open a recording read-only, every read with a deadline; an error names the file and
    what is wrong with it. Its ``events`` must be a table (a view could run any query, an
    endless recursive one say) with the columns of :data:`SCHEMA`, none of them computed."""
    if not path.is_file():
        raise OcdError(f"{path}: no such recording (expected an SQLite file made by ocd record)")
    conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True,
                           factory=GuardedRecording, check_same_thread=False)
    assert isinstance(conn, GuardedRecording)
    conn.label = str(path)
    try:
        problem = _not_a_recording(conn)
    except Interrupted:
        conn.close()
        raise
    except OcdError as exc:  # not SQLite, say, or too slow to read
        conn.close()
        cause = exc.__context__ if isinstance(exc.__context__, sqlite3.Error) else exc
        raise OcdError(f"{path}: not an OCD recording ({cause})") from None
    except BaseException:
        conn.close()
        raise
    if problem:
        conn.close()
        raise OcdError(f"{path}: not an OCD recording ({problem}; see doc/recording.md)")
    return conn


def _not_a_recording(conn: GuardedRecording) -> str | None:
    """What makes the file opened by ``conn`` something else than a recording, or None."""
    kinds = conn.execute("SELECT type, sql FROM sqlite_master WHERE lower(name) = 'events'"
                         ).fetchall()
    if not kinds:
        return "no events table"
    kind, sql = kinds[0]
    if kind != "table" or str(sql).lstrip().upper().startswith("CREATE VIRTUAL"):
        return f"events is a {'virtual table' if kind == 'table' else kind}, not a table"
    columns = {row[1]: row[6] for row in conn.execute("PRAGMA table_xinfo(events)")}
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        return f"events lacks {', '.join(missing)}"
    computed = [name for name, hidden in columns.items() if hidden]
    if computed:
        return f"events has computed or hidden columns: {', '.join(computed[:5])}"
    return None


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
            f"THEN -1 ELSE instr(payload, '{WIRE_KEY}') - 1 END "
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


def stored_counts(path: Path) -> dict[str, int]:
    """How many events of each topic the recording at ``path`` holds (OcdError if it is not
    one): what ``ocd rehearse``'s summary reports."""
    conn = open_for_replay(path)
    try:
        return inspect(conn, "id", ("",)).topics
    finally:
        conn.close()


#: Unix time of 2100-01-01: a recorded time beyond is no night's (a hostile recording's).
_LAST_TIME = 4_102_444_800.0


def _clock_point(payload: str) -> tuple[str | None, float, dt.datetime | None, bool] | None:
    """(origin, data time, OCD UTC, mocked) of one payload, None without a data time."""
    try:
        data = loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    data_time = finite_number(data.get("__data_time"))
    if data_time is None or not 0 <= data_time < _LAST_TIME:  # a date a night can have
        return None
    return (data.get("__origin"), data_time, utc_time(data.get("__ocd_utc")),
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
