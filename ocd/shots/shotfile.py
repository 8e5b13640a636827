"""The shot list: its 17-column file, and the store OCD keeps it in while running.

The file is the contract with the HETDEX planners, so it is read strictly (every error names
file, line and column) and written back byte for byte except for the ``n_obs`` values that
changed: comments, blank lines, spacing and number formats stay as the planner wrote them. The
store is an in-memory SQLite database so that "decrement exactly once" is one guarded UPDATE
under a lock, whichever thread asks.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ocd.errors import OcdError

#: The columns of a shot file, in order.
COLUMNS = ("shotid", "ra", "dec", "track", "priority", "n_obs", "forced_az", "qidx", "qprog",
           "qobject", "qifu", "qra", "qdec", "qequinox", "qpmra", "qpmdec", "qepoch")
#: Track codes of the ``track`` column.
TRACK_EAST, TRACK_WEST, TRACK_EITHER = 0, 1, 2

_TOKEN = re.compile(r"\S+")
_SEXAGESIMAL = re.compile(r"^[+-]?\d{1,3}:\d{1,2}:\d{1,2}(\.\d*)?$")


@dataclass(frozen=True, slots=True)
class Shot:
    """One row of the shot list. ``ra`` in decimal hours, ``dec`` and ``forced_az`` in degrees
    (``forced_az`` None when the file says -1); the Q columns are passed to the telescope."""

    shotid: str
    ra: float
    dec: float
    track: int
    priority: int
    n_obs: int
    forced_az: float | None
    qidx: int
    qprog: str
    qobject: str
    qifu: str
    qra: str
    qdec: str
    qequinox: float
    qpmra: float
    qpmdec: float
    qepoch: float

    def as_dict(self) -> dict[str, Any]:
        """The shot as JSON-friendly values, for event payloads."""
        return asdict(self)


class ShotFileError(OcdError):
    """A shot file that cannot be used; the message names file, line and column."""

    def __init__(self, source: str, line: int, column: int, message: str) -> None:
        super().__init__(f"{source}:{line}:{column}: {message}")
        self.source = source
        self.line = line
        self.column = column


# -- parsing -----------------------------------------------------------------------------------

def _number(text: str, kind: type) -> float | int:
    """``text`` as an int or a finite float; ValueError with the expectation otherwise."""
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError("expected an integer") from None
    try:
        value = float(text)
    except ValueError:
        raise ValueError("expected a number") from None
    if not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


def _check_shotid(text: str) -> str:
    if "/" in text or "\\" in text:
        raise ValueError("must not contain a slash: it names the shot's files")
    return text


def _check_range(low: float, high: float, high_open: bool = False) -> Callable[[float], float]:
    def check(value: float) -> float:
        if value < low or value > high or (high_open and value == high):
            bracket = ")" if high_open else "]"
            raise ValueError(f"out of range [{low:g}, {high:g}{bracket}")
        return value
    return check


def _check_track(value: int) -> int:
    if value not in (TRACK_EAST, TRACK_WEST, TRACK_EITHER):
        raise ValueError("must be 0 (East), 1 (West) or 2 (either)")
    return value


def _check_n_obs(value: int) -> int:
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _forced_az(value: float) -> float | None:
    if value == -1:
        return None
    if not 0.0 <= value < 360.0:
        raise ValueError("must be -1 (none) or an azimuth in [0, 360)")
    return value


def _check_qifu(text: str) -> str:
    if not text.isdigit():
        raise ValueError("expected the IFU slot digits, e.g. 000")
    return text


def _check_sexagesimal(text: str) -> str:
    if not _SEXAGESIMAL.match(text):
        raise ValueError("expected sexagesimal D:M:S, e.g. +51:07:40.44")
    return text


def _identity(text: str) -> str:
    return text


#: How each column is read: (numeric kind or None for text, check applied to the value).
_READERS: dict[str, tuple[type | None, Callable[[Any], Any]]] = {
    "shotid": (None, _check_shotid),
    "ra": (float, _check_range(0.0, 24.0, high_open=True)),
    "dec": (float, _check_range(-90.0, 90.0)),
    "track": (int, _check_track),
    "priority": (int, lambda v: v),
    "n_obs": (int, _check_n_obs),
    "forced_az": (float, _forced_az),
    "qidx": (int, lambda v: v),
    "qprog": (None, _identity),
    "qobject": (None, _identity),
    "qifu": (None, _check_qifu),
    "qra": (None, _check_sexagesimal),
    "qdec": (None, _check_sexagesimal),
    "qequinox": (float, lambda v: v),
    "qpmra": (float, lambda v: v),
    "qpmdec": (float, lambda v: v),
    "qepoch": (float, lambda v: v),
}


@dataclass(frozen=True)
class _Row:
    shot: Shot
    n_obs_span: tuple[int, int]


def _lines(text: str) -> list[str]:
    """Lines with their endings, split at newlines only (``str.splitlines`` also splits at form
    feeds and other separators, which would shift line numbers and alter write-back)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _parse_line(source: str, lineno: int, line: str) -> _Row | None:
    """The shot on ``line``, or None for a blank or comment line."""
    content = line.split("#", 1)[0]
    tokens = list(_TOKEN.finditer(content))
    if not tokens:
        return None
    if len(tokens) != len(COLUMNS):
        column = (tokens[len(COLUMNS)].start() + 1 if len(tokens) > len(COLUMNS)
                  else len(content.rstrip()) + 1)
        raise ShotFileError(source, lineno, column,
                            f"expected {len(COLUMNS)} columns ({' '.join(COLUMNS)}), "
                            f"found {len(tokens)}")
    values: dict[str, Any] = {}
    for index, (name, match) in enumerate(zip(COLUMNS, tokens, strict=True), start=1):
        kind, check = _READERS[name]
        text = match.group()
        try:
            values[name] = check(text if kind is None else _number(text, kind))
        except ValueError as exc:
            raise ShotFileError(source, lineno, match.start() + 1,
                                f"column {index} ({name}) {text!r}: {exc}") from None
    n_obs = tokens[COLUMNS.index("n_obs")]
    return _Row(Shot(**values), (n_obs.start(), n_obs.end()))


