"""Observation numbers from HET's MySQL ``vl_obsnum`` table (pymysql).

Concurrency: the original read ``MAX(obsnum)`` and then inserted, so two processes could take
the same number. OCD may not add a unique constraint to HET's table, so it serialises
allocations with a MySQL named lock (``GET_LOCK``), which works whatever the table's engine.
The lock, the read, the insert and the release travel as one multi-statement batch: one round
trip, and the lock is never held while the client thinks, stalls or dies (the server releases a
session's locks when its connection ends).

A dropped connection is reopened once and the operation repeated. If the first attempt had
already inserted its rows, the repeat takes the next numbers: a gap in the table, never a
number given twice.

An allocation the caller has given up on (its ``deadline`` passed) writes nothing: the client
checks the deadline before it sends the batch (also before the repeat, and after a stall of
its own process), and the server checks it again, on its own clock, just before the insert
(``UTC_TIMESTAMP()``: a batch that waited in a hung server's buffers writes nothing when the
server wakes up late). On MariaDB the batch also runs under ``max_statement_time`` set to the
time left, so a statement blocked on a table lock is cancelled by the server when the caller
gives up, instead of writing when the lock is released.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pymysql
from pymysql.constants import CLIENT

from ocd.clock import Clock
from ocd.config import Config
from ocd.errors import OcdError
from ocd.obsnum.rules import (
    MAX_OBSNUM,
    MYSQL_SCHEMA,
    TABLE,
    AllocationGivenUp,
    ObsnumAllocator,
    ObsnumRow,
    check_deadline,
    check_numbers,
    first_number,
    schema_sql,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

#: MariaDB's "Query execution was interrupted (max_statement_time exceeded)".
STATEMENT_TIMEOUT = 1969
#: Error codes meaning the connection is gone (client side 2xxx, server side kills/timeouts).
LOST_CONNECTION = {2006, 2013, 2014, 2055, 1053, 1927, 4031}
#: MySQL limits lock names to 64 characters.
_LOCK_NAME_MAX = 64


def lock_name(database: str) -> str:
    """The named lock OCD takes around an allocation: one per database holding the table.

    Another program writing ``vl_obsnum`` can take the same lock to cooperate with OCD.
    """
    name = f"ocd.{TABLE}.{database}"
    if len(name) > _LOCK_NAME_MAX:
        digest = hashlib.sha1(database.encode()).hexdigest()[:16]
        name = f"ocd.{TABLE}.{digest}"
    return name


@dataclass(frozen=True)
class MysqlSettings:
    """How to reach the database (``[database] mysql_*``); the password is never shown."""

    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    lock_timeout: float = 10.0
    #: The configuration section the settings come from, named in error messages.
    section: str = "database"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def from_config(cls, cfg: Config) -> MysqlSettings:
        def get(option: str) -> Any:
            return cfg.get("database", option)

        settings = cls(get("mysql_host"), get("mysql_port"), get("mysql_database"),
                       get("mysql_user"), get("mysql_password"), get("mysql_connect_timeout"),
                       get("mysql_read_timeout"), get("lock_timeout"))
        # each option's range is the configuration's; this relation between two is not
        if settings.read_timeout <= settings.lock_timeout:
            raise cfg.error(
                "database", "mysql_read_timeout", str(settings.read_timeout),
                f"must be longer than [database] lock_timeout = {settings.lock_timeout:g}, or "
                "waiting for another process's allocation would look like a dead server")
        return settings

    @classmethod
    def of_section(cls, cfg: Config, section: str) -> MysqlSettings:
        """The connection options of another section with ``[database]``'s names (``[archive]``:
        the survey's archive), without the allocation's lock."""
        def get(option: str) -> Any:
            return cfg.get(section, option)

        return cls(get("mysql_host"), get("mysql_port"), get("mysql_database"),
                   get("mysql_user"), get("mysql_password"), get("mysql_connect_timeout"),
                   get("mysql_read_timeout"), section=section)


def connect(settings: MysqlSettings) -> pymysql.connections.Connection:
    """A connection for OCD: autocommit, timestamps in UTC, several statements per query."""
    try:
        return pymysql.connect(
            host=settings.host, port=settings.port, user=settings.user,
            password=settings.password, database=settings.database,
            connect_timeout=settings.connect_timeout, read_timeout=settings.read_timeout,
            write_timeout=settings.read_timeout, autocommit=True, charset="utf8mb4",
            client_flag=CLIENT.MULTI_STATEMENTS, init_command="SET time_zone = '+00:00'")
    except pymysql.err.MySQLError as exc:
        raise mysql_error(exc, settings, connecting=True) from exc


def is_connection_lost(exc: BaseException) -> bool:
    if isinstance(exc, pymysql.err.InterfaceError):  # e.g. the socket was already closed
        return True
    return isinstance(exc, pymysql.err.MySQLError) and bool(exc.args) \
        and exc.args[0] in LOST_CONNECTION


def mysql_error(exc: BaseException, settings: MysqlSettings, lost: bool = False,
                connecting: bool = False) -> OcdError:
    """One line the user can act on, built from the settings and the server's words (neither
    ever holds the password). A connection that fails before the server said hello (refused,
    timed out, reset by a firewall) is "cannot reach", as doc/obsnum.md promises."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    where, user, database = settings.where, settings.user, settings.database
    section = f"[{settings.section}]"
    if code in (2003, 2005) or (connecting and (code in LOST_CONNECTION
                                                or isinstance(exc, pymysql.err.InterfaceError))):
        reason = re.search(r"\((.*)\)\s*$", text)
        said = re.sub(r"^\[Errno -?\d+\]\s*", "", reason.group(1) if reason else text)
        message = (f"cannot reach the MySQL server at {where} ({section} mysql_host, "
                   f"mysql_port): {said[:1].lower() + said[1:]}")
    elif code == 1045:
        message = (f"the MySQL server at {where} denied access to user {user!r} (check "
                   f"{section} mysql_user and mysql_password)")
    elif code == 1044:
        message = (f"MySQL user {user!r} may not use database {database!r} on {where} "
                   f"({section} mysql_user, mysql_database)")
    elif code == 1049:
        message = (f"MySQL database {database!r} does not exist on {where} ({section} "
                   "mysql_database)")
    elif code == 1146:
        message = (f"table {TABLE} is missing from MySQL database {database!r} on {where}: "
                   "create it with 'ocd obsnum init'")
    elif code == STATEMENT_TIMEOUT:
        message = (f"the MySQL server at {where} did not finish the allocation before it was "
                   "given up (a table lock held elsewhere, or a slow server): cancelled by the "
                   "server, nothing written")
    elif lost or is_connection_lost(exc):
        message = (f"lost the connection to the MySQL server at {where} and reconnecting did "
                   f"not help: {text or type(exc).__name__}")
    else:
        message = f"MySQL error on {where} (database {database!r}): {code or ''} {text}".strip()
    return OcdError(" ".join(message.split()))


