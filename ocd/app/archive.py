"""``ocd archive``: the survey's archive in the site's MariaDB (doc/archive.md).

``init`` creates or migrates the tables; ``record`` is the long-running archiver (``ocd
record``'s reception, the archive's writer and spool); ``night``, ``shot`` and ``events``
read it; ``import`` loads ``ocd record`` files; ``prune`` deletes old nights.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from ocd.app.recorder import chosen_sources, receive_until_stopped, settings_from_config
from ocd.archive.archiver import Archiver, ArchiveSettings
from ocd.archive.report import (
    render_night,
    render_visits,
    report_topics,
    tell_night,
    visit_document,
)
from ocd.archive.rows import MAX_TOPIC, EventRow, event_row
from ocd.archive.store import ArchiveStore
from ocd.bus import Source, bus_options, security_from_config
from ocd.bus.envelope import loads
from ocd.config import Config
from ocd.errors import OcdError, printable, printable_lines
from ocd.recording.recorder import RecordSettings, RecordStats, record_topics
from ocd.recording.store import open_for_replay, open_recording
from ocd.shell.service import Service, run_service

log = logging.getLogger("ocd.archive")

#: Events written per transaction by ``ocd archive import``.
IMPORT_BATCH = 5000


def archive_settings(cfg: Config) -> ArchiveSettings:
    """``[archive]``'s spool and retry options."""
    spool = cfg.get_path("archive", "spool_dir")
    if spool is None:
        import platformdirs

        spool = platformdirs.user_data_path("ocd", appauthor=False) / "archive-spool"
    return ArchiveSettings(spool, cfg.get_int("archive", "spool_max_mb") * 10 ** 6,
                           cfg.get_float("archive", "retry_interval"))


def record_settings(cfg: Config) -> RecordSettings:
    """``[record]``'s reception options with ``[archive]``'s batch size and flush interval."""
    base = settings_from_config(cfg)
    return RecordSettings(batch_size=cfg.get_int("archive", "batch_size"),
                          flush_interval=cfg.get_float("archive", "flush_interval"),
                          stop_drain=base.stop_drain, full_disk_buffer=base.full_disk_buffer)


# -- init ------------------------------------------------------------------------------------
def archive_init(cfg: Config) -> int:
    store = ArchiveStore.from_config(cfg)
    try:
        applied = store.migrate()
    finally:
        store.close()
    if applied:
        print(f"{store.describe()}: schema migrated to version {applied[-1]} "
              f"(step(s) {', '.join(map(str, applied))} applied)")
    else:
        print(f"{store.describe()}: schema up to date")
    return 0


# -- record ----------------------------------------------------------------------------------
class ArchiveService(Service):
    """One ``ocd archive record`` process: the receiving loop in a worker thread, stopped
    cleanly by a signal (everything received is written, or left in the spool)."""

    file_headroom = True

    def __init__(self, cfg: Config, sources: list[Source], topics: list[str]) -> None:
        super().__init__("ocd archive record")
        self.cfg, self.sources, self.topics = cfg, sources, topics
        self.security = security_from_config(cfg)
        self.stats: RecordStats | None = None

    async def start(self) -> None:
        store = ArchiveStore.from_config(self.cfg)
        self.archiver = await asyncio.to_thread(
            Archiver, store, archive_settings(self.cfg), topics=self.topics,
            sources=self.sources, ctx=self.ctx, options=bus_options(self.cfg),
            record=record_settings(self.cfg), security=self.security)

    async def main(self) -> int:
        log.info("archiving %s from %s into %s", ", ".join(repr(t) for t in self.topics),
                 ", ".join(self.archiver.urls), self.archiver.store.describe())
        # everything received is written, or left in the spool
        self.stats = await receive_until_stopped(self, self.archiver)
        return 0


def archive_record(cfg: Config, *, urls: list[str], topics: list[str]) -> int:
    """``ocd archive record``: archive until SIGINT or SIGTERM, then say what was stored."""
    service = ArchiveService(cfg, chosen_sources(cfg, urls, "archive"), record_topics(topics))
    run_service(service)
    print(printable_lines(f"ocd archive record: {service.archiver.summary()}"))
    return 0


# -- the reads -------------------------------------------------------------------------------
def archive_night(cfg: Config, night: dt.date, as_json: bool) -> int:
    store = ArchiveStore.from_config(cfg)
    try:
        store.check()
        span = store.night(night)
        if span is None:
            raise OcdError(f"no event of the night {night.isoformat()} in {store.describe()}")
        events = store.night_events(night, report_topics(), span[0], span[1])
        told = tell_night(night, span, events, store.gaps(night))
    finally:
        store.close()
    if as_json:
        print(json.dumps(told.as_dict(), ensure_ascii=False))
    else:
        print(printable_lines(render_night(told)))
    return 0


