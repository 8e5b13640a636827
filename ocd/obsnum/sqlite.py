"""Observation numbers from an embedded SQLite file with the schema of HET's table.

For rehearsals and tests without MySQL. The file (and its directory) is created on first use,
with the table. ``BEGIN IMMEDIATE`` takes SQLite's write lock before the maximum is read, so
processes sharing the file allocate one after the other; a process that finds the lock taken
waits up to ``[database] lock_timeout``. The file is in write-ahead-log mode, so it must be on
a local disk (processes on other machines cannot share it).
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from contextlib import closing
from pathlib import Path

from ocd.clock import Clock
from ocd.errors import OcdError
from ocd.obsnum.rules import (
    SQLITE_SCHEMA,
    TABLE,
    ObsnumAllocator,
    ObsnumRow,
    check_deadline,
    check_numbers,
    first_number,
    schema_sql,
)

log = logging.getLogger(__name__)


class SqliteAllocator(ObsnumAllocator):
    """Observation numbers from a SQLite file."""

    def __init__(self, path: Path, clock: Clock, instrument: str = "virus", update: bool = True,
                 lock_timeout: float = 10.0) -> None:
        super().__init__(clock, instrument, update)
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self._conn: sqlite3.Connection | None = None

    def describe(self) -> str:
        return f"SQLite file {self.path}"

    @property
    def connection(self) -> sqlite3.Connection:
        """The open connection (the file and table are created on demand)."""
        if self._conn is None:
            log.debug("opening %s", self.describe())
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # isolation_level=None: OCD issues BEGIN itself (BEGIN IMMEDIATE)
                conn = sqlite3.connect(self.path, timeout=self.lock_timeout,
                                       isolation_level=None)
            except (OSError, sqlite3.Error) as exc:
                raise self._error(exc, "cannot open") from exc
            try:
                # write-ahead log, synced at every commit: one fsync per allocation instead of
                # three, still durable (a number once returned survives a power cut)
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
                conn.executescript(schema_sql(SQLITE_SCHEMA))
            except sqlite3.Error as exc:
                conn.close()
                raise self._error(exc, "cannot use") from exc
            self._conn = conn
        return self._conn

    def _error(self, exc: BaseException, doing: str = "error in") -> OcdError:
        text = " ".join(str(exc).split())
        if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
            return OcdError(f"{self.describe()} stayed locked by another process for "
                            f"{self.lock_timeout:g} s ([database] lock_timeout)")
        return OcdError(f"{doing} {self.describe()} ([database] sqlite_path): {text}")

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def _allocate(self, obsdate: dt.date, issued_max: int, count: int,
                  deadline: float | None) -> list[int]:
        conn = self.connection
        key = (obsdate.isoformat(), self.instrument)

        def next_numbers() -> list[int]:
            (stored,) = conn.execute(
                "SELECT MAX(obsnum) FROM vl_obsnum WHERE obsdate = ? AND inst = ?",
                key).fetchone()
            first = first_number(stored, issued_max)
            numbers = list(range(first, first + count))
            check_numbers(numbers)
            return numbers

        try:
            if not self.update:
                return next_numbers()
            conn.execute("BEGIN IMMEDIATE")
            try:
                numbers = next_numbers()
                check_deadline(deadline)  # the lock may have taken long: still wanted?
                conn.executemany(
                    "INSERT INTO vl_obsnum (obsdate, inst, obsnum) VALUES (?, ?, ?)",
                    [(*key, n) for n in numbers])
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        return numbers

    def rows(self, date: dt.date) -> list[ObsnumRow]:
        try:
            found = self.connection.execute(
                "SELECT id, ts, obsdate, inst, obsnum FROM vl_obsnum WHERE obsdate = ? "
                "ORDER BY id", (date.isoformat(),)).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        return [ObsnumRow(id_, _timestamp(ts), dt.date.fromisoformat(obsdate), inst, obsnum)
                for id_, ts, obsdate, inst, obsnum in found]

    def _table_in_file(self) -> bool:
        """Whether the file already holds the table, looked at without creating anything."""
        if not self.path.exists():
            return False
        try:
            with closing(sqlite3.connect(self.path, timeout=self.lock_timeout)) as probe:
                return probe.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                     "AND name = ?", (TABLE,)).fetchone() is not None
        except sqlite3.Error as exc:
            raise self._error(exc, "cannot use") from exc

    def init(self) -> bool:
        existed = self._conn is not None or self._table_in_file()
        self.connection  # noqa: B018  (opening creates what is missing)
        return not existed

    def check(self) -> None:
        try:
            self.connection.execute("SELECT id, ts, obsdate, inst, obsnum FROM vl_obsnum LIMIT 0")
        except sqlite3.Error as exc:
            raise self._error(exc) from exc


def _timestamp(text: str | None) -> dt.datetime | None:
    """SQLite's CURRENT_TIMESTAMP text (UTC) as an aware datetime."""
    if not text:
        return None
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)
