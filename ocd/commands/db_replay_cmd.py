"""``ocd db_replay``: replay a recorded night instead of a live TCS."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sqlite3
from pathlib import Path

import zmq.asyncio

from ocd.bus.addresses import bind_url, service_urls
from ocd.bus.publisher import Publisher
from ocd.clock import clock_from_config
from ocd.config import Config
from ocd.errors import ConfigError, OcdError, UsageError
from ocd.replay import (
    SORT_KEYS,
    Progress,
    ReplayPlan,
    ReplayResult,
    clock_warnings,
    inspect,
    open_for_replay,
    recorded_clock,
    replay,
)

NAME = "db_replay"
HELP = "replay a recorded night (an ocd record file) on [urls] ocd_db_replay"
DESCRIPTION = """\
Publishes the events of DB (a file written by ocd record) on [urls] ocd_db_replay at index
[db_replay] n_ocd_db_replay, in the order of --sort-by, with the recorded intervals divided by
SPEEDUP (0: as fast as possible). Each event goes out as recorded except __wire_time, stamped
when it is sent (to the millisecond). Nothing is sent before the subscribers are connected
(--subscribers, --wait). An ocd run started with the same [urls] ocd_db_replay and an empty
[urls] event_urls takes the replay as its TCS; to look live to it, one recorded second must
last one OCD-clock second: -s = [dates] mock_speed / the recording's mock speed (a warning
says when it is not so). Shows a progress bar on a terminal and a summary at the end; Ctrl+C
or SIGTERM stops it."""

log = logging.getLogger("ocd.db_replay")


def _speedup(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text}: must be 0 (as fast as possible) or positive")
    return value


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("db", metavar="DB", type=Path, help="the recording (SQLite) to replay")
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


def replay_url(cfg: Config) -> str:
    if not service_urls(cfg, "ocd_db_replay"):
        raise ConfigError(
            "[urls] ocd_db_replay is empty: set the address to replay on, e.g. --set "
            "urls.ocd_db_replay=tcp://127.0.0.1:6603, and give ocd run the same address with "
            "[urls] event_urls emptied (--set urls.event_urls=)")
    return bind_url(cfg, "ocd_db_replay", "db_replay")


def run(args: argparse.Namespace, cfg: Config) -> int:
    speedup = args.speedup if args.speedup is not None else cfg.get("db_replay", "speedup")
    if speedup < 0:
        raise cfg.error("db_replay", "speedup", str(speedup), "must be 0 or positive")
    wait = args.wait if args.wait is not None else cfg.get("db_replay", "wait_subscriber")
    if wait < 0:
        raise UsageError("--wait must be 0 (forever) or positive")
    if args.subscribers < 1:
        raise UsageError("--subscribers must be at least 1")
    topics = tuple(dict.fromkeys(args.topic)) or ("",)
    url = replay_url(cfg)
    conn = open_for_replay(args.db)
    try:
        plan = ReplayPlan(sort_by=args.sort_by, topics=topics, speedup=speedup, loop=args.loop,
                          send_wait=cfg.get("bus", "heartbeat_timeout"))
        selection = inspect(conn, plan.sort_by, plan.topics)
        if selection.count == 0:
            raise OcdError(f"{args.db}: no event to replay (topics "
                           f"{', '.join(repr(t) for t in topics)})")
        clock = clock_from_config(cfg)
        night = recorded_clock(conn, topics)
        log.info("%s: %d events of %d topic(s) over %.1f recorded s, recorded on %s",
                 args.db, selection.count, len(selection.topics), selection.span,
                 f"a mock clock at {night.speed:.3g}x" if night.mocked else "the real clock")
        if night.start is not None and night.end is not None:
            log.info("recorded night: %s to %s (UTC)", night.start.isoformat(),
                     night.end.isoformat())
        own = [t for t in selection.topics if t.startswith("ocd.")]
        if own:
            log.warning("the replay includes %d OCD event(s) (%s...): an ocd run following it "
                        "acts on them; replay only the TCS with -t tcs. -t pas.",
                        sum(selection.topics[t] for t in own), own[0])
        clock_speed = getattr(clock, "speed", 1.0) if clock.is_mock else 1.0
        for warning in clock_warnings(speedup, night, clock_speed, getattr(clock, "start", None)):
            log.warning("%s", warning)
        result = asyncio.run(_main(cfg, url, conn, plan, args.subscribers, wait,
                                   Progress(selection.count)))
    finally:
        conn.close()
    print(f"ocd db_replay: {result.summary(args.db)}")
    return 0


async def _main(cfg: Config, url: str, conn: sqlite3.Connection, plan: ReplayPlan,
                subscribers: int, wait: float, progress: Progress) -> ReplayResult:
    ctx = zmq.asyncio.Context()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    publisher = None
    try:
        publisher = Publisher.for_service(ctx, cfg, "ocd_db_replay", "db_replay")
        log.info("replaying on %s at %s; waiting for %d subscriber(s)", publisher.url,
                 f"{plan.speedup:g}x" if plan.speedup else "full speed", subscribers)
        waiter = asyncio.ensure_future(publisher.wait_for_subscribers(
            subscribers, wait if wait > 0 else float("inf")))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([waiter, stopped], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not waiter.done():
            waiter.cancel()
            raise OcdError("stopped while waiting for a subscriber: nothing replayed")
        try:
            waiter.result()
        except TimeoutError as exc:
            raise OcdError(f"no subscriber on {url}: {exc}; start ocd run with [urls] "
                           "ocd_db_replay set to it (and event_urls empty), or ocd listen "
                           "--replay") from None
        return await replay(publisher, conn, plan, stop, progress)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if publisher is not None:
            publisher.close()
        ctx.term()
