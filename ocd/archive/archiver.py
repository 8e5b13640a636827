"""``ocd archive record``: every event of the bus into the archive, through the spool when the
server is away.

The reception and decoding are ``ocd record``'s (:class:`~ocd.recording.recorder.Receiver`,
:class:`~ocd.recording.recorder.BatchWriter`); this writer turns each event into the archive's
row and writes batches. When the server cannot be reached, batches go to the spool (in order)
and the writer tries again every ``[archive] retry_interval`` seconds; once the server answers,
the spool is written first, a few batches at a time between new ones, then new batches go
straight to the server again. Nothing is stored twice (the archive ignores an event it has).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from ocd.archive.journal import Journal
from ocd.archive.rows import MAX_TOPIC, EventRow, event_row
from ocd.archive.spool import Spool
from ocd.archive.store import ArchiveStore, ArchiveUnreachable
from ocd.bus import BusOptions, BusSecurity, Source
from ocd.bus.sequence import SeqCheck, SeqKind
from ocd.errors import OcdError
from ocd.recording.recorder import BatchWriter, Raw, Receiver, RecordSettings, RecordStats

log = logging.getLogger(__name__)

#: Spool records written per call between new batches (each a batch of events).
DRAIN_STEP = 8


@dataclass(frozen=True)
class ArchiveSettings:
    """``[archive]``'s writing options (the connection is a MysqlSettings)."""

    spool_dir: Path
    spool_max_bytes: int = 2000 * 10 ** 6
    retry_interval: float = 1.0


class ArchiveWriter(BatchWriter):
    """Writes decoded batches into the archive, or into the spool while it is away."""

    def __init__(self, store: ArchiveStore, spool: Spool, stats: RecordStats,
                 complete: Callable[[str], bool], retry: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic,
                 journal: Journal | None = None) -> None:
        super().__init__(stats, complete, name="archive-writer")
        self.store, self.spool, self.retry = store, spool, retry
        self.journal = journal
        self.down_since: float | None = None
        self.too_long = 0          # events refused: a topic longer than the archive's column
        self.already_there = 0        # events the archive already had
        self._tried = -float("inf")
        self._monotonic = monotonic

    def row(self, topic: str, text: str, payload: dict[str, Any], received: float,
            check: SeqCheck | None) -> EventRow | None:
        if len(topic) > MAX_TOPIC:
            self.too_long += 1
            self.limited.warning("topic", f"dropped an event whose topic is longer than "
                                 f"{MAX_TOPIC} characters ({self.too_long} so far): "
                                 f"{topic[:60]}...")
            return None
        first = check is not None and check.kind is SeqKind.FIRST
        missing = check.missing if check is not None and check.kind is SeqKind.GAP else 0
        return event_row(topic, text, payload, received, first, missing)

    def batch_done(self) -> None:
        if self.journal is not None:  # the batch is in the archive or the spool
            self.journal.done()

    def retry_interval(self) -> float | None:
        if self.down_since is not None:
            return self.retry
        return 0.0 if self.spool.pending else None

    def last_try(self) -> None:
        """At a stop: write the spool through if the server answers (what stays is written
        at the next start)."""
        self.write([])
        while self.spool.pending and self.down_since is None:
            self._drain()

    def write(self, rows: list[EventRow | None]) -> None:
        batch = [row for row in rows if row is not None]
        if self.spool.pending or self.down_since is not None:
            self._spool(batch)
            if self._monotonic() - self._tried >= self.retry or self.down_since is None:
                self._drain()
            return
        try:
            self._store(batch)
        except ArchiveUnreachable as exc:
            self.went_down(exc)
            self._spool(batch)

    def _store(self, batch: list[EventRow]) -> None:
        new = self.store.write(batch)
        self.stats.stored += new
        self.already_there += len(batch) - new

    def _spool(self, batch: list[EventRow]) -> None:
        if not self.spool.append(batch):
            self.stats.dropped += len(batch)
            self.limited.warning("spool full", f"the spool {self.spool.path} is full "
                                 f"({self.spool.size} bytes): {self.spool.dropped} event(s) "
                                 "dropped so far ([archive] spool_max_mb)")

    def _drain(self) -> None:
        """Write up to :data:`DRAIN_STEP` waiting batches, oldest first."""
        self._tried = self._monotonic()
        try:
            for _ in range(DRAIN_STEP):
                record = self.spool.peek()
                if record is None:
                    break
                batch, after = record
                self._store(batch)
                self.spool.done(after)
        except ArchiveUnreachable as exc:
            self.went_down(exc)
            return
        if self.down_since is not None:
            log.warning("the archive is back after %.0f s: writing the %s spooled",
                        self._monotonic() - self.down_since,
                        "rest of what was" if self.spool.pending else "events")
            self.down_since = None
        if not self.spool.pending:
            self.spool.done(self.spool.size)

    def went_down(self, exc: OcdError) -> None:
        if self.down_since is None:
            self.down_since = self._monotonic()
            log.warning("%s; spooling into %s and trying again every %g s", exc,
                        self.spool.path, self.retry)
        self._tried = self._monotonic()


