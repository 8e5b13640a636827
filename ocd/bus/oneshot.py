"""Acknowledged one-shot messages: ``allow_hetdex``, ``abort``, ``config send`` are not fired
and forgotten.

A message published before its subscriber is connected is silently lost (the PUB/SUB "slow
joiner"), and a sleep only makes that less likely. So: first prove the target is connected both
ways with a heartbeat enquiry and its reply, check the target subscribes to the topic (XPUB
notice), send, then wait for the target's acknowledging event, sending again every
``[bus] enquiry_interval`` meanwhile (the process that answers may not be the one that replied
first: ``ocd run_shot -e`` answers ``ocd abort``); the command's id makes a repeat harmless.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from ocd.bus.envelope import Event, adopted_clock
from ocd.bus.heartbeat import enquire
from ocd.bus.publisher import Publisher
from ocd.bus.subscriber import Subscriber
from ocd.errors import OcdError


class NoAnswer(OcdError):
    """The target did not answer in time: ``no ocd run answered on <urls> within N s``."""


async def send_acknowledged(publisher: Publisher, subscriber: Subscriber, topic: str,
                            data: dict[str, Any], *, is_ack: Callable[[Event], bool],
                            timeout: float, target_urls: Sequence[str],
                            target_service: str | None = None,
                            target_name: str = "ocd run",
                            enquiry_interval: float | None = None,
                            subscribers: int = 1) -> Event:
    """Send ``topic``/``data`` once the target is connected; return its acknowledging event.

    ``subscriber`` must be connected to ``target_urls`` and receive the acknowledging topic;
    the heartbeat reply topic is added to its filters if missing. ``target_service`` restricts
    the heartbeat replies that count to those of that service (e.g. ``ocd_main_loop``).
    ``timeout`` covers the whole exchange; on expiry :class:`NoAnswer` says
    ``no ocd run answered on <urls> within N s`` and which step was missing. Events that are
    neither the reply nor the acknowledgement are dropped meanwhile. ``subscribers``: send
    only once that many subscriptions receive ``topic`` (the target and, in a rehearsal, the
    recorder and the monitor that must keep the command too).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    where = ", ".join(target_urls) or "(no address)"

    def no_answer(step: str) -> NoAnswer:
        return NoAnswer(f"no {target_name} answered on {where} within {timeout:g} s ({step})")

    interval = enquiry_interval or publisher.options.enquiry_interval
    accept = None if target_service is None else (
        lambda event: event.payload.get("service") == target_service)
    replies = await enquire(publisher, subscriber, timeout=timeout, interval=interval,
                            first=True, accept=accept)
    if not replies:
        raise no_answer("no reply to the heartbeat enquiry")
    target_clock = adopted_clock(replies[0])
    if publisher.clock.is_mock and target_clock is not None:
        publisher.clock = target_clock  # the command is stamped on its target's mock clock
    try:
        await publisher.wait_for_subscriber(topic, max(0.0, deadline - loop.time()),
                                            count=subscribers)
    except TimeoutError:
        raise no_answer(f"it answers the heartbeat but does not subscribe to {topic}"
                        if subscribers == 1 else
                        f"fewer than {subscribers} subscribers of {topic}") from None
    publisher.publish_nowait(topic, data)
    resend = loop.time() + interval
    while True:
        now = loop.time()
        if now >= deadline:
            raise no_answer(f"{topic} sent, no acknowledgement")
        if now >= resend:
            # the process that must answer may have connected after the first send (ocd
            # run_shot -e, whose abort the main loop leaves to it): send again; the request
            # id makes a repeat harmless, each process acts on it once
            publisher.publish_nowait(topic, data)
            resend = now + interval
        try:
            event = await subscriber.recv(timeout=max(0.0, min(deadline, resend) - now))
        except TimeoutError:
            continue
        if is_ack(event):
            return event
