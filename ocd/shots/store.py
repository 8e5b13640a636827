"""The shot list OCD keeps while running, and its file written back.

The file is written back byte for byte except for the ``n_obs`` values that changed: comments,
blank lines, spacing and number formats stay as the planner wrote them. The store is an
in-memory SQLite database so that "decrement exactly once" is one guarded UPDATE under a lock,
whichever thread asks.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ocd.errors import OcdError, UsageError
from ocd.shots.files import MAX_SHOT_FILE_BYTES, read_regular
from ocd.shots.locks import real_file, write_lock
from ocd.shots.model import COLUMNS, Shot, ShotFileError, ShotTable, lines_of, parse_line

_SCHEMA = f"""
CREATE TABLE lines (lineno INTEGER PRIMARY KEY, text TEXT NOT NULL, shotid TEXT,
                    n_obs_start INTEGER, n_obs_end INTEGER);
CREATE TABLE shots (position INTEGER PRIMARY KEY, {', '.join(
    f'{name} TEXT UNIQUE NOT NULL' if name == 'shotid' else
    f'{name} INTEGER NOT NULL CHECK ({name} >= 0)' if name == 'n_obs' else name
    for name in COLUMNS)});
"""
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM shots"
#: Seconds a writer waits for another one to finish writing the shot file.
WRITE_LOCK_TIMEOUT = 10.0


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
        lines: list[tuple[int, str, str | None, int | None, int | None]] = []
        shots = []
        for lineno, line in enumerate(lines_of(text), start=1):
            row = parse_line(source, lineno, line)
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
        """The remaining (or all) shots as columns, read once and kept up to date by
        :meth:`decrement`."""
        with self._lock:
            if remaining not in self._tables:
                shots = self.remaining() if remaining else self.all()
                self._tables[remaining] = ShotTable.from_shots(shots)
            return self._tables[remaining]

    def __len__(self) -> int:
        with self._lock:
            count: int = self._db.execute("SELECT count(*) FROM shots").fetchone()[0]
            return count

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
            left = int(row[0])
            self._tables = {remaining: table.with_n_obs(shotid, left, drop_done=remaining)
                            for remaining, table in self._tables.items()}
            return left

    def excluding(self, shotids: list[str]) -> ShotStore:
        """A copy of the list without the shots ``shotids`` (never written back)."""
        with self._lock:
            copy = ShotStore.from_text(self.text(), self.source)
        with copy._lock, copy._db:
            copy._db.executemany("DELETE FROM shots WHERE shotid = ?",
                                 [(shotid,) for shotid in shotids])
        return copy

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
        atomic_write(target, self.text().encode("utf-8"), "the shot list")
        return target

    def close(self) -> None:
        with self._lock:
            self._db.close()


def atomic_write(target: Path, data: bytes, what: str) -> None:
    """Write ``data`` to ``target`` durably and atomically: a temporary file in the same
    directory, flushed to disk, renamed over the target, and the rename itself flushed, so a
    crash (even ``kill -9`` or a power cut) leaves the old file or the new one, never half of
    one. An :class:`OcdError` names ``what`` could not be written. A symbolic link stays one:
    the file it points to is replaced (in that file's directory), never the link."""
    target = real_file(target)
    directory = target.parent
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                             dir=directory)
    except OSError as exc:
        raise OcdError(f"{target}: cannot write {what}: {exc.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        try:
            os.chmod(temporary, target.stat().st_mode & 0o7777)
        except FileNotFoundError:
            os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise OcdError(f"{target}: cannot write {what}: {exc.strerror}") from None
    _fsync_directory(directory)


def remove_durably(target: Path) -> None:
    """Delete ``target`` (if there) and flush the directory, so the removal survives a
    crash."""
    target.unlink(missing_ok=True)
    _fsync_directory(target.parent if str(target.parent) else Path("."))


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


def decrement_file(path: str | os.PathLike[str], shotid: str,
                   timeout: float = WRITE_LOCK_TIMEOUT) -> ShotStore:
    """Count one completed visit of ``shotid`` in the shot file ``path`` itself: under the
    file's write lock, read it again (another process may have rewritten it since it was
    loaded: ``ocd run_shot`` while ``ocd run`` runs, or the reverse), decrement, write it back.
    Returns the list as written. Two processes finishing shots at the same moment thus both
    count: neither overwrites the other's decrement."""
    path = Path(path)
    with write_lock(path, timeout):
        store = load_shots(path)
        store.decrement(shotid)
        store.write(path)
    return store


def load_shots(path: str | os.PathLike[str]) -> ShotStore:
    """Read a shot file into a :class:`ShotStore` (errors name file, line and column): a
    regular file of at most :data:`MAX_SHOT_FILE_BYTES`, never a FIFO or a device."""
    path = Path(path)
    try:
        data = read_regular(path, MAX_SHOT_FILE_BYTES)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the shot list: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ShotFileError(str(path), line, column, "not UTF-8 text") from None
    return ShotStore.from_text(text, str(path), path)


def file_stamp(path: Path) -> tuple[int, int] | None:
    """Modification time and size of ``path`` (None when it cannot be read), to notice that
    a shot file was rewritten."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