def _results(cursor: pymysql.cursors.Cursor) -> list[tuple[int, tuple[Any, ...]]]:
    """Read every result of a multi-statement query: (affected rows, rows) per statement.

    All of them must be read, even on success, or the connection falls out of step; an error
    in any statement surfaces here.
    """
    out = []
    while True:
        out.append((cursor.rowcount, cursor.fetchall() if cursor.description else ()))
        if not cursor.nextset():
            return out


#: The allocation, as one batch: take the lock, read the maximum, insert, release. The
#: ``GREATEST(COALESCE(MAX(...), 0), issued)`` is :func:`ocd.obsnum.rules.first_number` minus one,
#: evaluated by the server under the lock. Nothing is inserted unless the lock was obtained.
_LOCK_AND_READ = """\
SET @ocd_lock = GET_LOCK(%(lock)s, %(timeout)s);
SET @ocd_max = (SELECT GREATEST(COALESCE(MAX(obsnum), 0), %(issued)s) FROM vl_obsnum
                WHERE obsdate = %(obsdate)s AND inst = %(inst)s);
SET @ocd_live = (%(expires)s IS NULL OR UTC_TIMESTAMP(6) < %(expires)s);
"""
#: MariaDB only: the batch's statements may take the time left, then the server cancels them.
_TIME_LIMIT = """SET @ocd_limit = @@SESSION.max_statement_time;
SET SESSION max_statement_time = %(budget)s;
"""
_NO_TIME_LIMIT = "SET SESSION max_statement_time = @ocd_limit;\n"
#: One single-row statement per number: InnoDB reserves auto-increment ids in growing batches
#: for a multi-row INSERT ... SELECT and loses the unused ones, and ``id`` is a smallint.
_INSERT_ONE = """\
INSERT INTO vl_obsnum (obsdate, inst, obsnum)
    SELECT %(obsdate)s, %(inst)s, @ocd_max + {k} FROM DUAL
    WHERE @ocd_lock = 1 AND @ocd_live AND @ocd_max + %(count)s <= %(limit)s;
"""
_RELEASE = "SELECT @ocd_lock, @ocd_max, RELEASE_LOCK(%(lock)s), @ocd_live"


def allocation_batch(count: int, time_limit: bool = False) -> str:
    """The SQL of one allocation of ``count`` numbers (parameters in pymysql's pyformat);
    ``time_limit`` (MariaDB): under ``max_statement_time``, parameter ``budget``."""
    inserts = "".join(_INSERT_ONE.format(k=k) for k in range(1, count + 1))
    if not time_limit:
        return _LOCK_AND_READ + inserts + _RELEASE
    return _TIME_LIMIT + _LOCK_AND_READ + inserts + _NO_TIME_LIMIT + _RELEASE


_READ_MAX = "SELECT MAX(obsnum) FROM vl_obsnum WHERE obsdate = %s AND inst = %s"


