"""Who runs on the bus, found without publishing anything.

The main loop (and ``ocd run_shot -e``) greet every new subscriber of ``ocd.heartbeat.reply``
with an unsolicited reply naming their service, origin and addresses, stamped with their clock
(:meth:`ocd.bus.heartbeat.HeartbeatResponder.greet`). So connecting a SUB socket is all it takes
to learn whether a main loop runs, where, and on which clock: any command can ask before it
binds anything (a second ``ocd run`` refuses to start, ``ocd time`` adopts the clock).

A socket monitor says when an address refuses the connection (nobody bound there): once every
address has refused, the answer "nobody" comes at once instead of after a timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from ocd.bus.curve import BusSecurity
from ocd.bus.envelope import Event, MalformedMessage, decode
from ocd.bus.heartbeat import REPLY_TOPIC
from ocd.bus.options import BusOptions, apply_options

log = logging.getLogger("ocd.bus")

#: Real seconds to wait for a greeting from an address that accepted the connection. A live
#: main loop greets within milliseconds; this only bounds the wait on a silent peer.
PRESENCE_TIMEOUT = 2.0


@dataclass(frozen=True)
class Presence:
    """A running process, as its greeting describes it."""

    service: str
    origin: str
    #: service -> the URL it bound (from the greeting's ``addresses``).
    addresses: dict[str, str]
    #: The greeting itself: its envelope carries the process's clock.
    event: Event

    def describe(self) -> str:
        """``process 4242 on hetdex-ocd (ocd_main_loop tcp://..., ocd_run_shot tcp://...)``:
        the process, whichever of its publishers greeted."""
        name, _, place = self.origin.partition("@")
        host, _, pid = place.rpartition(":")
        who = f"process {pid} on {host}" if host and pid.isdigit() else self.origin
        where = ", ".join(f"{service} {url}" for service, url in self.addresses.items())
        return f"{who} ({where})" if where else who


def _presence(event: Event, service: str) -> Presence | None:
    payload = event.payload
    if event.topic != REPLY_TOPIC or payload.get("service") != service:
        return None
    addresses = payload.get("addresses")
    clean = {str(k): v for k, v in addresses.items() if isinstance(v, str)} \
        if isinstance(addresses, dict) else {}
    return Presence(service, event.origin or "an unnamed publisher", clean, event)


async def find_service(ctx: zmq.asyncio.Context, urls: Sequence[str], service: str, *,
               options: BusOptions | None = None, security: BusSecurity | None = None,
               timeout: float = PRESENCE_TIMEOUT) -> Presence | None:
    """The process of ``service`` (e.g. ``ocd_main_loop``) publishing on one of ``urls``, or
    None: at once when every address refuses the connection; after ``timeout`` real seconds
    when some accepted it but nobody of that service greeted."""
    urls = list(dict.fromkeys(urls))
    if not urls:
        return None
    sock: zmq.asyncio.Socket = ctx.socket(zmq.SUB)
    apply_options(sock, options or BusOptions())
    sock.setsockopt(zmq.LINGER, 0)
    (security or BusSecurity()).client(sock)  # only OCD's own addresses are asked
    monitor = sock.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_CONNECT_RETRIED
                                      | zmq.EVENT_DISCONNECTED)
    try:
        sock.setsockopt(zmq.SUBSCRIBE, REPLY_TOPIC.encode())
        refused: set[str] = set()
        for url in urls:
            try:
                sock.connect(url)
            except zmq.ZMQError as exc:
                log.debug("presence: cannot connect to %s: %s", url, exc.strerror)
                refused.add(url)
        return await _listen(sock, monitor, len(urls), refused, service, timeout)
    finally:
        sock.disable_monitor()
        monitor.close(linger=0)
        sock.close(linger=0)


async def _listen(sock: zmq.asyncio.Socket, monitor: zmq.asyncio.Socket, count: int,
                  refused: set[str], service: str, timeout: float) -> Presence | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    connected: set[str] = set()
    others: set[str] = set()  # origins of greetings from other services
    poller = zmq.asyncio.Poller()
    poller.register(sock, zmq.POLLIN)
    poller.register(monitor, zmq.POLLIN)
    while len(refused - connected) < count:
        # every address refused or answered by someone else (e.g. ocd run_shot -e on a shot
        # address): nobody of that service is there
        if connected and len(connected) + len(refused - connected) == count \
                and len(others) >= len(connected):
            return None
        remaining = deadline - loop.time()
        if remaining <= 0:
            return None
        ready = dict(await poller.poll(max(1, int(remaining * 1000))))
        if monitor in ready:
            _note(parse_monitor_message(await monitor.recv_multipart()), connected, refused)
        if sock in ready:
            frames: list[Any] = await sock.recv_multipart()
            try:
                event = decode(frames)
            except MalformedMessage:
                continue
            found = _presence(event, service)
            if found is not None:
                return found
            if event.topic == REPLY_TOPIC and event.origin is not None:
                others.add(event.origin)
    return None


def _note(message: Mapping[str, Any], connected: set[str], refused: set[str]) -> None:
    """Keep track of which addresses accepted and which refused the connection."""
    endpoint = message.get("endpoint", b"")
    url = endpoint.decode("utf-8", "replace") if isinstance(endpoint, bytes) else str(endpoint)
    if message["event"] == zmq.EVENT_CONNECTED:
        connected.add(url)
        refused.discard(url)
    elif message["event"] == zmq.EVENT_CONNECT_RETRIED:
        refused.add(url)
    elif message["event"] == zmq.EVENT_DISCONNECTED:
        connected.discard(url)
