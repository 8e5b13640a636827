"""``ocd archive init|record|night|shot|events|import|prune``: the survey's archive."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from ocd.cli.argtypes import date_argument
from ocd.cli.record import add_source_options

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "archive"
HELP = ("the survey's archive in the site's MariaDB: init its tables, record the bus, read a "
        "night, a shot's visits or events, import recordings, prune old nights")
DESCRIPTION = """\
init     create or migrate the archive's tables in [archive] mysql_database (re-runnable)
record   store every event of the bus in the archive until Ctrl+C or SIGTERM; while the
         server cannot be reached, events wait in a spool file ([archive] spool_dir) and are
         written, once each, when it is back
night    one night's timeline: shots, idle stretches and why, errors, commands and who
         sent them, sequence gaps
shot     every visit of a shot across the survey, with observation numbers and outcomes
events   the stored events of a topic (prefix) between two times, one per line
import   load ocd record files into the archive (events already there are skipped)
prune    delete the nights before a date

The connection options are [archive] mysql_host, mysql_port, mysql_database, mysql_user,
mysql_password (doc/archive.md)."""

NESTED = True



def _time(text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time YYYY-MM-DDTHH:MM:SS (UTC)"
                                         ) from None
    return when.replace(tzinfo=dt.timezone.utc) if when.tzinfo is None else when


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("init", parents=[common], help="create or migrate the archive's tables")
    record = actions.add_parser("record", parents=[common],
                                help="store every event of the bus in the archive")
    add_source_options(record, "archive")
    night = actions.add_parser("night", parents=[common], help="one night's timeline")
    night.add_argument("night", type=date_argument, metavar="DATE",
                       help="the night (HET's local date of its evening), YYYY-MM-DD")
    night.add_argument("--json", action="store_true", help="one JSON document")
    shot = actions.add_parser("shot", parents=[common], help="every visit of a shot")
    shot.add_argument("shotid", metavar="SHOTID", help="the shot (as in the shot list)")
    shot.add_argument("--json", action="store_true", help="one JSON document")
    events = actions.add_parser("events", parents=[common], help="stored events, one a line")
    events.add_argument("--topic", required=True, metavar="T",
                        help="topics starting with T")
    events.add_argument("--from", dest="start", type=_time, metavar="TIME",
                        help="from this time (UTC, ISO 8601; the event's OCD time)")
    events.add_argument("--to", dest="end", type=_time, metavar="TIME",
                        help="until this time (excluded)")
    events.add_argument("--json", action="store_true",
                        help='JSON lines {"topic": ..., "payload": {...}}')
    imports = actions.add_parser("import", parents=[common], help="load ocd record files")
    imports.add_argument("files", nargs="+", type=Path, metavar="FILE",
                         help="ocd record files (SQLite)")
    prune = actions.add_parser("prune", parents=[common], help="delete old nights")
    prune.add_argument("--before", type=date_argument, required=True, metavar="DATE",
                       help="delete the nights before DATE")


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app import archive

    action = args.action
    if action == "init":
        return archive.archive_init(cfg)
    if action == "record":
        return archive.archive_record(cfg, urls=args.urls, topics=args.topic)
    if action == "night":
        return archive.archive_night(cfg, args.night, args.json)
    if action == "shot":
        return archive.archive_shot(cfg, args.shotid, args.json)
    if action == "events":
        return archive.archive_events(cfg, args.topic, args.start, args.end, args.json)
    if action == "import":
        return archive.archive_import(cfg, args.files)
    return archive.archive_prune(cfg, args.before)
