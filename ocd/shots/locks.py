"""OS file locks on the shot list: one main loop per shot file, one writer at a time.

The shot file cannot carry the locks itself: every write replaces it (a temporary file renamed
over it), and a lock on a replaced file protects nothing. Two small hidden files beside it do:

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


def lock_path(shot_file: Path, role: str) -> Path:
    """``dir/.NAME.ocd-ROLE.lock`` beside ``dir/NAME``."""
    return shot_file.with_name(f".{shot_file.name}.ocd-{role}.lock")


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
    """The shot file's ``ocd run`` lock, held until :meth:`close`."""

    def __init__(self, shot_file: Path) -> None:
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
            raise OcdError(f"another ocd run already uses the shot file {shot_file}: {holder} "
                           f"(lock {self.path}); stop it first")

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
                raise OcdError(f"the shot file {shot_file} stayed locked by another writer for "
                               f"{timeout:g} s (lock {path})")
            time.sleep(_RETRY)
        yield
    finally:
        os.close(fd)  # closing releases the lock
