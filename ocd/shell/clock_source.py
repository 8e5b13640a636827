"""Which clock a process runs on: the one factory of clocks that may ask the bus.

With ``[dates] mock_time`` set, the main loop is the clock's authority (:func:`main_loop_clock`):
its clock starts when it starts (after its [y/n] question), and every process started while it
runs adopts that clock, learnt from the envelope of the main loop's greeting (its
``__mock_time``, ``__mock_speed`` and ``__mock_anchor``; :mod:`ocd.bus.presence`), so that
every event of a rehearsal is stamped on one time line. ``[dates] mock_anchor`` pins the clock
in the configuration instead, for processes started in any order. A process that finds no main
loop runs its own mock clock, and says so in one line.

A process adopts the bus's clock only when its own configuration agrees with it: a
``mock_time`` (or a ``mock_speed`` given by the user) other than the main loop's is refused in
one line naming both clocks and how to choose, rather than silently replaced by the bus's.
Without ``mock_time`` a process runs the real clock and asks nobody.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass

import zmq.asyncio

from ocd.bus import (
    Subscriber,
    bus_options,
    find_service,
    security_from_config,
    service_urls,
    sources_of,
)
from ocd.bus.envelope import Event, adopted_clock
from ocd.clock import SPLIT, Clock, MockClock, MockSettings, clock_from, mock_settings
from ocd.config import Config
from ocd.core import topics
from ocd.core.sources import MAIN_LOOP
from ocd.errors import UsageError

log = logging.getLogger("ocd.clock")

#: Two mock start times closer than this are the same (the envelope carries microseconds).
SAME_START = dt.timedelta(milliseconds=1)
#: The source of the main loop's clock when nothing pins it.
AUTHORITY = "the bus's clock: the processes started while ocd run runs adopt it"


@dataclass(frozen=True)
class ClockChoice:
    """The clock, and one line saying where it comes from."""

    clock: Clock
    how: str
    #: A mock clock of this process's own: the other processes may read another time.
    alone: bool = False


def main_loop_clock(cfg: Config) -> Clock:
    """The main loop's clock, the bus's authority: it adopts nobody's. Make it once the
    [y/n] question is answered, so that the mock night does not run while the RA reads it."""
    return clock_from(mock_settings(cfg), source=AUTHORITY)


def _shown(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat()


def disagreement(settings: MockSettings, bus: MockClock, origin: str) -> str | None:
    """One line saying how the configured mock clock differs from ``bus``, the running main
    loop's (``origin``), and how to choose; None when they agree (same ``mock_time``, and the
    same ``mock_speed`` when the user gave one)."""
    ours, follow = [], []
    if abs(settings.start - bus.start) >= SAME_START:
        ours.append(f"[dates] mock_time = {_shown(settings.start)} ({settings.origin})")
        follow.append(f"mock_time = {_shown(bus.start)}")
    if settings.speed_given and abs(settings.speed - bus.speed) > 1e-9 * bus.speed:
        ours.append(f"[dates] mock_speed = {settings.speed:g}")
        follow.append(f"mock_speed = {bus.speed:g}")
    if not ours:
        return None
    return (f"{' and '.join(ours)} disagree{'s' if len(ours) == 1 else ''} with the clock of "
            f"the running main loop {origin} (mock, from {_shown(bus.start)} at {bus.speed:g}x, "
            f"now {bus.utc().replace(tzinfo=None).isoformat(timespec='seconds')}): set "
            f"{' and '.join(follow)} (or drop what differs) to follow that clock, or stop that "
            "main loop to run your own")


async def choose_clock(cfg: Config, ctx: zmq.asyncio.Context) -> ClockChoice:
    """The real clock; the pinned mock clock (``[dates] mock_anchor``); the running main
    loop's mock clock; or, with no main loop, this process's own mock clock. A
    :class:`~ocd.errors.UsageError` when the configured mock clock disagrees with the main
    loop's (:func:`disagreement`)."""
    settings = mock_settings(cfg)
    own = clock_from(settings)
    if settings is None:
        return ClockChoice(own, "real clock")
    if settings.anchor is not None:
        return ClockChoice(own, "mock clock pinned by [dates] mock_anchor")
    urls = service_urls(cfg, "ocd_main_loop")
    found = await find_service(ctx, urls, "ocd_main_loop", options=bus_options(cfg),
                       security=security_from_config(cfg))
    start = own.utc().isoformat(timespec="seconds")
    if found is None:
        return ClockChoice(own, f"no ocd run answered on {', '.join(urls)}: this process runs "
                                f"its own mock clock from {start} at {own.speed:g}x (set "
                                "[dates] mock_anchor to share one clock whatever the start "
                                "order)", alone=True)
    adopted = adopted_clock(found.event)
    if adopted is None:
        return ClockChoice(own, f"the ocd run {found.origin} runs the real clock: this process "
                                f"runs its own mock clock from {start} at {own.speed:g}x",
                           alone=True)
    differs = disagreement(settings, adopted, found.origin)
    if differs is not None:
        raise UsageError(differs)
    return ClockChoice(adopted, f"mock clock adopted from {found.describe()}")


