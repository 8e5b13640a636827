"""Observation numbers: the rules, shared by every backend.

An observation number is the highest ``obsnum`` stored in the ``vl_obsnum`` table for the
current UTC date (read from OCD's clock, so a mock clock gives mock dates) and the configured
instrument, plus one. The backends (:mod:`ocd.obsnum_mysql` for HET's MySQL table,
:mod:`ocd.obsnum_sqlite` for an embedded file with the same schema) only have to do that read
and the insert inside one critical section; this module keeps what is common: the rule, the
per-process memory that makes numbers increase even when nothing is written, the row type and
the choice of backend from the configuration (:func:`choose_backend`).
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ocd.clock import Clock
from ocd.config import Config, Origin, static_file
from ocd.errors import OcdError

TABLE = "vl_obsnum"
#: ``obsnum`` is a MySQL ``mediumint``: the largest number the table can hold.
MAX_OBSNUM = 8_388_607
#: ``inst`` is a ``varchar(5)``.
MAX_INSTRUMENT_LENGTH = 5
#: Most numbers one call may allocate (``ocd obsnum next --count``).
MAX_COUNT = 1000
#: The MySQL schema shipped in the package: identical to ``docker/mysql/init.sql``.
MYSQL_SCHEMA = "vl_obsnum.sql"
#: The equivalent SQLite schema.
SQLITE_SCHEMA = "vl_obsnum_sqlite.sql"


def schema_sql(name: str) -> str:
    """Text of a schema file shipped in ``ocd/static``."""
    return static_file(name).read_text(encoding="utf-8")


def first_number(stored_max: int | None, issued_max: int | None) -> int:
    """The next number: one above both the table's maximum and what this process already gave.

    The second term is what keeps successive numbers increasing when nothing is written
    (``mysql_update_obsnum = false``), and what stops a process from handing out a number twice
    if rows are deleted under it.
    """
    return max(stored_max or 0, issued_max or 0) + 1


def check_count(count: int) -> None:
    if not 1 <= count <= MAX_COUNT:
        raise OcdError(f"cannot allocate {count} observation numbers: ask for 1 to {MAX_COUNT}")


def check_numbers(numbers: list[int]) -> None:
    if numbers and numbers[-1] > MAX_OBSNUM:
        raise OcdError(f"observation number {numbers[-1]} exceeds {MAX_OBSNUM}, the largest "
                       f"the {TABLE}.obsnum column (mediumint) holds")


@dataclass(frozen=True)
class ObsnumRow:
    """One row of ``vl_obsnum``; ``ts`` is when it was written (UTC, the server's clock)."""

    id: int
    ts: dt.datetime | None
    obsdate: dt.date
    inst: str
    obsnum: int


def format_rows(rows: list[ObsnumRow]) -> str:
    """The rows as an aligned text table (``ocd obsnum show``)."""
    header = ("id", "ts", "obsdate", "inst", "obsnum")
    cells = [header] + [
        (str(r.id), r.ts.strftime("%Y-%m-%d %H:%M:%S") if r.ts else "", r.obsdate.isoformat(),
         r.inst, str(r.obsnum))
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    right = {0, 4}  # numbers
    lines = []
    for row in cells:
        parts = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(parts).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class ObsnumAllocator(ABC):
    """Hands out observation numbers for the clock's UTC date and one instrument.

    Safe under concurrency: processes allocating at the same time never get the same number for
    one date and instrument when they write (``update``). Without ``update`` nothing is stored,
    so two processes in that mode can get the same numbers; one process never does.
    Use as a context manager, or call :meth:`close`. Not thread-safe: one allocator per thread.
    """

    def __init__(self, clock: Clock, instrument: str = "virus", update: bool = True) -> None:
        self.clock = clock
        self.instrument = instrument
        self.update = update
        # highest number this process handed out, by (obsdate, instrument)
        self._issued: dict[tuple[dt.date, str], int] = {}

    # -- the public API ------------------------------------------------------------------
    def obsdate(self) -> dt.date:
        """The UTC date numbers are allocated for, now."""
        return self.clock.utc().astimezone(dt.timezone.utc).date()

    def allocate(self, count: int = 1) -> list[int]:
        """``count`` consecutive new numbers for the clock's UTC date and the instrument."""
        check_count(count)
        obsdate = self.obsdate()
        key = (obsdate, self.instrument)
        numbers = self._allocate(obsdate, self._issued.get(key, 0), count)
        self._issued[key] = max(self._issued.get(key, 0), numbers[-1])
        return numbers

    @abstractmethod
    def rows(self, date: dt.date) -> list[ObsnumRow]:
        """Every row stored for ``date`` (all instruments), oldest first."""

    @abstractmethod
    def init(self) -> bool:
        """Create the table if it is missing; True if it was created."""

    @abstractmethod
    def check(self) -> None:
        """Connect and make sure the table is there: fail at start-up, not at the first shot."""

    @abstractmethod
    def describe(self) -> str:
        """Where the numbers come from, for logs and messages (never the password)."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection (a new one is opened if the allocator is used again)."""

    def __enter__(self) -> ObsnumAllocator:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- what a backend provides ---------------------------------------------------------
    @abstractmethod
    def _allocate(self, obsdate: dt.date, issued_max: int, count: int) -> list[int]:
        """In one critical section: read the table's maximum for (obsdate, instrument), take
        ``count`` numbers from ``first_number(maximum, issued_max)`` and, if ``update``, insert
        them before anyone else can read the maximum."""


def check_instrument(cfg: Config) -> str:
    instrument = cfg.get("database", "instrument")
    if not 1 <= len(instrument) <= MAX_INSTRUMENT_LENGTH:
        raise cfg.error("database", "instrument", instrument,
                         f"must be 1 to {MAX_INSTRUMENT_LENGTH} characters "
                         f"(the {TABLE}.inst column is a varchar({MAX_INSTRUMENT_LENGTH}))")
    return instrument


def default_sqlite_path() -> Path:
    """``obsnum.sqlite`` in the user's data directory (e.g. ``~/.local/share/ocd``)."""
    import platformdirs

    return platformdirs.user_data_path("ocd", appauthor=False) / "obsnum.sqlite"


#: The options that say where HET's table is: setting any of them (in a user file, the
#: environment or with ``--set``) makes ``backend = auto`` choose MySQL. Not
#: ``mysql_update_obsnum`` (it only says whether to write, and applies to both backends) nor the
#: timeouts (they tune a connection, they do not say where it goes).
MYSQL_CONNECTION_OPTIONS = ("mysql_host", "mysql_port", "mysql_database", "mysql_user",
                            "mysql_password")
BACKEND_NAMES = {"mysql": "MySQL", "sqlite": "SQLite"}


@dataclass(frozen=True)
class BackendChoice:
    """Which backend hands out observation numbers, and why (never holds the password)."""

    backend: str     # "mysql" or "sqlite"
    reason: str      # "because [database] mysql_host is set in ocd.cfg:14 (backend = auto)"
    origin: Origin   # where the deciding value was set

    @property
    def name(self) -> str:
        return BACKEND_NAMES[self.backend]


def _where(origin: Origin) -> str:
    """``in FILE:LINE``, ``in the environment (OCD__...)`` or ``on the command line``."""
    label = str(origin)
    if label == "command line":
        return "on the command line"
    if label.startswith("environment "):
        return f"in the environment ({label.removeprefix('environment ')})"
    return f"in {label}"


def choose_backend(cfg: Config) -> BackendChoice:
    """The backend ``[database] backend`` asks for, and why. Pure: reads ``cfg``, nothing else.

    ``mysql`` and ``sqlite`` force one. ``auto`` (the default) follows what the user wrote: the
    MySQL table as soon as a user file, the environment or ``--set`` sets one of
    :data:`MYSQL_CONNECTION_OPTIONS` (a ``[database]`` section of the original OCD, copied
    verbatim, does), the embedded SQLite file otherwise.
    """
    setting = cfg.get("database", "backend")
    where = cfg.origin("database", "backend")
    user_mysql = [o for o in MYSQL_CONNECTION_OPTIONS if cfg.set_by_user("database", o)]
    unused_sqlite = ""
    if cfg.set_by_user("database", "sqlite_path"):
        unused_sqlite = (f"; sqlite_path, set {_where(cfg.origin('database', 'sqlite_path'))},"
                         " is not used")
    if setting == "auto":
        if user_mysql:
            first = cfg.origin("database", user_mysql[0])
            return BackendChoice("mysql", f"because [database] {user_mysql[0]} is set "
                                 f"{_where(first)} (backend = auto){unused_sqlite}", first)
        return BackendChoice("sqlite", f"because none of [database] "
                             f"{', '.join(MYSQL_CONNECTION_OPTIONS)} is set (backend = auto)",
                             where)
    if setting not in BACKEND_NAMES:  # the type check already refuses it; kept for safety
        raise cfg.error("database", "backend", setting, "unknown backend")
    reason = f"because [database] backend = {setting} {_where(where)}"
    if setting == "sqlite" and user_mysql:
        more = f" and {len(user_mysql) - 1} more" if len(user_mysql) > 1 else ""
        reason += (f"; the mysql_* options set ({user_mysql[0]} "
                   f"{_where(cfg.origin('database', user_mysql[0]))}{more}) are not used")
    if setting == "mysql":
        reason += unused_sqlite
    return BackendChoice(setting, reason, where)


def source_line(choice: BackendChoice, target: str) -> str:
    """The start-up line: where observation numbers come from (``target``: the allocator's
    ``describe()``) and why."""
    return f"observation numbers: {TABLE} in {target}, {choice.reason}"


def local_numbers_warning(choice: BackendChoice, mock_clock: bool) -> str | None:
    """The warning of a real-time run on the embedded file: its numbers are not HET's."""
    if choice.backend != "sqlite" or mock_clock:
        return None
    return ("observation numbers come from a local SQLite file on the real clock: they are "
            f"not HET's {TABLE} sequence and can collide with it (HET's table needs the "
            "[database] mysql_* options with backend auto or mysql; a rehearsal sets [dates] "
            "mock_time)")


def allocator_from_config(cfg: Config, clock: Clock, update: bool | None = None
                          ) -> ObsnumAllocator:
    """The allocator :func:`choose_backend` picks; ``update`` overrides
    ``mysql_update_obsnum`` (``False`` for a dry run). Nothing is opened until first use."""
    instrument = check_instrument(cfg)
    if update is None:
        update = cfg.get("database", "mysql_update_obsnum")
    lock_timeout = cfg.get("database", "lock_timeout")
    if lock_timeout < 0:
        raise cfg.error("database", "lock_timeout", str(lock_timeout), "must not be negative")
    if choose_backend(cfg).backend == "sqlite":
        from ocd.obsnum_sqlite import SqliteAllocator

        path = cfg.get("database", "sqlite_path") or default_sqlite_path()
        return SqliteAllocator(path, clock, instrument, update, lock_timeout=lock_timeout)
    from ocd.obsnum_mysql import MysqlAllocator, MysqlSettings

    settings = MysqlSettings.from_config(cfg)
    return MysqlAllocator(settings, clock, instrument, update)
