"""``ocd record``: store the events on the bus in an SQLite file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "record"
HELP = "store every event received in an SQLite file (for ocd db_replay and inspection)"
DESCRIPTION = """\
Subscribes to the OCD processes ([urls] ocd_main_loop, ocd_run_shot, ocd_allow_hetdex,
ocd_db_replay when set) and to the TCS event stream ([urls] event_urls), or to exactly --urls,
and stores every event (topic, the JSON payload as received, its __data_time and __wire_time,
the time received) in OUT.db, appending if the file is already a recording. Writes in batches
([record] batch_size, flush_interval). Ctrl+C or SIGTERM stops it after writing everything it
received; it then prints what it stored. The schema is in doc/recording.md."""


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT.db", type=Path, help="the SQLite file to write")
    add_source_options(parser, "record")


def add_source_options(parser: argparse.ArgumentParser, verb: str) -> None:
    """``--topic`` and ``--urls``: what a recorder of the bus (``ocd record``, ``ocd archive
    record``) takes and from where."""
    parser.add_argument("-t", "--topic", action="append", default=[], metavar="TOPIC",
                        help=f"{verb} only topics starting with TOPIC (repeatable; default: "
                             "everything)")
    parser.add_argument("--urls", action="append", default=[], metavar="URL",
                        help="connect to exactly these addresses instead of the configured "
                             "ones (repeatable; each may be a comma-separated list)")


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app.recorder import run_record

    return run_record(cfg, args.out, urls=args.urls, topics=args.topic)
