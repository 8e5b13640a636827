"""A shot and the 17-column shot file's rows, read strictly: every error names file, line and
column, since the file is the contract with the HETDEX planners. Also the shots as numpy
columns (:class:`ShotTable`), the form the scheduler computes with. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ocd.errors import EXIT_USAGE, OcdError, printable

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
        """The shot as JSON-friendly values, for event payloads (every field a scalar: no
        deep copy needed, as ``dataclasses.asdict`` would make at ten times the cost)."""
        return {name: getattr(self, name) for name in _SHOT_FIELDS}


_SHOT_FIELDS = tuple(f.name for f in fields(Shot))


class ShotFileError(OcdError):
    """A shot file that cannot be used; the message names file, line and column. Exit status
    2, as a bad configuration file: the input the user named is wrong, nothing failed."""

    exit_code = EXIT_USAGE

    def __init__(self, source: str, line: int, column: int, message: str) -> None:
        super().__init__(f"{source}:{line}:{column}: {message}")
        self.source = source
        self.line = line
        self.column = column


# -- parsing -----------------------------------------------------------------------------------

#: Range of an integer column (a 32-bit integer: the scheduler computes with fixed widths).
INT_LOW, INT_HIGH = -(2**31), 2**31 - 1


def _number(text: str, kind: type) -> float | int:
    """``text`` as an int or a finite float; ValueError with the expectation otherwise."""
    if kind is int:
        try:
            number = int(text)
        except ValueError:
            raise ValueError("expected an integer") from None
        if not INT_LOW <= number <= INT_HIGH:
            raise ValueError(f"out of range [{INT_LOW}, {INT_HIGH}]")
        return number
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


def lines_of(text: str) -> list[str]:
    """Lines with their endings, split at newlines only (``str.splitlines`` also splits at form
    feeds and other separators, which would shift line numbers and alter write-back)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _refuse_controls(source: str, lineno: int, content: str) -> None:
    """A shot's columns are plain text: a control character (NUL, ESC...) would reach the
    logs, the terminal and the shot's file names. Comments may hold anything."""
    for column, char in enumerate(content, start=1):
        if not char.isprintable() and char not in " \t":
            raise ShotFileError(source, lineno, column, f"control character {printable(char)}: "
                                "a shot's columns are plain text")


def parse_line(source: str, lineno: int, line: str) -> _Row | None:
    """The shot on ``line``, or None for a blank or comment line."""
    content = line.split("#", 1)[0]
    _refuse_controls(source, lineno, content.rstrip("\r\n"))
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

    def with_n_obs(self, shotid: str, n_obs: int, drop_done: bool) -> ShotTable:
        """A copy with shot ``shotid``'s ``n_obs`` changed (dropped when it falls to 0 and
        ``drop_done``): what the store keeps after a decrement instead of reading the whole
        list again; the other columns are shared (a table is never changed in place)."""
        index = next(i for i, shot in enumerate(self.shots) if shot.shotid == shotid)
        if drop_done and n_obs <= 0:
            keep = np.arange(len(self.shots)) != index
            return ShotTable(self.shots[:index] + self.shots[index + 1:], self.ra[keep],
                             self.dec[keep], self.track[keep], self.priority[keep],
                             self.n_obs[keep], self.forced_az[keep])
        counts = self.n_obs.copy()
        counts[index] = n_obs
        shots = list(self.shots)
        shots[index] = dataclasses.replace(shots[index], n_obs=n_obs)
        return ShotTable(tuple(shots), self.ra, self.dec, self.track, self.priority, counts,
                         self.forced_az)

    @functools.cached_property
    def to_observe(self) -> int:
        """How many shots have visits left (``n_obs > 0``): asked at every decision, and a
        table never changes (the store makes a new one after a decrement)."""
        return int((self.n_obs > 0).sum())
