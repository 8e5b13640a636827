"""Bounded reads of the files OCD is pointed at (the shot list, a shot's star file).

A path may name anything: a FIFO, whose ``open()`` blocks until someone writes to it; a device
such as ``/dev/zero``, which never ends; a huge file. :func:`read_regular` reads only a regular
file, and at most a given number of bytes: the kind is checked before opening (opening some
devices has effects) and again on the open file (a file swapped in between is caught), the
open itself never blocks (``O_NONBLOCK``), and the read stops one byte past the cap.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: Largest shot list OCD reads (a night's list is some kilobytes; 4 MiB is ~40 000 shots).
MAX_SHOT_FILE_BYTES = 4 * 1024 * 1024
#: Largest star file of a shot (four lines of text).
MAX_STAR_FILE_BYTES = 64 * 1024
_CHUNK = 65536


class NotReadable(OSError):
    """A path that names no regular file, or a file larger than allowed (``strerror`` says
    which, so a caller handles it as any other OSError)."""


def read_regular(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` of them; OSError (a
    :class:`NotReadable` for another kind of file or a bigger one) otherwise."""
    if not stat.S_ISREG(os.stat(path).st_mode):  # follows links; never blocks, even on a FIFO
        raise NotReadable(0, "not a regular file")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # swapped after the check above
            raise NotReadable(0, "not a regular file")
        if info.st_size > max_bytes:
            raise NotReadable(0, f"larger than {max_bytes} bytes")
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:  # it grew while read
            raise NotReadable(0, f"larger than {max_bytes} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)
