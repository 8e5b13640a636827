"""``ocd listen``: print the events of the OCD processes (and of TCS when asked)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "listen"
HELP = "print the events on the bus, one line each (the reference monitor)"
DESCRIPTION = """\
Subscribe to the OCD processes' addresses ([urls] ocd_main_loop, ocd_run_shot,
ocd_allow_hetdex; with --tcs, or a -t TOPIC outside ocd., also [urls] event_urls, with
--replay [urls] ocd_db_replay), or to exactly --urls, and print each event on one line:
time, topic and its key fields. The periodic events (state re-publications, status, TCS
heartbeats, pointing, metrology, heartbeats) are hidden unless --all or a -t naming them;
on a terminal the last line keeps the TCS state, whether HETDEX is allowed, the shot under
way and the last decision. With --json, one JSON object {"topic": ..., "payload": {...}}
per line for every event. Lost events (sequence gaps) are reported as lines starting with
"!!" (with --json: {"gap": {...}} objects). Reads any publisher that speaks the wire
format: [topic, JSON object]."""


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("-t", "--topic", action="append", default=[], metavar="TOPIC",
                        help="also receive topics starting with TOPIC (repeatable; '' is "
                             "everything; a TOPIC outside 'ocd.' implies --tcs)")
    parser.add_argument("-a", "--all-topics", choices=["yes", "no"], default="yes",
                        help="'no' receives only the -t topics and [topics] extra (default: "
                             "yes, also the OCD topics and the TCS topics OCD follows)")
    parser.add_argument("--urls", nargs="+", metavar="URL",
                        help="connect to exactly these addresses instead of the configured ones")
    parser.add_argument("--tcs", action="store_true",
                        help="also connect to the TCS event stream ([urls] event_urls)")
    parser.add_argument("--replay", action="store_true",
                        help="also connect to the replay publisher ([urls] ocd_db_replay)")
    parser.add_argument("--all", action="store_true", dest="show_all",
                        help="also print the periodic events: state re-publications, status, "
                             "TCS heartbeats, pointing, metrology, heartbeat enquiries and "
                             "replies (hidden by default; -t TOPIC shows those it names)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per line with the topic and full payload")
    parser.add_argument("-n", "--count", type=int, metavar="N",
                        help="exit after N events (default: run until interrupted)")
    parser.add_argument("--duration", type=float, metavar="SECONDS",
                        help="exit after this many seconds in all (however busy the bus)")


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app.listener import run_listen

    return run_listen(cfg, urls=args.urls, tcs=args.tcs, replay=args.replay, topics=args.topic,
                      all_topics=args.all_topics == "yes", as_json=args.json, count=args.count,
                      duration=args.duration, show_all=args.show_all)