class Archiver(Receiver):
    """Subscribe like ``ocd record`` and store every event in the archive."""

    def __init__(self, store: ArchiveStore, settings: ArchiveSettings,
                 urls: Iterable[str] = (), topics: Iterable[str] = ("",), *,
                 sources: Iterable[Source] | None = None, ctx: zmq.Context[Any] | None = None,
                 options: BusOptions | None = None, record: RecordSettings | None = None,
                 security: BusSecurity | None = None) -> None:
        self.store = store
        away: ArchiveUnreachable | None = None
        try:
            store.check()  # a missing or foreign schema stops the archiver at once
        except ArchiveUnreachable as exc:  # the server is away: spool from the start
            away = exc
        self.spool = Spool(settings.spool_dir, settings.spool_max_bytes)
        self.journal = Journal(settings.spool_dir / "journal")
        try:
            super().__init__(urls, topics, sources=sources, ctx=ctx, options=options,
                             settings=record, security=security)
        except BaseException:
            self.spool.close()
            raise
        self.writer = ArchiveWriter(store, self.spool, self.stats, self.receives_all_of,
                                    settings.retry_interval, journal=self.journal)
        self.writer.first = self.journal.recovered()
        if self.writer.first:
            log.warning("the journal %s holds %d message(s) an archiver received and did not "
                        "write (it was killed): archiving them first", self.journal.directory,
                        sum(len(batch) for batch in self.writer.first))
        if away is not None:
            self.writer.went_down(away)
        if self.spool.pending:
            log.warning("the spool %s holds %d byte(s) of events not yet archived: writing "
                        "them first", self.spool.path, self.spool.size)

    def _receive_available(self, batch: list[Raw], limit: int) -> None:
        """Receive as ``ocd record`` does, and journal what came before going on."""
        start = len(batch)
        super()._receive_available(batch, limit)
        if len(batch) > start:
            self.journal.add(batch[start:])

    def hand(self, writer: BatchWriter, batch: list[Raw]) -> None:
        self.journal.roll()
        super().hand(writer, batch)

    def run(self) -> RecordStats:
        """Archive until :meth:`stop`; returns the statistics once everything is written (or
        spooled)."""
        try:
            self.receive(self.writer)
        finally:
            self.journal.close()
            self.spool.close()
            self.store.close()
        if self.writer.error is not None:
            raise OcdError(f"archiving failed after {self.stats.stored} events: "
                           f"{self.writer.error}") from None
        return self.stats

    def summary(self) -> str:
        stats, writer = self.stats, self.writer
        waiting = self.spool.size if self.spool.pending else 0
        return (f"{stats.stored} events archived ({len(stats.topics)} topics)"
                + (f", {writer.already_there} already there" if writer.already_there else "")
                + (f", {self.spool.spooled} went through the spool" if self.spool.spooled
                   else "")
                + (f"; {waiting} byte(s) still in the spool {self.spool.path}, archived at "
                   "the next start" if waiting else "")
                + (f"; {stats.dropped} dropped (the spool was full)" if stats.dropped else "")
                + (f"; {writer.too_long} dropped (topic too long)" if writer.too_long else "")
                + f"; {stats.malformed} malformed dropped; {stats.sequences.gaps} sequence "
                f"gap(s), {stats.sequences.lost} event(s) lost before reaching the archiver, "
                f"{stats.sequences.restarts} restart(s)"
                + (f"; {self.store.missed} event(s) missing since the last ones archived "
                   "(no archiver was receiving them; written as gaps)" if self.store.missed
                   else ""))
