"""The archiver's journal: every message taken off the socket, on disk before the archiver
goes on, until the batch holding it is in the archive (or in the spool).

A ``kill -9`` of the archiver then loses only what the socket had not delivered: the messages
received but not yet written are in the journal, and the next ``ocd archive record`` writes
them first (the archive ignores those it already has). One segment file per batch, in
order: the receiving thread appends to the newest (one ``write`` per look at the socket,
straight to the kernel: a killed process loses nothing written), starts a new one when it
hands a batch to the writer, and the writer deletes the oldest when it has written its batch.
A segment cut short (the archiver killed in the middle of an append) is read up to its last
whole message.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
from collections import deque
from pathlib import Path

from ocd.errors import OcdError
from ocd.recording.recorder import Raw

log = logging.getLogger(__name__)

_HEAD = struct.Struct(">IId")  # topic length, payload length, time received
#: Largest frame read back from a segment (a longer length is damage).
MAX_FRAME = 1 << 28
_PREFIX = "journal-"


def read_segment(path: Path) -> list[Raw]:
    """The whole messages of one segment, in order (a tail cut short is said and left out)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        log.warning("cannot read the journal segment %s: %s", path, exc)
        return []
    batch: list[Raw] = []
    at = 0
    while at + _HEAD.size <= len(data):
        topic_len, payload_len, received = _HEAD.unpack_from(data, at)
        end = at + _HEAD.size + topic_len + payload_len
        if topic_len > MAX_FRAME or payload_len > MAX_FRAME or end > len(data):
            break
        start = at + _HEAD.size
        batch.append((data[start:start + topic_len],
                      data[start + topic_len:end], received))
        at = end
    if at != len(data):
        log.warning("the journal segment %s ends with a message cut short (%d byte(s) "
                    "left out: an archiver killed while it wrote)", path, len(data) - at)
    return batch


def segments(directory: Path) -> list[Path]:
    """The segment files in ``directory``, oldest first."""
    return sorted(path for path in directory.glob(f"{_PREFIX}*")
                  if path.name[len(_PREFIX):].isdigit())


class Journal:
    """The segments in ``directory`` (made if missing)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OcdError(f"cannot make the archive's journal {self.directory}: "
                           f"{exc.strerror or exc} ([archive] spool_dir)") from None
        self._found = segments(self.directory)
        self._next = 1 + max((int(p.name[len(_PREFIX):]) for p in self._found), default=0)
        #: The segment of each batch handed to the writer and not yet written, oldest first
        #: (None: a batch of nothing worth keeping).
        self._handed: deque[Path | None] = deque()
        self._current: Path | None = None
        self._fd: int | None = None
        self._lock = threading.Lock()

    def recovered(self) -> list[list[Raw]]:
        """The batches an earlier archiver received and did not write, oldest first; they
        count as handed to the writer (call once, before receiving)."""
        batches = []
        for path in self._found:
            batch = read_segment(path)
            if batch:
                batches.append(batch)
                self._handed.append(path)
            else:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        self._found = []
        return batches

    def add(self, messages: list[Raw]) -> None:
        """Append messages just received (before the receiver goes on)."""
        parts = []
        for topic, payload, received in messages:
            if payload is not None:  # a message of the wrong shape is dropped anyway
                parts += [_HEAD.pack(len(topic), len(payload), received), topic, payload]
        if not parts:
            return
        with self._lock:
            if self._fd is None:
                self._current = self.directory / f"{_PREFIX}{self._next:012d}"
                self._next += 1
                self._fd = os.open(self._current, os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                                   0o600)
            data = b"".join(parts)
            while data:
                data = data[os.write(self._fd, data):]

    def roll(self) -> None:
        """The batch received so far goes to the writer: its segment is closed, the next
        messages start another."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._handed.append(self._current)
            self._current = None

    def done(self) -> None:
        """The oldest batch handed is written (or spooled): its segment goes."""
        with self._lock:
            path = self._handed.popleft() if self._handed else None
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def close(self) -> None:
        """At the end: a segment still open holds no batch (everything was handed)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