# -- the store ---------------------------------------------------------------------------------

_SCHEMA = f"""
CREATE TABLE lines (lineno INTEGER PRIMARY KEY, text TEXT NOT NULL, shotid TEXT,
                    n_obs_start INTEGER, n_obs_end INTEGER);
CREATE TABLE shots (position INTEGER PRIMARY KEY, {', '.join(
    f'{name} TEXT UNIQUE NOT NULL' if name == 'shotid' else
    f'{name} INTEGER NOT NULL CHECK ({name} >= 0)' if name == 'n_obs' else name
    for name in COLUMNS)});
"""
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM shots"


@dataclass(frozen=True, eq=False)
class ShotTable:
    """Shots as numpy columns, the form the scheduler computes with.

    Building the columns from many :class:`Shot` objects costs more than scheduling them, so
    the store keeps one ready (:meth:`ShotStore.table`) and the scheduler accepts either.
    """

    shots: tuple[Shot, ...]
    ra: np.ndarray
    dec: np.ndarray
    track: np.ndarray
    priority: np.ndarray
    n_obs: np.ndarray
    forced_az: np.ndarray  # NaN for none

    @classmethod
    def from_shots(cls, shots: Iterable[Shot]) -> ShotTable:
        items = tuple(shots)
        return cls(
            items,
            np.array([s.ra for s in items], dtype=float),
            np.array([s.dec for s in items], dtype=float),
            np.array([s.track for s in items], dtype=np.int8),
            np.array([s.priority for s in items], dtype=np.int64),
            np.array([s.n_obs for s in items], dtype=np.int64),
            np.array([s.forced_az for s in items], dtype=float),  # None becomes NaN
        )

    def __len__(self) -> int:
        return len(self.shots)

    @cached_property
    def vectors(self) -> np.ndarray:
        """ICRS unit vectors of the shots, computed once (see :func:`ocd.sky.het.unit_vectors`)."""
        from ocd.sky.het import unit_vectors

        return unit_vectors(self.ra, self.dec)