def archive_shot(cfg: Config, shotid: str, as_json: bool) -> int:
    store = ArchiveStore.from_config(cfg)
    try:
        store.check()
        visits = store.visits(shotid)
    finally:
        store.close()
    if as_json:
        print(json.dumps({"shotid": shotid, "visits": [visit_document(v) for v in visits]},
                         ensure_ascii=False))
    else:
        print(printable_lines(render_visits(shotid, visits)))
    return 0


def archive_events(cfg: Config, topic: str, start: dt.datetime | None,
                   end: dt.datetime | None, as_json: bool) -> int:
    """The events as JSON lines (``{"topic": ..., "payload": {...}}``, the stored text as it
    is); without ``--json`` one line each, escaped."""
    store = ArchiveStore.from_config(cfg)
    try:
        store.check()
        for got, text in store.events(topic, None if start is None else start.timestamp(),
                                      None if end is None else end.timestamp()):
            if as_json:
                print(f'{{"topic":{json.dumps(got, ensure_ascii=False)},"payload":{text}}}')
            else:
                print(printable(f"{got} {text}"))
    finally:
        store.close()
    return 0


# -- import and prune ------------------------------------------------------------------------
def _recorded_rows(path: Path) -> Iterator[list[EventRow]]:
    """The events of one ``ocd record`` file as the archive's rows, a batch at a time (the
    file is untrusted: read under the replay's guards, each payload decoded strictly)."""
    conn = open_for_replay(path)  # every statement and fetch under a deadline
    try:
        cursor = conn.execute("SELECT topic, payload, received FROM events ORDER BY id")
        while True:
            fetched = cursor.fetchmany(IMPORT_BATCH)
            if not fetched:
                return
            batch = []
            for topic, text, received in fetched:
                if not isinstance(topic, str) or not isinstance(text, str) \
                        or not topic or len(topic) > MAX_TOPIC:
                    continue
                try:
                    payload = loads(text.encode("utf-8"))
                except ValueError:
                    continue
                if isinstance(payload, dict) and isinstance(received, (int, float)):
                    batch.append(event_row(topic, text, payload, float(received)))
            yield batch
    except sqlite3.Error as exc:
        raise OcdError(f"{path}: {exc}") from None
    finally:
        conn.close()


def archive_import(cfg: Config, files: list[Path]) -> int:
    store = ArchiveStore.from_config(cfg)
    try:
        store.check()
        for path in files:
            read = new = 0
            for batch in _recorded_rows(path):
                read += len(batch)
                new += store.write(batch)
            print(printable_lines(f"ocd archive import: {path}: {new} event(s) archived, "
                                  f"{read - new} already there"))
    finally:
        store.close()
    return 0


def archive_prune(cfg: Config, before: dt.date) -> int:
    store = ArchiveStore.from_config(cfg)
    try:
        store.check()
        nights, events = store.prune(before)
    finally:
        store.close()
    print(f"ocd archive prune: {nights} night(s) before {before.isoformat()} deleted "
          f"({events} events)")
    return 0


# -- replay ----------------------------------------------------------------------------------
def export_night(cfg: Config, night: dt.date, out: Path) -> int:
    """Write the night's events into ``out``, a new ``ocd record`` file (for ``ocd db_replay
    --archive``, which replays it as it replays any recording); the number written."""
    store = ArchiveStore.from_config(cfg)
    conn = open_recording(out)
    written = 0
    try:
        store.check()
        if store.night(night) is None:
            raise OcdError(f"no event of the night {night.isoformat()} in {store.describe()}")
        for rows in store.replay_rows(night):
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO events (topic, payload, __data_time, __wire_time, "
                             "received) VALUES (?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
            written += len(rows)
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()
        store.close()
    return written


def replay_archived_night(cfg: Config, night: dt.date, *, speedup: float | None, sort_by: str,
                          topics: list[str], loop: bool, subscribers: int,
                          wait: float | None) -> int:
    """``ocd db_replay --archive DATE``: the night written into a private temporary
    recording, then replayed like any recording (the same checks, pacing and summary)."""
    import tempfile

    from ocd.app.replay import run_db_replay

    with tempfile.TemporaryDirectory(prefix="ocd-archive-night-") as folder:
        db = Path(folder) / f"night-{night.isoformat()}.db"
        count = export_night(cfg, night, db)
        log.info("night %s: %d events read from the archive", night.isoformat(), count)
        return run_db_replay(cfg, db, speedup=speedup, sort_by=sort_by, topics=topics,
                             loop=loop, subscribers=subscribers, wait=wait)