def choose_clock_now(cfg: Config) -> ClockChoice:
    """:func:`choose_clock` for a command that has no event loop of its own."""
    async def ask() -> ClockChoice:
        ctx = zmq.asyncio.Context()
        try:
            return await choose_clock(cfg, ctx)
        finally:
            ctx.term()

    return asyncio.run(ask())


def log_choice(choice: ClockChoice) -> None:
    """The one line a long-running process logs about a mock clock (a warning when it runs a
    mock clock of its own: the other processes may not share it); nothing for the real one."""
    if not choice.clock.is_mock:
        return
    if choice.alone:
        log.warning("%s", choice.how)
    else:
        log.info("clock: %s", choice.how)


class ClockFollower:
    """Keeps a process on the main loop's clock after it started (issue "one clock"): fed
    the main loop's events (its greeting on every new subscription, its status), it compares
    the clock they carry with this process's; when they read more than :data:`SPLIT` seconds
    apart (the main loop restarted with another ``mock_time``), it says so in one line and
    this process's clock follows the main loop's (:meth:`ocd.clock.MockClock.follow`)."""

    def __init__(self, clock: Clock, who: str) -> None:
        self.clock, self.who = clock, who

    def check(self, event: Event) -> str | None:
        """The line said when ``event`` (from a main loop) shows a split, else None."""
        own = self.clock
        if not isinstance(own, MockClock) \
                or not str(event.origin or "").startswith("ocd_main_loop@"):
            return None
        theirs = adopted_clock(event)
        if theirs is None:
            return None
        now = time.time()
        off = own.reading_at(now) - theirs.reading_at(now)
        if abs(off) <= SPLIT:
            return None
        line = (f"{self.who}'s clock read {_shown_at(own.reading_at(now))} ({off:+.0f} s off) "
                f"and the main loop {event.origin} reads {_shown_at(theirs.reading_at(now))} "
                f"(mock, from {_shown(theirs.start)} at {theirs.speed:g}x): following the "
                "main loop's clock")
        log.warning("%s", line)
        own.follow(theirs)
        return line


def _shown_at(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(
        tzinfo=None).isoformat(timespec="seconds")


#: The main loop's events that carry its clock to a follower: its greeting (sent to every new
#: subscriber, so at once after a restart), its start and its periodic status.
FOLLOWED = (topics.HEARTBEAT_REPLY, topics.MAIN_STARTED, topics.MAIN_STATUS)


async def follow_main_loop(ctx: zmq.asyncio.Context, cfg: Config, clock: Clock,
                           who: str) -> None:
    """Run a :class:`ClockFollower` on the main loop's events until cancelled (for a
    long-running process that does not read them otherwise, e.g. ``ocd sim_tcs``); nothing
    to do on the real clock."""
    if not clock.is_mock:
        return
    subscriber = Subscriber.from_config(ctx, cfg, sources_of(cfg, [MAIN_LOOP]), FOLLOWED,
                                        log_gaps=False)
    follower = ClockFollower(clock, who)
    try:
        while True:
            follower.check(await subscriber.recv())
    finally:
        subscriber.close()
