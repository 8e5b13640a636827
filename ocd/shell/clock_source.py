"""Which clock a process runs on: with a mock time, the one clock of the bus.

With ``[dates] mock_time`` set, the main loop is the clock's authority: its clock starts when it
starts (after its [y/n] question), and every process started while it runs adopts that clock,
learnt from the main loop's greeting (:mod:`ocd.bus.presence`), so that every event of a
rehearsal is stamped on one time line. ``[dates] mock_anchor`` pins the clock in the
configuration instead, for processes started in any order. A process that finds no main loop
runs its own mock clock, and says so in one line.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import zmq.asyncio

from ocd.bus import bus_options, find_service, security_from_config, service_urls
from ocd.bus.envelope import adopted_clock
from ocd.clock import Clock, clock_from_config
from ocd.config import Config

log = logging.getLogger("ocd.clock")


@dataclass(frozen=True)
class ClockChoice:
    """The clock, and one line saying where it comes from."""

    clock: Clock
    how: str
    #: A mock clock of this process's own: the other processes may read another time.
    alone: bool = False


async def choose_clock(cfg: Config, ctx: zmq.asyncio.Context) -> ClockChoice:
    """The real clock; the pinned mock clock (``[dates] mock_anchor``); the running main
    loop's mock clock; or, with no main loop, this process's own mock clock."""
    own = clock_from_config(cfg)
    if not own.is_mock:
        return ClockChoice(own, "real clock")
    if cfg.get_time("dates", "mock_anchor") is not None:
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
