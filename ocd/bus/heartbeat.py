"""Application heartbeat: ``ocd.heartbeat.enquiry {"id"}`` answered by ``ocd.heartbeat.reply``.

A reply proves more than a ZMTP heartbeat can: the enquiry went through our publisher to the
responder's subscriber, and its reply came back through its publisher to ours. Any process that
owns a Publisher and a Subscriber can answer with :class:`HeartbeatResponder`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from ocd.bus.envelope import Event
from ocd.bus.publisher import Publisher
from ocd.bus.subscriber import Subscriber
from ocd.core.topics import HEARTBEAT_ENQUIRY, HEARTBEAT_REPLY

log = logging.getLogger("ocd.bus")

ENQUIRY_TOPIC = HEARTBEAT_ENQUIRY
REPLY_TOPIC = HEARTBEAT_REPLY
#: Longest wait for a subscription notice before looking again (another reader of the
#: publisher's notices may have taken the one that concerns us).
_GREET_WAIT = 0.25


def new_enquiry_id() -> str:
    return uuid.uuid4().hex


def is_enquiry(event: Event) -> bool:
    return event.topic == ENQUIRY_TOPIC


def is_reply_to(event: Event, enquiry_id: str) -> bool:
    return event.topic == REPLY_TOPIC and event.payload.get("id") == enquiry_id


class HeartbeatResponder:
    """Answer enquiries seen by its owner's subscriber on its owner's publisher, and greet
    every new subscriber (:meth:`greet`).

    The owner passes each received event to :meth:`handle` (or runs :meth:`serve` when it has
    nothing else to do). ``service`` says who answers (default: the publisher's name); its own
    enquiries are not answered. ``addresses`` (service -> URL bound) goes into every reply, so
    that whoever hears one knows where this process publishes.
    """

    def __init__(self, publisher: Publisher, service: str | None = None,
                 addresses: dict[str, str] | None = None) -> None:
        self.publisher = publisher
        self.service = service or publisher.name
        self.addresses = dict(addresses or {})
        self.answered = 0
        self.greeted = 0

    def _reply(self, enquiry_id: Any, in_reply_to: str | None) -> None:
        self.publisher.publish_nowait(REPLY_TOPIC, {
            "id": enquiry_id,
            "service": self.service,
            "in_reply_to": in_reply_to,
            "addresses": self.addresses,
        })

    def handle_nowait(self, event: Event) -> bool:
        """Reply if ``event`` is an enquiry; True if it was one (handled)."""
        if event.topic != ENQUIRY_TOPIC:
            return False
        if event.origin == self.publisher.origin:
            return True
        self._reply(event.payload.get("id"), event.origin)
        self.answered += 1
        return True

    async def greet(self) -> None:
        """Forever: answer each new subscription to the reply topic with an unsolicited reply
        (``id`` and ``in_reply_to`` null). A process that just connected so learns at once who
        publishes here, where, and on which clock (the envelope carries it), without binding
        a publisher of its own (:mod:`ocd.bus.presence`). Other subscribers of the topic see
        the greeting too: it is rare (one per process connecting) and harmless."""
        arrived = self.publisher.arrivals(REPLY_TOPIC)
        while True:
            if not arrived.is_set():
                await self.publisher.wait_readable(_GREET_WAIT)
                self.publisher.poll_subscriptions()
            if arrived.is_set():
                arrived.clear()
                self._reply(None, None)
                self.greeted += 1

    async def handle(self, event: Event) -> bool:
        return self.handle_nowait(event)

    async def serve(self, subscriber: Subscriber,
                    on_event: Callable[[Event], Awaitable[None] | None] | None = None) -> None:
        """Receive forever, answering enquiries and passing the other events to ``on_event``."""
        if not subscriber.covers(ENQUIRY_TOPIC):
            subscriber.subscribe(ENQUIRY_TOPIC)
        while True:
            event = await subscriber.recv()
            if self.handle_nowait(event) or on_event is None:
                continue
            result = on_event(event)
            if result is not None:
                await result


async def enquire(publisher: Publisher, subscriber: Subscriber, *, timeout: float,
                  interval: float, first: bool = False,
                  accept: Callable[[Event], bool] | None = None,
                  on_reply: Callable[[Event, float], None] | None = None) -> list[Event]:
    """Publish an enquiry and collect the replies (one per origin) for ``timeout`` seconds.

    The enquiry goes out as soon as a subscriber for it is connected (XPUB notice), again at
    once when a new subscriber appears, and every ``interval`` seconds while waiting (a reply
    can be lost while our own subscription is still on its way to the responder). With
    ``first`` it returns at the first accepted reply. ``on_reply(event, seconds)`` is called
    for each new reply with the time since the enquiry first went out. Events that are not
    replies are dropped: do not share ``subscriber`` with another reader meanwhile.
    """
    if not subscriber.covers(REPLY_TOPIC):
        subscriber.subscribe(REPLY_TOPIC)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    enquiry_id = new_enquiry_id()
    replies: dict[str, Event] = {}
    first_sent: float | None = None
    next_send = loop.time()
    notices = -1
    while True:
        now = loop.time()
        if now >= deadline:
            return list(replies.values())
        can_send = publisher.has_subscriber(ENQUIRY_TOPIC)
        if can_send and (now >= next_send or publisher.stats.subscribe_notices != notices):
            notices = publisher.stats.subscribe_notices
            publisher.publish_nowait(ENQUIRY_TOPIC, {"id": enquiry_id})
            first_sent = now if first_sent is None else first_sent
            next_send = now + interval
        # nobody to send to yet: sleep until a subscription notice (or a reply) wakes us
        wake = min(deadline, next_send) if can_send else deadline
        event = await _next_event(publisher, subscriber, wake - now)
        if event is None or not is_reply_to(event, enquiry_id):
            continue
        if accept is not None and not accept(event):
            continue
        key = event.origin or f"?{len(replies)}"
        if key in replies:
            continue
        replies[key] = event
        if on_reply is not None:
            on_reply(event, loop.time() - (first_sent or now))
        if first:
            return list(replies.values())


async def _next_event(publisher: Publisher, subscriber: Subscriber,
                      timeout: float) -> Event | None:
    """The next event of ``subscriber``, or None when ``timeout`` passes or a subscription
    notice arrives at ``publisher`` first (so the caller can act on it at once)."""
    event = subscriber.recv_nowait()
    if event is not None or timeout <= 0:
        return event
    receive = asyncio.ensure_future(subscriber.recv(timeout))
    notice = asyncio.ensure_future(publisher.wait_readable(timeout))
    try:
        await asyncio.wait({receive, notice}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (notice, receive):
            if not task.done():
                task.cancel()  # a cancelled receive has consumed nothing
        await asyncio.gather(notice, receive, return_exceptions=True)
    if receive.cancelled() or isinstance(receive.exception(), TimeoutError):
        return None
    return receive.result()
