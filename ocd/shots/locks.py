"""OS file locks on the shot list: one main loop per shot file, one writer at a time.

The shot file cannot carry the locks itself: every write replaces it (a temporary file renamed
over it), and a lock on a replaced file protects nothing. Two small hidden files beside it do,
beside the file itself rather than the name it was given: a symbolic link (or a path through
another directory) to the same list finds the same locks (:func:`real_file`):

- ``.NAME.ocd-run.lock``, held by ``ocd run`` for its whole life and holding its description
  (origin and addresses), so that a second ``ocd run`` on the same shot file refuses to start
  and names the first;
- ``.NAME.ocd-write.lock``, held for the milliseconds of each read-decrement-write, by
  ``ocd run`` and ``ocd run_shot`` alike, so that no decrement is ever lost.

``fcntl.flock``: a lock belongs to the open file and vanishes with the process, even one killed
with SIGKILL, so a crash never leaves the shot list locked. Locks are advisory: they bind
OCD's processes, not an editor. The lock files stay (deleting a lock file races with a process
waiting on it). Why not the ``filelock`` package: the owner's description must live in the
lock file and be readable by the process that was refused, which ``filelock`` does not offer,
and what is needed is a dozen lines over the standard library.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ocd.errors import OcdError

#: Seconds between two attempts while waiting for the write lock.
_RETRY = 0.01


def real_file(path: Path) -> Path:
    """The file ``path`` names, every symbolic link followed and made absolute (also when the
    file does not exist yet), so that two names of one file are one file for the locks."""
    return Path(os.path.realpath(path))


def lock_path(shot_file: Path, role: str) -> Path:
    """``dir/.NAME.ocd-ROLE.lock`` beside ``dir/NAME``, the file ``shot_file`` names."""
    real = real_file(shot_file)
    return real.with_name(f".{real.name}.ocd-{role}.lock")


def _named(path: Path) -> str:
    """``path``, and the file it names when that is another path (a symbolic link)."""
    real = real_file(path)
    return str(path) if real == Path(os.path.abspath(path)) else f"{path} (= {real})"


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OcdError(f"cannot open the lock file {path}: {exc.strerror}") from None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise OcdError(f"cannot lock: {exc.strerror}") from None
    return True


class OwnerLock:
    """The ``ocd run`` lock of a file it must be alone on (the shot file, the
    observation-number file: ``what``), held until :meth:`close`."""

    def __init__(self, shot_file: Path, what: str = "shot file") -> None:
        self.path = lock_path(shot_file, "run")
        self._fd: int | None = _open(self.path)
        try:
            locked = _try_lock(self._fd)
        except OcdError:
            os.close(self._fd)
            raise
        if not locked:
            holder = self._read().strip() or "a process that did not say who it is"
            os.close(self._fd)
            self._fd = None
            raise OcdError(f"another ocd run already uses the {what} {_named(shot_file)}: "
                           f"{holder} (lock {self.path}); stop it first")

    def _read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8", errors="replace")[:1000]
        except OSError:
            return ""

    def describe(self, text: str) -> None:
        """Write who holds the lock (one line), for a process it refuses."""
        if self._fd is None:
            return
        data = " ".join(text.split()).encode("utf-8")
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data + b"\n", 0)

    def close(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # nobody holds it any more
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@contextmanager
def write_lock(shot_file: Path, timeout: float) -> Iterator[None]:
    """Hold the shot file's write lock; :class:`OcdError` if another writer keeps it longer
    than ``timeout`` seconds (a write takes milliseconds: something is stuck)."""
    path = lock_path(shot_file, "write")
    fd = _open(path)
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(fd):
            if time.monotonic() > deadline:
                raise OcdError(f"the shot file {_named(shot_file)} stayed locked by another "
                               f"writer for {timeout:g} s (lock {path})")
            time.sleep(_RETRY)
        yield
    finally:
        os.close(fd)  # closing releases the lock
