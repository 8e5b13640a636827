"""``ocd listen``: print the events of the OCD processes (and of TCS when asked)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from ocd.bus.subscriber import SubscriberStats
from ocd.config import Config
from ocd.listen import listen, make_plan

NAME = "listen"
HELP = "print the events on the bus, one line each (the reference monitor)"
DESCRIPTION = """\
Subscribe to the OCD processes' addresses ([urls] ocd_main_loop, ocd_run_shot,
ocd_allow_hetdex; with --tcs also [urls] event_urls, with --replay [urls] ocd_db_replay), or
to exactly --urls, and print each event on one line: time, topic and its key fields; with
--json one JSON object {"topic": ..., "payload": {...}} per line. Lost events (sequence gaps)
are reported as lines starting with "!!" (with --json: {"gap": {...}} objects). Reads any
publisher that speaks the wire format: [topic, JSON object]."""

log = logging.getLogger("ocd.listen")


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("-t", "--topic", action="append", default=[], metavar="TOPIC",
                        help="also receive topics starting with TOPIC (repeatable; '' is "
                             "everything)")
    parser.add_argument("-a", "--all-topics", choices=["yes", "no"], default="yes",
                        help="'no' receives only the -t topics and [topics] extra (default: "
                             "yes, also the OCD topics and the TCS topics OCD follows)")
    parser.add_argument("--urls", nargs="+", metavar="URL",
                        help="connect to exactly these addresses instead of the configured ones")
    parser.add_argument("--tcs", action="store_true",
                        help="also connect to the TCS event stream ([urls] event_urls)")
    parser.add_argument("--replay", action="store_true",
                        help="also connect to the replay publisher ([urls] ocd_db_replay)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per line with the topic and full payload")
    parser.add_argument("-n", "--count", type=int, metavar="N",
                        help="exit after N events (default: run until interrupted)")
    parser.add_argument("--duration", type=float, metavar="SECONDS",
                        help="exit after this many seconds")


def run(args: argparse.Namespace, cfg: Config) -> int:
    plan = make_plan(cfg, urls=args.urls, tcs=args.tcs, replay=args.replay, topics=args.topic,
                     all_topics=args.all_topics == "yes")
    log.info("listening on %s for topics %s", ", ".join(plan.urls),
             ", ".join(repr(t) for t in plan.topics))
    stats: list[SubscriberStats] = []

    async def main() -> int:
        task = asyncio.current_task()
        if task is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await listen(cfg, plan, stats, as_json=args.json, count=args.count,
                            duration=args.duration)

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(main())
    if stats:
        print(f"ocd listen: {stats[0].summary()}", file=sys.stderr)
    return 0
