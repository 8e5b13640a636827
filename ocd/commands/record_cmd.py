"""``ocd record``: store the events on the bus in an SQLite file."""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path

from ocd.bus.addresses import SERVICES, connect_urls, tcs_urls
from ocd.bus.options import bus_options
from ocd.config import Config
from ocd.errors import UsageError
from ocd.recorder import Recorder, RecordSettings, record_topics

NAME = "record"
HELP = "store every event received in an SQLite file (for ocd db_replay and inspection)"
DESCRIPTION = """\
Subscribes to the OCD processes ([urls] ocd_main_loop, ocd_run_shot, ocd_allow_hetdex,
ocd_db_replay when set) and to the TCS event stream ([urls] event_urls), or to exactly --urls,
and stores every event (topic, the JSON payload as received, its __data_time and __wire_time,
the time received) in OUT.db, appending if the file is already a recording. Writes in batches
([record] batch_size, flush_interval). Ctrl+C or SIGTERM stops it after writing everything it
received; it then prints what it stored. The schema is in doc/recording.md."""

log = logging.getLogger("ocd.record")


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT.db", type=Path, help="the SQLite file to write")
    parser.add_argument("-t", "--topic", action="append", default=[], metavar="TOPIC",
                        help="record only topics starting with TOPIC (repeatable; default: "
                             "everything)")
    parser.add_argument("--urls", action="append", default=[], metavar="URL",
                        help="connect to exactly these addresses instead of the configured "
                             "ones (repeatable; each may be a comma-separated list)")


def default_urls(cfg: Config) -> list[str]:
    """The OCD services (the replay too when configured) and the TCS stream."""
    return list(dict.fromkeys([*connect_urls(cfg, SERVICES), *tcs_urls(cfg)]))


def settings_from_config(cfg: Config) -> RecordSettings:
    settings = RecordSettings(batch_size=cfg.get("record", "batch_size"),
                              flush_interval=cfg.get("record", "flush_interval"),
                              stop_drain=cfg.get("record", "stop_drain"))
    if settings.batch_size < 1:
        raise cfg.error("record", "batch_size", str(settings.batch_size), "must be at least 1")
    for name in ("flush_interval", "stop_drain"):
        if getattr(settings, name) <= 0:
            raise cfg.error("record", name, str(getattr(settings, name)), "must be positive")
    return settings


def run(args: argparse.Namespace, cfg: Config) -> int:
    given = [url.strip() for item in args.urls for url in item.split(",") if url.strip()]
    urls = list(dict.fromkeys(given)) if given else default_urls(cfg)
    if not urls:
        raise UsageError("no address to record from: give --urls or set [urls]")
    if args.out.is_dir():
        raise UsageError(f"{args.out} is a directory: give the SQLite file to write")
    recorder = Recorder(args.out, urls, record_topics(args.topic), options=bus_options(cfg),
                        settings=settings_from_config(cfg))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: recorder.stop())
    log.info("recording %s from %s into %s",
             ", ".join(repr(t) for t in recorder.topics), ", ".join(urls), args.out)
    stats = recorder.run()
    print(f"ocd record: {args.out}: {stats.summary()}")
    return 0