class ShotStore:
    """The shot list in an in-memory SQLite database, with the file's lines for write-back.

    Thread-safe: every method takes the store's lock, so ``decrement`` is exactly once per call
    even from several threads.
    """

    def __init__(self, source: str = "<shots>", path: Path | None = None) -> None:
        self.source = source
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.executescript(_SCHEMA)
        self._tables: dict[bool, ShotTable] = {}

    # -- loading -------------------------------------------------------------------------
    @classmethod
    def from_text(cls, text: str, source: str = "<shots>",
                  path: Path | None = None) -> ShotStore:
        """Parse a whole shot file's text; :class:`ShotFileError` on the first bad line."""
        store = cls(source, path)
        first_line: dict[str, int] = {}
        lines, shots = [], []
        for lineno, line in enumerate(_lines(text), start=1):
            row = _parse_line(source, lineno, line)
            if row is None:
                lines.append((lineno, line, None, None, None))
                continue
            shotid = row.shot.shotid
            if shotid in first_line:
                raise ShotFileError(source, lineno, line.index(shotid) + 1,
                                    f"duplicate shotid {shotid!r} (first on line "
                                    f"{first_line[shotid]})")
            first_line[shotid] = lineno
            lines.append((lineno, line, shotid, *row.n_obs_span))
            shots.append(tuple(getattr(row.shot, name) for name in COLUMNS))
        with store._db:
            store._db.executemany("INSERT INTO lines VALUES (?, ?, ?, ?, ?)", lines)
            store._db.executemany(
                f"INSERT INTO shots ({', '.join(COLUMNS)}) VALUES "
                f"({', '.join('?' for _ in COLUMNS)})", shots)
        return store

    # -- reading -------------------------------------------------------------------------
    def _shots(self, where: str = "", params: tuple[Any, ...] = ()) -> list[Shot]:
        with self._lock:
            rows = self._db.execute(f"{_SELECT} {where} ORDER BY position", params).fetchall()
        return [Shot(*row) for row in rows]

    def all(self) -> list[Shot]:
        """Every shot, in file order."""
        return self._shots()

    def remaining(self) -> list[Shot]:
        """The shots still to observe (``n_obs > 0``), in file order."""
        return self._shots("WHERE n_obs > 0")

    def get(self, shotid: str) -> Shot | None:
        """The shot ``shotid``, or None if the list has no such shot."""
        found = self._shots("WHERE shotid = ?", (shotid,))
        return found[0] if found else None

    def table(self, remaining: bool = True) -> ShotTable:
        """The remaining (or all) shots as columns, cached until the next ``decrement``."""
        with self._lock:
            if remaining not in self._tables:
                shots = self.remaining() if remaining else self.all()
                self._tables[remaining] = ShotTable.from_shots(shots)
            return self._tables[remaining]

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM shots").fetchone()[0]

    def __contains__(self, shotid: object) -> bool:
        return isinstance(shotid, str) and self.get(shotid) is not None

    def __iter__(self) -> Iterator[Shot]:
        return iter(self.all())

    # -- changing ------------------------------------------------------------------------
    def decrement(self, shotid: str) -> int:
        """Count one completed visit of ``shotid``: ``n_obs`` goes down by exactly one; returns
        the new value. :class:`OcdError` if there is no such shot or its ``n_obs`` is 0."""
        with self._lock, self._db:
            changed = self._db.execute(
                "UPDATE shots SET n_obs = n_obs - 1 WHERE shotid = ? AND n_obs > 0",
                (shotid,)).rowcount
            row = self._db.execute("SELECT n_obs FROM shots WHERE shotid = ?",
                                   (shotid,)).fetchone()
            if row is None:
                raise OcdError(f"{self.source}: no shot {shotid!r} to decrement")
            if not changed:
                raise OcdError(f"{self.source}: shot {shotid!r} already has n_obs 0: not "
                               "decremented")
            self._tables.clear()
            return int(row[0])

    # -- writing -------------------------------------------------------------------------
    def text(self) -> str:
        """The file's text with the current ``n_obs`` values; every other byte as read."""
        with self._lock:
            rows = self._db.execute(
                "SELECT lines.text, lines.n_obs_start, lines.n_obs_end, shots.n_obs "
                "FROM lines LEFT JOIN shots ON lines.shotid = shots.shotid "
                "ORDER BY lines.lineno").fetchall()
        out = []
        for text, start, end, n_obs in rows:
            if n_obs is not None and int(text[start:end]) != n_obs:  # read as an int on load
                text = f"{text[:start]}{n_obs}{text[end:]}"
            out.append(text)
        return "".join(out)

    def write(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the list to ``path`` (default: where it was loaded from) atomically: a
        temporary file in the same directory, flushed to disk, then renamed over the target,
        so a crash leaves either the old file or the new one, never half of one."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise OcdError(f"{self.source}: no file to write the shot list to")
        text = self.text()
        directory = target.parent if str(target.parent) else Path(".")
        try:
            handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                                 dir=directory)
        except OSError as exc:
            raise OcdError(f"{target}: cannot write the shot list: {exc.strerror}") from None
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            try:
                os.chmod(temporary, target.stat().st_mode & 0o7777)
            except FileNotFoundError:
                os.chmod(temporary, 0o644)
            os.replace(temporary, target)
        except OSError as exc:
            Path(temporary).unlink(missing_ok=True)
            raise OcdError(f"{target}: cannot write the shot list: {exc.strerror}") from None
        _fsync_directory(directory)
        return target

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_shots(path: str | os.PathLike[str]) -> ShotStore:
    """Read a shot file into a :class:`ShotStore` (errors name file, line and column)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OcdError(f"{path}: cannot read the shot list: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ShotFileError(str(path), line, column, "not UTF-8 text") from None
    return ShotStore.from_text(text, str(path), path)
