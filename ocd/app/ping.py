"""``ocd ping``: which OCD processes answer a heartbeat enquiry, and how fast.

Binds the ``ocd_allow_hetdex`` address like the other one-shot commands, so it also checks the
path those commands use.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ocd.bus import (
    REPLY_TOPIC,
    SERVICES,
    Publisher,
    Subscriber,
    bus_context,
    bus_options,
    connect_urls,
    enquire,
    security_from_config,
    sources_of,
)
from ocd.bus.envelope import Event
from ocd.clock import clock_from_config
from ocd.config import Config
from ocd.errors import OcdError, printable

log = logging.getLogger("ocd.ping")


async def ping(cfg: Config, timeout: float, *, first: bool = False,
               on_reply: Callable[[Event, float], None] | None = None
               ) -> tuple[list[Event], list[str]]:
    """Enquire and collect replies for ``timeout`` seconds (or until the first with
    ``first``); returns the replies and the addresses listened to."""
    options = bus_options(cfg)
    urls = connect_urls(cfg, SERVICES)
    ctx = bus_context(security_from_config(cfg))
    try:
        # its own clock, the bus not asked: a ping must answer whatever clock runs there
        with Publisher.first_free(ctx, cfg, "ocd_allow_hetdex", "allow_hetdex",
                                  name="ocd_ping", clock=clock_from_config(cfg)) as publisher, \
                Subscriber.from_config(ctx, cfg, sources_of(cfg, SERVICES),
                                       [REPLY_TOPIC]) as subscriber:
            log.info("enquiring from %s; listening on %s", publisher.url, ", ".join(urls))
            replies = await enquire(publisher, subscriber, timeout=timeout,
                                    interval=options.enquiry_interval, first=first,
                                    on_reply=on_reply)
    finally:
        ctx.term()
    return replies, urls


def run_ping(cfg: Config, timeout: float, first: bool) -> int:
    """``ocd ping``: print each process that answers; an error when none does."""
    if timeout <= 0:
        raise OcdError("--timeout must be positive")

    def show(event: Event, seconds: float) -> None:
        service = event.payload.get("service", "?")
        print(printable(f"{service} {event.origin or '?'} answered in {seconds * 1000:.1f} ms"),
              flush=True)

    replies, urls = asyncio.run(ping(cfg, timeout, first=first, on_reply=show))
    if not replies:
        raise OcdError(f"no OCD process answered on {', '.join(urls)} within {timeout:g} s")
    return 0
