"""``ocd listen``: the reference monitor. Subscribe, print one line per event, report gaps.

Deliberately small and built only on the public bus API, so that a GUI author can copy it; the
formatting is in :mod:`ocd.monitor.lines`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from ocd.app.service import Service, run_service
from ocd.app.settings import tcs_topics
from ocd.bus.addresses import SERVICES, connect_urls, service_urls
from ocd.bus.options import bus_options
from ocd.bus.subscriber import Subscriber, SubscriberStats
from ocd.bus.subscriptions import extra_topics, subscription_topics
from ocd.config import Config
from ocd.core.topics import OCD_PREFIX
from ocd.errors import UsageError
from ocd.monitor.lines import format_check, format_json, format_line

log = logging.getLogger("ocd.listen")

#: The OCD services a monitor follows by default (a replay only when asked).
DEFAULT_SERVICES = tuple(s for s in SERVICES if s != "ocd_db_replay")


@dataclass(frozen=True)
class ListenPlan:
    """What to connect to and which topic prefixes to receive."""

    urls: list[str]
    topics: list[str]


def make_plan(cfg: Config, *, urls: Sequence[str] | None = None, tcs: bool = False,
              replay: bool = False, topics: Sequence[str] | None = None,
              all_topics: bool = True) -> ListenPlan:
    """The OCD services' URLs (plus TCS and replay ones when asked), or exactly ``urls``; the
    OCD topics and the TCS topics OCD follows, plus the extras (``-a no``: extras only)."""
    if urls:
        chosen = list(dict.fromkeys(urls))
    else:
        chosen = connect_urls(cfg, DEFAULT_SERVICES, tcs=tcs)
        if replay:
            replay_urls = service_urls(cfg, "ocd_db_replay")
            if not replay_urls:
                raise UsageError("--replay: [urls] ocd_db_replay is empty")
            chosen = list(dict.fromkeys([*chosen, *replay_urls]))
    if not chosen:
        raise UsageError("no address to listen to")
    needed = [OCD_PREFIX, *tcs_topics(cfg).all()]
    return ListenPlan(chosen, subscription_topics(needed, extra_topics(cfg, topics), all_topics))


class Listener(Service):
    """Print events until ``count`` events or ``duration`` seconds (or a stop)."""

    def __init__(self, cfg: Config, plan: ListenPlan, *, as_json: bool = False,
                 count: int | None = None, duration: float | None = None,
                 out: TextIO | None = None) -> None:
        super().__init__("ocd listen")
        self.cfg, self.plan = cfg, plan
        self.as_json, self.count, self.duration = as_json, count, duration
        self.out = sys.stdout if out is None else out
        self.printed = 0
        self.stats: SubscriberStats | None = None

    async def start(self) -> None:
        self.subscriber = self.closing(Subscriber(self.ctx, self.plan.urls, self.plan.topics,
                                                  options=bus_options(self.cfg),
                                                  log_gaps=False))
        self.stats = self.subscriber.stats

    async def main(self) -> int:
        while self.count is None or self.printed < self.count:
            try:
                event = await self.receive(self.subscriber, self.duration)
            except TimeoutError:
                break
            if event is None:  # stopped
                break
            with self.guard("event", event.topic):
                check = self.subscriber.last_check
                note = format_check(check, self.as_json) if check is not None else None
                if note is not None:
                    print(note, file=self.out)
                print(format_json(event) if self.as_json else format_line(event), file=self.out,
                      flush=True)
                self.printed += 1
        return 0


def run_listen(cfg: Config, *, urls: Sequence[str] | None, tcs: bool, replay: bool,
               topics: Sequence[str], all_topics: bool, as_json: bool, count: int | None,
               duration: float | None) -> int:
    """``ocd listen``: print events until interrupted (or ``count``, ``duration``), then the
    subscriber's counters on stderr."""
    plan = make_plan(cfg, urls=urls, tcs=tcs, replay=replay, topics=topics,
                     all_topics=all_topics)
    log.info("listening on %s for topics %s", ", ".join(plan.urls),
             ", ".join(repr(t) for t in plan.topics))
    listener = Listener(cfg, plan, as_json=as_json, count=count, duration=duration)
    try:
        return run_service(listener)
    finally:
        if listener.stats is not None:
            print(f"ocd listen: {listener.stats.summary()}", file=sys.stderr)
