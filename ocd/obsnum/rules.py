"""Observation numbers: the rules, shared by every backend.

An observation number is the highest ``obsnum`` stored in the ``vl_obsnum`` table for the
current UTC date (read from OCD's clock, so a mock clock gives mock dates) and the configured
instrument, plus one. The backends (:mod:`ocd.obsnum.mysql` for HET's MySQL table,
:mod:`ocd.obsnum.sqlite` for an embedded file with the same schema) only have to do that read
and the insert inside one critical section; this module keeps what is common: the rule, the
per-process memory that makes numbers increase even when nothing is written, and the row type.
The choice of backend from the configuration is the factory in :mod:`ocd.obsnum`.
"""

from __future__ import annotations

import datetime as dt
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType

from ocd.clock import Clock
from ocd.config import static_file
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


class AllocationGivenUp(OcdError):
    """The caller stopped waiting for the numbers (``deadline``) before they were written:
    nothing was written, no number is used up."""


def check_deadline(deadline: float | None) -> None:
    """Before a write: :class:`AllocationGivenUp` once ``deadline`` (real Unix seconds) has
    passed (the process was stopped, or the database was slow, meanwhile)."""
    if deadline is not None and time.time() >= deadline:
        raise AllocationGivenUp(f"the observation number was given up {time.time() - deadline:.1f} "
                                "s ago, before it was written: nothing written")


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

    def allocate(self, count: int = 1, deadline: float | None = None) -> list[int]:
        """``count`` consecutive new numbers for the clock's UTC date and the instrument.
        ``deadline`` (real Unix seconds): when the caller stops waiting; an allocation not
        written by then is cancelled (:class:`AllocationGivenUp`), so a hung database or a
        stalled process uses up no number that nobody takes."""
        check_count(count)
        check_deadline(deadline)  # queued behind a slow allocation: maybe wanted no more
        obsdate = self.obsdate()
        key = (obsdate, self.instrument)
        numbers = self._allocate(obsdate, self._issued.get(key, 0), count, deadline)
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
    def _allocate(self, obsdate: dt.date, issued_max: int, count: int,
                  deadline: float | None) -> list[int]:
        """In one critical section: read the table's maximum for (obsdate, instrument), take
        ``count`` numbers from ``first_number(maximum, issued_max)`` and, if ``update``, insert
        them before anyone else can read the maximum, unless ``deadline`` has passed."""
