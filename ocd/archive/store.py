"""The archive in the site's MariaDB/MySQL server: its schema, the batched idempotent writes,
and the reads behind ``ocd archive night|shot|events``.

The connection is :mod:`ocd.obsnum.mysql`'s (pymysql, UTC, deadlines on every read, the
password never shown), with ``[archive]``'s options. A write is one transaction: the events
(``INSERT IGNORE``: an event already there is skipped, so a batch written twice, a spool
drained again after a crash or a recording imported twice stores each event once), the
visits of the shots they start or end, the nights' spans and counts, and the gaps seen.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

import orjson
import pymysql

from ocd.archive.rows import EventRow, Visit, visit_of
from ocd.archive.schema import LATEST, MIGRATIONS, SCHEMA_TABLE
from ocd.config import Config
from ocd.core import topics
from ocd.errors import OcdError
from ocd.obsnum.mysql import MysqlSettings, connect, is_connection_lost, mysql_error

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Server error: a table is missing.
NO_TABLE = 1146
#: Client errors meaning the server cannot be reached at all.
UNREACHABLE = {2002, 2003, 2005}

_INSERT_EVENTS = (
    "INSERT IGNORE INTO archive_events (night, uid, topic, origin, seq, at, data_time, "
    "wire_time, received, payload) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
_NIGHT = ("INSERT INTO archive_nights (night, first_at, last_at, events) VALUES (%s, %s, %s, %s)"
          " ON DUPLICATE KEY UPDATE first_at = LEAST(first_at, VALUES(first_at)), "
          "last_at = GREATEST(last_at, VALUES(last_at)), events = events + VALUES(events)")
_STARTED = ("INSERT INTO archive_visits (shotid, night, origin, observation, track, start_at) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE "
            "track = VALUES(track), start_at = VALUES(start_at)")
_ENDED = ("INSERT INTO archive_visits (shotid, night, origin, observation, track, end_at, "
          "outcome, error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE "
          "end_at = VALUES(end_at), outcome = VALUES(outcome), error = VALUES(error)")
_GAP = ("INSERT IGNORE INTO archive_gaps (night, origin, before_seq, missing, at) "
        "VALUES (%s, %s, %s, %s, %s)")
_LAST_SEQ = "SELECT MAX(seq) FROM archive_events WHERE origin = %s AND night = %s"
#: Publishers new to the archiver looked up per batch at most (an index lookup each); a
#: sender making up origins by the thousand gets no gap check for the rest.
MAX_FIRST_CHECKS = 64


__all__ = ["ArchiveStore", "ArchiveUnreachable", "MysqlSettings", "unreachable"]


class ArchiveUnreachable(OcdError):
    """The server cannot be reached (or the connection was lost): try again later."""


def unreachable(exc: BaseException) -> bool:
    if isinstance(exc, pymysql.err.MySQLError) and exc.args and exc.args[0] in UNREACHABLE:
        return True
    return is_connection_lost(exc)


class ArchiveStore:
    """One connection to the archive (opened on demand, dropped on any error)."""

    def __init__(self, settings: MysqlSettings) -> None:
        self.settings = settings
        self._conn: pymysql.connections.Connection | None = None
        #: Events found missing before a publisher's first event since this store was made
        #: (an archiver stopped or killed in between), written as gaps.
        self.missed = 0

    @classmethod
    def from_config(cls, cfg: Config) -> ArchiveStore:
        """The archive ``[archive]`` names (connected on first use)."""
        return cls(MysqlSettings.of_section(cfg, "archive"))

    def describe(self) -> str:
        s = self.settings
        return f"the archive {s.database!r} on {s.where} (user {s.user!r})"

    # -- the connection ----------------------------------------------------------------------
    def _connection(self) -> pymysql.connections.Connection:
        if self._conn is None:
            self._conn = connect(self.settings)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(pymysql.err.Error):
                conn.close()

    def _run(self, work: Callable[[pymysql.cursors.Cursor], T], *, transaction: bool = False,
             cursor: type[pymysql.cursors.Cursor] = pymysql.cursors.Cursor) -> T:
        """``work`` on a cursor (in one transaction if asked); a lost or refused connection is
        :class:`ArchiveUnreachable`, anything else one line naming the server."""
        try:
            conn = self._connection()
            with conn.cursor(cursor) as cur:
                if transaction:
                    conn.begin()
                result = work(cur)
                if transaction:
                    conn.commit()
                return result
        except OcdError as exc:  # connect() said it: the server cannot be reached
            self.close()
            raise ArchiveUnreachable(str(exc)) from None
        except pymysql.err.MySQLError as exc:
            self.close()
            if unreachable(exc):
                said = exc.args[1] if len(exc.args) > 1 else exc
                raise ArchiveUnreachable(f"the archive's server at {self.settings.where} is "
                                         f"away ({said})") from None
            if exc.args and exc.args[0] == NO_TABLE:
                raise OcdError(f"{self.describe()} has no archive tables (or not all): "
                               "create them with 'ocd archive init'") from None
            raise mysql_error(exc, self.settings) from None

    # -- the schema ----------------------------------------------------------------------------
    def version(self) -> int:
        """The newest migration applied (0: none)."""
        def read(cur: pymysql.cursors.Cursor) -> int:
            cur.execute("SHOW TABLES LIKE 'archive_schema'")
            if cur.fetchone() is None:
                return 0
            cur.execute("SELECT COALESCE(MAX(version), 0) FROM archive_schema")
            row = cur.fetchone()
            return int(row[0]) if row else 0

        return self._run(read)

    def migrate(self) -> list[int]:
        """Apply the missing migrations in order; the versions applied (empty: up to date).
        A newer schema than this OCD knows is refused."""
        def apply(cur: pymysql.cursors.Cursor) -> list[int]:
            cur.execute(SCHEMA_TABLE)
            cur.execute("SELECT version FROM archive_schema")
            done = {int(row[0]) for row in cur.fetchall()}
            if done and max(done) > LATEST:
                raise OcdError(f"{self.describe()} has schema version {max(done)}, newer than "
                               f"this OCD's {LATEST}: upgrade OCD")
            applied = []
            for step in MIGRATIONS:
                if step.version in done:
                    continue
                for statement in step.statements:
                    cur.execute(statement)  # verbatim: no parameters
                cur.execute("INSERT INTO archive_schema (version, description, applied) "
                            "VALUES (%s, %s, UTC_TIMESTAMP(6))", (step.version, step.description))
                applied.append(step.version)
            return applied

        return self._run(apply)

    def check(self) -> None:
        """Refuse an archive whose schema is not this OCD's (one line saying what to do)."""
        version = self.version()
        if version != LATEST:
            what = "no archive tables" if version == 0 else f"schema version {version}"
            raise OcdError(f"{self.describe()} has {what}; this OCD needs version {LATEST}: "
                           "run 'ocd archive init'")

    # -- writing ---------------------------------------------------------------------------
    def write(self, rows: Sequence[EventRow]) -> int:
        """Store a batch in one transaction; the number of events new to the archive."""
        if not rows:
            return 0
        return self._run(lambda cur: self._write(cur, rows), transaction=True)

    def _write(self, cur: pymysql.cursors.Cursor, rows: Sequence[EventRow]) -> int:
        gaps = self._gaps(cur, rows)
        by_night: dict[int, list[EventRow]] = defaultdict(list)
        for row in rows:
            by_night[row.night].append(row)
        stored = 0
        for night, group in by_night.items():
            date = dt.date.fromordinal(night)
            cur.executemany(_INSERT_EVENTS, [
                (date, r.uid, r.topic, r.origin, r.seq, r.at, r.data_time, r.wire_time,
                 r.received, r.payload) for r in group])
            new = max(0, cur.rowcount)
            stored += new
            cur.execute(_NIGHT, (date, min(r.at for r in group), max(r.at for r in group), new))
        self._visits(cur, rows)
        if gaps:
            cur.executemany(_GAP, gaps)
        return stored

    def _gaps(self, cur: pymysql.cursors.Cursor, rows: Sequence[EventRow]
              ) -> list[tuple[Any, ...]]:
        """The gaps this batch shows: those seen live, and for the first event of a publisher
        since the archiver started, the numbers between the last one stored that night and it
        (an archiver killed and started again lost them)."""
        gaps = []
        checks = MAX_FIRST_CHECKS  # origins are chosen by senders: a bounded cost per batch
        for row in rows:
            if row.origin is None or row.seq is None:
                continue
            missing = row.missing
            if row.first and checks > 0:
                checks -= 1
                cur.execute(_LAST_SEQ, (row.origin, row.date))
                found = cur.fetchone()
                last = found[0] if found else None
                if last is not None and row.seq > last + 1:
                    missing = row.seq - last - 1
                    self.missed += missing
            if missing > 0:
                gaps.append((row.date, row.origin, row.seq, missing, row.at))
        return gaps

    @staticmethod
    def _visits(cur: pymysql.cursors.Cursor, rows: Sequence[EventRow]) -> None:
        visits: list[Visit] = []
        for row in rows:
            if row.topic == topics.RUN_SHOT_RUN:
                with contextlib.suppress(orjson.JSONDecodeError):
                    payload = orjson.loads(row.payload)
                    visit = visit_of(row, payload) if isinstance(payload, dict) else None
                    if visit is not None:
                        visits.append(visit)
        for v in visits:
            date = dt.date.fromordinal(v.night)
            if v.start_at is not None:
                cur.execute(_STARTED, (v.shotid, date, v.origin, v.observation, v.track,
                                       v.start_at))
            else:
                cur.execute(_ENDED, (v.shotid, date, v.origin, v.observation, v.track,
                                     v.end_at, v.outcome, v.error))

    # -- reading ---------------------------------------------------------------------------
    def night(self, date: dt.date) -> tuple[float, float, int] | None:
        """The night's first and last event times and its count (None: not in the archive)."""
        def read(cur: pymysql.cursors.Cursor) -> tuple[float, float, int] | None:
            cur.execute("SELECT first_at, last_at, events FROM archive_nights WHERE night = %s",
                        (date,))
            row = cur.fetchone()
            return None if row is None else (float(row[0]), float(row[1]), int(row[2]))

        return self._run(read)

    def nights(self, limit: int = 10_000) -> list[tuple[dt.date, float, float, int]]:
        """The nights in the archive, newest first."""
        def read(cur: pymysql.cursors.Cursor) -> list[tuple[dt.date, float, float, int]]:
            cur.execute("SELECT night, first_at, last_at, events FROM archive_nights "
                        "ORDER BY night DESC LIMIT %s", (limit,))
            return [(r[0], float(r[1]), float(r[2]), int(r[3])) for r in cur.fetchall()]

        return self._run(read)

    def night_events(self, date: dt.date, topics: Sequence[str], first: float, last: float
                     ) -> list[tuple[str, str, float]]:
        """(topic, payload, at) of the night's events of ``topics``, in time order: one index
        range per topic (``archive_events_topic``)."""
        def read(cur: pymysql.cursors.Cursor) -> list[tuple[str, str, float]]:
            marks = ", ".join(["%s"] * len(topics))
            cur.execute(f"SELECT topic, payload, at FROM archive_events "  # noqa: S608
                        f"FORCE INDEX (archive_events_topic) WHERE topic IN ({marks}) "
                        "AND at BETWEEN %s AND %s AND night = %s ORDER BY at, id",
                        (*topics, first, last, date))
            return list(cur.fetchall())

        return self._run(read)

    def gaps(self, date: dt.date) -> list[tuple[str, int, int, float]]:
        """(origin, first number after the gap, events missing, time) of the night."""
        def read(cur: pymysql.cursors.Cursor) -> list[tuple[str, int, int, float]]:
            cur.execute("SELECT origin, before_seq, missing, at FROM archive_gaps "
                        "WHERE night = %s ORDER BY at", (date,))
            return [(r[0], int(r[1]), int(r[2]), float(r[3])) for r in cur.fetchall()]

        return self._run(read)

    def visits(self, shotid: str) -> list[dict[str, Any]]:
        """Every visit of ``shotid`` across the survey, oldest first."""
        def read(cur: pymysql.cursors.Cursor) -> list[dict[str, Any]]:
            cur.execute("SELECT night, origin, observation, track, start_at, end_at, outcome, "
                        "error FROM archive_visits WHERE shotid = %s "
                        "ORDER BY night, COALESCE(start_at, end_at)", (shotid,))
            return cast(list[dict[str, Any]], list(cur.fetchall()))

        return self._run(read, cursor=pymysql.cursors.DictCursor)

    def events(self, topic: str, start: float | None, end: float | None,
               chunk: int = 2000) -> Iterator[tuple[str, str]]:
        """(topic, payload) of the events whose topic starts with ``topic`` between ``start``
        and ``end`` (times of :func:`~ocd.archive.rows.event_time`), in time order, read
        ``chunk`` at a time (the memory stays bounded, each read has its deadline)."""
        prefix = topic.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        after: tuple[float, int] = (-1e300 if start is None else start, -1)
        until = 1e300 if end is None else end
        while True:
            def read(cur: pymysql.cursors.Cursor, after: tuple[float, int] = after
                     ) -> list[tuple[str, str, float, int]]:
                cur.execute("SELECT topic, payload, at, id FROM archive_events "
                            "FORCE INDEX (archive_events_topic) WHERE topic LIKE %s "
                            "AND (at > %s OR (at = %s AND id > %s)) AND at < %s "
                            "ORDER BY at, id LIMIT %s",
                            (prefix, after[0], after[0], after[1], until, chunk))
                return list(cur.fetchall())

            rows = self._run(read)
            for row in rows:
                yield row[0], row[1]
            if len(rows) < chunk:
                return
            after = (float(rows[-1][2]), int(rows[-1][3]))

    def replay_rows(self, date: dt.date, chunk: int = 5000
                    ) -> Iterator[list[tuple[str, str, float | None, float | None, float]]]:
        """The night's events in order of arrival, as a recording's rows (topic, payload,
        __data_time, __wire_time, received), ``chunk`` at a time."""
        after = 0
        while True:
            def read(cur: pymysql.cursors.Cursor, after: int = after
                     ) -> list[tuple[Any, ...]]:
                cur.execute("SELECT id, topic, payload, data_time, wire_time, received "
                            "FROM archive_events WHERE night = %s AND id > %s ORDER BY id "
                            "LIMIT %s", (date, after, chunk))
                return list(cur.fetchall())

            rows = self._run(read)
            if rows:
                yield [(r[1], r[2], r[3], r[4], r[5]) for r in rows]
            if len(rows) < chunk:
                return
            after = int(rows[-1][0])

    def prune(self, before: dt.date) -> tuple[int, int]:
        """Delete the nights before ``before``: (nights, events) deleted. In slices of a
        night's rows, so no transaction grows without bound."""
        nights = [n for n, *_ in self.nights(limit=10 ** 7) if n < before]
        events = 0
        for night in nights:
            def delete(cur: pymysql.cursors.Cursor, night: dt.date = night) -> int:
                total = 0
                while True:
                    cur.execute("DELETE FROM archive_events WHERE night = %s LIMIT 50000",
                                (night,))
                    total += cur.rowcount
                    if cur.rowcount < 50000:
                        break
                for table in ("archive_visits", "archive_gaps", "archive_nights"):
                    cur.execute(f"DELETE FROM {table} WHERE night = %s", (night,))  # noqa: S608
                return total

            events += self._run(delete)
        return len(nights), events
