"""The archiver's spool: an append-only local file holding the batches the server could not
take, written to the server in order once it is back.

A record is a batch: its length and CRC-32 (8 bytes, big-endian), then the rows as JSON. The
file is bounded (``[archive] spool_max_mb``): a batch that would pass the cap is dropped and
counted. It is read back from its start, record by record; a record cut short or damaged (the
archiver killed in the middle of an append, a bad disk) ends what is read, and is said once.
When every record is written, the file is emptied. The writes are not synced: a killed
archiver loses nothing the kernel has (a power cut may lose the last seconds).
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import orjson

from ocd.archive.rows import EventRow
from ocd.errors import OcdError

log = logging.getLogger(__name__)

MAGIC = b"OCD archive spool 1\n"
_HEAD = struct.Struct(">II")
#: Largest record read back (a batch of the largest events): a bigger length is damage.
MAX_RECORD = 1 << 31


def _encode(rows: list[EventRow]) -> bytes:
    return orjson.dumps([[*row[:1], row.uid.hex(), *row[2:]] for row in rows])


def _decode(body: bytes) -> list[EventRow]:
    items: Any = orjson.loads(body)
    if not isinstance(items, list):
        raise ValueError("not a list of rows")
    rows = []
    for item in items:
        if not isinstance(item, list) or len(item) != len(EventRow._fields):
            raise ValueError("not a row")
        item[1] = bytes.fromhex(item[1])
        rows.append(EventRow(*item))
    return rows


class Spool:
    """The spool file in ``directory`` (made if missing), at most ``max_bytes`` long."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.path = Path(directory) / "archive.spool"
        self.max_bytes = max_bytes
        self.dropped = 0        # events dropped because the spool was full
        self.spooled = 0        # events appended
        self._read_at = len(MAGIC)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a+b")  # noqa: SIM115 (kept open: closed by close())
        except OSError as exc:
            raise OcdError(f"cannot open the archive's spool {self.path}: {exc.strerror or exc}"
                           " ([archive] spool_dir)") from None
        self._file.seek(0, os.SEEK_END)
        size = self._file.tell()
        if size == 0:
            self._file.write(MAGIC)
            self._file.flush()
        else:
            self._file.seek(0)
            if self._file.read(len(MAGIC)) != MAGIC:
                self._file.close()
                raise OcdError(f"{self.path} is not an OCD archive spool: move it away "
                               "([archive] spool_dir)")
        self._end = self._file.seek(0, os.SEEK_END)

    @property
    def pending(self) -> bool:
        """Whether batches wait in the file."""
        return self._read_at < self._end

    @property
    def size(self) -> int:
        return self._end

    def append(self, rows: list[EventRow]) -> bool:
        """Add a batch at the end; False (and counted) when the cap leaves no room for it."""
        if not rows:
            return True
        body = _encode(rows)
        if self._end + _HEAD.size + len(body) > self.max_bytes:
            self.dropped += len(rows)
            return False
        self._file.seek(0, os.SEEK_END)
        self._file.write(_HEAD.pack(len(body), zlib.crc32(body)) + body)
        self._file.flush()
        self._end = self._file.tell()
        self.spooled += len(rows)
        return True

    def peek(self) -> tuple[list[EventRow], int] | None:
        """The next batch waiting and where the one after starts (None: nothing more that
        can be read; a damaged rest is said once and left out)."""
        if not self.pending:
            return None
        self._file.seek(self._read_at)
        head = self._file.read(_HEAD.size)
        problem = None
        if len(head) < _HEAD.size:
            problem = "cut short"
        else:
            length, crc = _HEAD.unpack(head)
            body = self._file.read(length) if length <= MAX_RECORD else b""
            if len(body) != length:
                problem = "cut short"
            elif zlib.crc32(body) != crc:
                problem = "damaged (checksum)"
            else:
                try:
                    return _decode(body), self._read_at + _HEAD.size + length
                except (ValueError, TypeError) as exc:
                    problem = f"unreadable ({exc})"
        log.warning("the archive's spool %s: the record at byte %d is %s: it and the %d "
                    "byte(s) after it are left out (an archiver killed while it wrote?)",
                    self.path, self._read_at, problem, self._end - self._read_at)
        self._file.truncate(self._read_at)  # appends go on after the last good record
        self._file.flush()
        self._end = self._read_at
        return None

    def done(self, upto: int) -> None:
        """The batches before ``upto`` are in the server; empty the file when all are."""
        self._read_at = upto
        if self._read_at >= self._end:
            self._file.truncate(len(MAGIC))
            self._file.flush()
            self._read_at = self._end = len(MAGIC)

    def close(self) -> None:
        self._file.close()