class MysqlAllocator(ObsnumAllocator):
    """Observation numbers from a MySQL/MariaDB ``vl_obsnum`` table."""

    def __init__(self, settings: MysqlSettings, clock: Clock, instrument: str = "virus",
                 update: bool = True) -> None:
        super().__init__(clock, instrument, update)
        self.settings = settings
        self.lock = lock_name(settings.database)
        self._conn: pymysql.connections.Connection | None = None

    def describe(self) -> str:
        s = self.settings
        return f"MySQL database {s.database!r} on {s.where} (user {s.user!r})"

    @property
    def connection(self) -> pymysql.connections.Connection:
        """The open connection (opened on demand), for diagnostics and benchmarks."""
        if self._conn is None:
            log.debug("connecting to %s", self.describe())
            self._conn = connect(self.settings)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(pymysql.err.Error):  # already closed: fine
                conn.close()

    def _with_connection(self, operation: Callable[[pymysql.cursors.Cursor], T]) -> T:
        """Run ``operation`` on a cursor; if the connection was lost, reconnect and run it once
        more; turn database errors into one-line :class:`OcdError`."""
        for attempt in (1, 2):
            try:
                with self.connection.cursor() as cursor:
                    return operation(cursor)
            except pymysql.err.MySQLError as exc:
                # drop the connection: it may be broken, out of step, or holding the lock after
                # a failed batch (the server releases a closed session's locks)
                self.close()
                if attempt == 1 and is_connection_lost(exc):
                    log.warning("lost the connection to %s (%s): reconnecting", self.describe(),
                                exc.args[1] if len(exc.args) > 1 else exc)
                    continue
                raise mysql_error(exc, self.settings, lost=attempt == 2) from exc
        raise AssertionError("unreachable")

    # -- allocation -----------------------------------------------------------------------
    def _allocate(self, obsdate: dt.date, issued_max: int, count: int,
                  deadline: float | None) -> list[int]:
        if not self.update:
            def read(cursor: pymysql.cursors.Cursor) -> int | None:
                cursor.execute(_READ_MAX, (obsdate, self.instrument))
                row = cursor.fetchone()
                return None if row is None or row[0] is None else int(row[0])

            first = first_number(self._with_connection(read), issued_max)
            numbers = list(range(first, first + count))
            check_numbers(numbers)
            return numbers

        params: dict[str, Any] = {
            "lock": self.lock, "timeout": self.settings.lock_timeout, "issued": issued_max,
            "obsdate": obsdate, "inst": self.instrument, "count": count, "limit": MAX_OBSNUM,
            "expires": None if deadline is None else dt.datetime.fromtimestamp(
                deadline, dt.timezone.utc).replace(tzinfo=None)}

        def batch(cursor: pymysql.cursors.Cursor) -> tuple[int | None, int, int, bool]:
            check_deadline(deadline)  # each attempt: never a write for a given-up number
            server = str(getattr(cursor.connection, "server_version", ""))
            limited = deadline is not None and "mariadb" in server.lower()
            if deadline is not None:
                params["budget"] = max(0.001, deadline - time.time())
            cursor.execute(allocation_batch(count, limited), params)
            results = _results(cursor)
            got, maximum, _released, live = results[-1][1][0]
            return got, int(maximum), sum(rowcount for rowcount, _ in results[:-1]), bool(live)

        got, maximum, inserted, live = self._with_connection(batch)
        if not live:
            raise AllocationGivenUp("the observation number was given up before the database "
                                    "could write it (the server was late): nothing written")
        if got != 1:
            raise OcdError(
                f"waited {self.settings.lock_timeout:g} s for the observation-number lock "
                f"{self.lock!r} on {self.settings.where}: another process holds it "
                "([database] lock_timeout)")
        numbers = list(range(maximum + 1, maximum + 1 + count))
        check_numbers(numbers)
        if inserted != count:
            raise OcdError(f"inserted {inserted} rows into {TABLE} instead of {count} "
                           f"(numbers {numbers[0]}..{numbers[-1]} for {obsdate})")
        return numbers

    # -- the rest -------------------------------------------------------------------------
    def rows(self, date: dt.date) -> list[ObsnumRow]:
        def read(cursor: pymysql.cursors.Cursor) -> tuple[Any, ...]:
            cursor.execute("SELECT id, ts, obsdate, inst, obsnum FROM vl_obsnum "
                           "WHERE obsdate = %s ORDER BY id", (date,))
            return cursor.fetchall()

        return [ObsnumRow(id_, ts.replace(tzinfo=dt.timezone.utc) if ts else None, obsdate,
                          inst, obsnum)
                for id_, ts, obsdate, inst, obsnum in self._with_connection(read)]

    def table_exists(self) -> bool:
        def read(cursor: pymysql.cursors.Cursor) -> bool:
            cursor.execute("SHOW TABLES LIKE %s", (TABLE,))
            return cursor.fetchone() is not None

        return self._with_connection(read)

    def init(self) -> bool:
        existed = self.table_exists()

        def create(cursor: pymysql.cursors.Cursor) -> None:
            cursor.execute(schema_sql(MYSQL_SCHEMA))  # verbatim: no parameters, no % expansion
            _results(cursor)

        self._with_connection(create)
        return not existed

    def check(self) -> None:
        def probe(cursor: pymysql.cursors.Cursor) -> None:
            cursor.execute("SELECT id, ts, obsdate, inst, obsnum FROM vl_obsnum LIMIT 0")
            cursor.fetchall()

        self._with_connection(probe)
