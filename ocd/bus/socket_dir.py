"""The directory of an ``ipc://`` socket: made private when OCD creates it, checked when it is
there already.

Why: whoever can write the directory of a Unix socket can bind its name before OCD does (and
receive what OCD's processes send there, or keep OCD from starting) or replace it while OCD
runs. The single-host address plan keeps every socket in a directory only OCD's user can write
(mode 0700, :mod:`ocd.config.runtime`); a directory another user owns, or that anyone may
write without the sticky bit, is refused; one other users may add files to (``/tmp``, a
group-writable directory) is accepted with a warning.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from ocd.errors import OcdError

log = logging.getLogger("ocd.bus")

#: Directories already warned about (once per process each).
_warned: set[Path] = set()


def make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and its missing parents, each with mode 0700."""
    missing = []
    for path in (directory, *directory.parents):
        if path.exists():
            break
        missing.append(path)
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another OCD process made it meanwhile
            path.mkdir(mode=0o700)


def check_socket_dir(directory: Path, url: str) -> None:
    """Create the directory of the socket of ``url`` (mode 0700) or check the one there: refused
    when another user owns it or anyone may write it without the sticky bit; a warning when
    other users may add files to it."""
    try:
        make_private_dirs(directory)
        info = directory.stat()
    except OSError as exc:
        raise OcdError(f"cannot create the directory of {url}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise OcdError(f"cannot bind {url}: {directory} is not a directory")
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid not in (os.geteuid(), 0):
        raise OcdError(f"cannot bind {url}: its directory {directory} belongs to another user "
                       f"(uid {info.st_uid}), who could take or replace OCD's sockets there; "
                       "use a directory of your own (the single-host plan's is private)")
    if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
        raise OcdError(f"cannot bind {url}: anyone may write its directory {directory} (mode "
                       f"{mode:04o}) and replace OCD's sockets there; run chmod o-w "
                       f"{directory}, or use a private directory")
    if mode & (stat.S_IWGRP | stat.S_IWOTH) and directory not in _warned:
        _warned.add(directory)
        log.warning("%s is in %s, where other users may create files (mode %04o): they can "
                    "take OCD's addresses there before OCD binds them; the single-host plan "
                    "keeps its sockets in a private directory (doc/bus.md)", url, directory,
                    mode)
