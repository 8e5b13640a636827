"""``ocd record``: store the events on the bus in an SQLite file."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ocd.bus import SERVICES, Source, bus_options, security_from_config, sources_of
from ocd.config import Config
from ocd.core.sources import ANY
from ocd.errors import UsageError, printable_lines
from ocd.recording.recorder import Recorder, RecordSettings, RecordStats, record_topics
from ocd.shell.service import Service, run_service

if TYPE_CHECKING:  # ocd record does not import the archive
    from ocd.archive.archiver import Archiver

log = logging.getLogger("ocd.record")


def default_sources(cfg: Config) -> list[Source]:
    """The OCD services (the replay too when configured) and the TCS stream."""
    return sources_of(cfg, SERVICES, tcs=True)


def settings_from_config(cfg: Config) -> RecordSettings:
    """``[record]`` (the configuration checks each option's range)."""
    return RecordSettings(batch_size=cfg.get_int("record", "batch_size"),
                          flush_interval=cfg.get_float("record", "flush_interval"),
                          stop_drain=cfg.get_float("record", "stop_drain"),
                          full_disk_buffer=cfg.get_int("record", "full_disk_buffer"))


def chosen_sources(cfg: Config, urls: list[str], verb: str) -> list[Source]:
    """``--urls`` (each may be a comma-separated list) as one source that may send anything,
    else the configured ones; UsageError when there is no address to ``verb`` from."""
    given = [url.strip() for item in urls for url in item.split(",") if url.strip()]
    chosen = [Source(ANY, tuple(dict.fromkeys(given)))] if given else default_sources(cfg)
    if not any(source.urls for source in chosen):
        raise UsageError(f"no address to {verb} from: give --urls or set [urls]")
    return chosen


async def receive_until_stopped(service: Service, receiver: Recorder | Archiver
                                ) -> RecordStats:
    """Run ``receiver``'s blocking loop in a worker thread until ``service`` is stopped, then
    stop it (it drains the socket and writes everything) and return its statistics."""
    work = asyncio.ensure_future(asyncio.to_thread(receiver.run))
    await service.wait_until_stopped(asyncio.shield(work))
    receiver.stop()
    return await work


class RecordService(Service):
    """One ``ocd record`` process: the recorder's receiving loop in a worker thread (it is
    built for speed with blocking calls), stopped cleanly by a signal."""

    file_headroom = True

    def __init__(self, cfg: Config, out: Path, sources: list[Source], topics: list[str]
                 ) -> None:
        super().__init__("ocd record")
        self.cfg, self.out, self.sources, self.topics = cfg, out, sources, topics
        self.security = security_from_config(cfg)
        self.stats: RecordStats | None = None

    async def start(self) -> None:
        self.recorder = Recorder(self.out, topics=self.topics, sources=self.sources,
                                 ctx=self.ctx, options=bus_options(self.cfg),
                                 settings=settings_from_config(self.cfg),
                                 security=self.security)

    async def main(self) -> int:
        log.info("recording %s from %s into %s",
                 ", ".join(repr(t) for t in self.recorder.topics),
                 ", ".join(self.recorder.urls),
                 self.out)
        self.stats = await receive_until_stopped(self, self.recorder)  # the file closed too
        return 0


def run_record(cfg: Config, out: Path, *, urls: list[str], topics: list[str]) -> int:
    """``ocd record``: record until SIGINT or SIGTERM, then print what was stored."""
    chosen = chosen_sources(cfg, urls, "record")
    if out.is_dir():
        raise UsageError(f"{out} is a directory: give the SQLite file to write")
    service = RecordService(cfg, out, chosen, record_topics(topics))
    run_service(service)
    assert service.stats is not None
    print(printable_lines(f"ocd record: {out}: {service.stats.summary()}"))
    return 0
