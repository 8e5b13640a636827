"""``ocd db_replay``: replay a recorded night instead of a live TCS."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ocd.cli.argtypes import date_argument
from ocd.recording.pacing import SORT_KEYS  # pure, light: ocd --help imports it

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "db_replay"
HELP = "replay a recorded night (an ocd record file) on [urls] ocd_db_replay"
DESCRIPTION = """\
Publishes the events of DB (a file written by ocd record) on [urls] ocd_db_replay at index
[db_replay] n_ocd_db_replay, in the order of --sort-by, with the recorded intervals divided by
SPEEDUP (0: as fast as possible). --archive DATE replays a night of the survey's archive
(ocd archive) instead of a file. Each event goes out as recorded except __wire_time, stamped
when it is sent (to the millisecond). Nothing is sent before the subscribers are connected
(--subscribers, --wait). ocd run --replay takes the replay as its TCS (as does an ocd run
whose [urls] event_urls is empty); to look live to it, one recorded second must last one
OCD-clock second: -s = [dates] mock_speed / the recording's mock speed (a warning says when it
is not so). Shows a progress bar on a terminal and a summary at the end; Ctrl+C
or SIGTERM stops it."""


def _speedup(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text}: must be 0 (as fast as possible) or positive")
    return value



def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("db", metavar="DB", type=Path, nargs="?",
                        help="the recording (SQLite) to replay")
    parser.add_argument("--archive", type=date_argument, metavar="DATE",
                        help="replay the night DATE (YYYY-MM-DD) of the survey's archive "
                             "([archive]) instead of a file")
    parser.add_argument("-s", "--speedup", type=_speedup, metavar="SPEEDUP",
                        help="divide the recorded intervals by SPEEDUP; 0 replays as fast as "
                             "possible (default: [db_replay] speedup)")
    parser.add_argument("--sort-by", choices=SORT_KEYS, default="id",
                        help="replay order: id (as received by the recorder; paced by the "
                             "time received), __data_time or __wire_time (default: id)")
    parser.add_argument("-t", "--topic", action="append", default=[], metavar="TOPIC",
                        help="replay only topics starting with TOPIC (repeatable; default: all)")
    parser.add_argument("--loop", action="store_true",
                        help="start again at the end, until interrupted")
    parser.add_argument("--subscribers", type=int, default=1, metavar="N",
                        help="wait for N connected subscribers before the first event "
                             "(default: 1)")
    parser.add_argument("--wait", type=float, metavar="SECONDS",
                        help="give up if they are not there within SECONDS (default: "
                             "[db_replay] wait_subscriber; 0: wait forever)")


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.errors import UsageError

    if (args.db is None) == (args.archive is None):
        raise UsageError("give either DB (a recording) or --archive DATE")
    if args.archive is not None:
        from ocd.app.archive import replay_archived_night

        return replay_archived_night(cfg, args.archive, speedup=args.speedup,
                                     sort_by=args.sort_by, topics=args.topic, loop=args.loop,
                                     subscribers=args.subscribers, wait=args.wait)
    from ocd.app.replay import run_db_replay

    return run_db_replay(cfg, args.db, speedup=args.speedup, sort_by=args.sort_by,
                         topics=args.topic, loop=args.loop, subscribers=args.subscribers,
                         wait=args.wait)
