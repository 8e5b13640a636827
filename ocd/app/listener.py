"""``ocd listen``: the reference monitor. Subscribe, print one line per event, report gaps.

Deliberately small and built only on the public bus API, so that a GUI author can copy it; the
formatting is in :mod:`ocd.monitor.lines`.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from ocd.bus import (
    SERVICES,
    Source,
    Subscriber,
    SubscriberStats,
    extra_topics,
    security_from_config,
    service_urls,
    sources_of,
    subscription_topics,
)
from ocd.bus.envelope import Event
from ocd.config import Config
from ocd.core.sources import ANY
from ocd.core.topics import OCD_PREFIX
from ocd.errors import UsageError, printable
from ocd.monitor.lines import (
    ALARM_TOPICS,
    alarm_colour,
    format_alarm,
    format_check,
    format_json,
    format_line,
    routine_topics,
)
from ocd.monitor.narrator import Situation
from ocd.shell.service import Service, run_service
from ocd.shell.settings import tcs_topics

log = logging.getLogger("ocd.listen")
#: Back to the start of the line, and erase it (ANSI): the footer is rewritten in place.
_CLEAR_LINE = "\r\x1b[2K"

#: The OCD services a monitor follows by default (a replay only when asked).
DEFAULT_SERVICES = tuple(s for s in SERVICES if s != "ocd_db_replay")


@dataclass(frozen=True)
class ListenPlan:
    """What to connect to, which topic prefixes to receive, and which topics are received
    (the footer needs them) but not printed."""

    sources: list[Source]
    topics: list[str]
    hidden: tuple[str, ...] = ()

    @property
    def urls(self) -> list[str]:
        return list(dict.fromkeys(url for source in self.sources for url in source.urls))


def make_plan(cfg: Config, *, urls: Sequence[str] | None = None, tcs: bool = False,
              replay: bool = False, topics: Sequence[str] | None = None,
              all_topics: bool = True, show_all: bool = True) -> ListenPlan:
    """The OCD services' URLs (plus TCS and replay ones when asked), or exactly ``urls``; the
    OCD topics and the TCS topics OCD follows, plus the extras (``-a no``: extras only).
    A ``-t`` prefix outside ``ocd.`` (``tcs.root``, ``''``) asks for TCS events, so it
    connects to the TCS stream as ``tcs`` does: only the TCS publishes them.
    Without ``show_all`` the periodic topics are hidden, unless a ``-t`` prefix asks for
    them."""
    if urls:
        # addresses given by hand: a monitor shows whatever comes from them
        chosen = [Source(ANY, tuple(dict.fromkeys(urls)))]
    else:
        tcs = tcs or any(not topic.startswith(OCD_PREFIX) for topic in topics or ())
        chosen = sources_of(cfg, DEFAULT_SERVICES, tcs=tcs)
        if replay:
            if not service_urls(cfg, "ocd_db_replay"):
                raise UsageError("--replay: [urls] ocd_db_replay is empty")
            chosen += sources_of(cfg, ["ocd_db_replay"])
    if not any(source.urls for source in chosen):
        raise UsageError("no address to listen to")
    needed = [OCD_PREFIX, *tcs_topics(cfg).all()]
    hidden = () if show_all else routine_topics(tcs_topics(cfg), asked=topics or ())
    return ListenPlan(chosen, subscription_topics(needed, extra_topics(cfg, topics), all_topics),
                      hidden)


class Listener(Service):
    """Print events until ``count`` events or ``duration`` seconds (or a stop)."""

    def __init__(self, cfg: Config, plan: ListenPlan, *, as_json: bool = False,
                 count: int | None = None, duration: float | None = None,
                 out: TextIO | None = None) -> None:
        super().__init__("ocd listen")
        self.cfg, self.plan = cfg, plan
        self.security = security_from_config(cfg)
        self.as_json, self.count, self.duration = as_json, count, duration
        self.out = sys.stdout if out is None else out
        self.printed = 0
        self.stats: SubscriberStats | None = None
        #: On a terminal (not with --json), a last line that keeps the situation in view.
        self.footer = not as_json and self.out.isatty()
        self.situation = Situation()

    async def start(self) -> None:
        self.subscriber = self.closing(Subscriber.from_config(
            self.ctx, self.cfg, self.plan.sources, self.plan.topics, log_gaps=False))
        self.stats = self.subscriber.stats
        # said once the signals are handled: a SIGTERM after this line stops it cleanly
        log.info("listening on %s for topics %s", ", ".join(self.plan.urls),
                 ", ".join(repr(t) for t in self.plan.topics))

    async def main(self) -> int:
        # --duration is the whole run's length, not a wait per event: a busy bus must not
        # keep the listener running past it
        clock = asyncio.get_running_loop()
        deadline = None if self.duration is None else clock.time() + self.duration
        try:
            while self.count is None or self.printed < self.count:
                left = None if deadline is None else deadline - clock.time()
                if left is not None and left <= 0:
                    break
                try:
                    event = await self.receive(self.subscriber, left)
                except TimeoutError:
                    break
                if event is None:  # stopped
                    break
                text = None
                with self.guard("event", event.topic):
                    text = self._text(event)
                if text:  # outside the guard: a closed output ends the listener (quietly)
                    self.out.write(text)
                    self.out.flush()
        finally:
            if self.footer:
                self.out.write(_CLEAR_LINE)
                self.out.flush()
        return 0

    def _text(self, event: Event) -> str:
        """What ``event`` adds to the output: its line, a gap report, the footer rewritten."""
        check = self.subscriber.last_check
        note = format_check(check, self.as_json) if check is not None else None
        lines = [] if note is None else [printable(note)]
        if event.topic in ALARM_TOPICS and not self.as_json:  # apart, coloured on a tty
            start, end = alarm_colour(event) if self.out.isatty() else ("", "")
            lines.append(f"{start}{printable(format_alarm(event))}{end}")
            self.printed += 1
        elif event.topic not in self.plan.hidden:  # what others sent, escaped
            lines.append(printable(format_json(event) if self.as_json else format_line(event)))
            self.printed += 1
        moved = self.footer and self.situation.feed(event.topic, event.payload)
        if not lines and not moved:
            return ""
        if self.footer:  # rewrite the footer below the new lines
            width = shutil.get_terminal_size().columns - 1
            return ("".join(f"{_CLEAR_LINE}{line}\n" for line in lines)
                    + _CLEAR_LINE + printable(self.situation.line(width)))
        return "".join(f"{line}\n" for line in lines)


def run_listen(cfg: Config, *, urls: Sequence[str] | None, tcs: bool, replay: bool,
               topics: Sequence[str], all_topics: bool, as_json: bool, count: int | None,
               duration: float | None, show_all: bool = False) -> int:
    """``ocd listen``: print events until interrupted (or ``count``, ``duration``), then the
    subscriber's counters on stderr. ``--json`` prints every event, as it always did."""
    plan = make_plan(cfg, urls=urls, tcs=tcs, replay=replay, topics=topics,
                     all_topics=all_topics, show_all=show_all or as_json)
    listener = Listener(cfg, plan, as_json=as_json, count=count, duration=duration)
    try:
        return run_service(listener)
    finally:
        if listener.stats is not None:
            print(f"ocd listen: {listener.stats.summary()}", file=sys.stderr)
