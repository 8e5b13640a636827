"""The publishing end of the bus: one XPUB socket bound to one URL.

XPUB rather than PUB because it tells us who subscribed: a one-shot command waits for the
subscription of its target instead of sleeping and hoping (the PUB/SUB "slow joiner"). Sends
never block the caller: a subscriber whose queue is full (``[bus] send_hwm``) loses events.

What a publisher can know of those losses is little, and it says no more: libzmq refuses a
send (``XPUB_NODROP``) when some subscriber's queue is full, which OCD counts as one overflow;
the send is then made lossy, the full queue is set aside by libzmq and silently skipped until
its reader catches up, so one overflow stands for one or many lost events. How many, only the
subscriber knows: it sees the gap in the sequence numbers and reports it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from ocd.bus.addresses import (
    SERVICES,
    AddressInUse,
    BindHint,
    bind,
    chosen_and_next_urls,
    chosen_url,
)
from ocd.bus.curve import BusSecurity, security_from_config
from ocd.bus.envelope import MAX_TOPIC_BYTES, encode, fit, stamp
from ocd.bus.options import BusOptions, apply_options, bus_options
from ocd.bus.ratelimit import RateLimitedLog
from ocd.clock import Clock
from ocd.config import Config
from ocd.core.sources import TCS

log = logging.getLogger("ocd.bus")

#: Longest single wait on the socket before state is checked again (guards against a wake-up
#: consumed by another task using the same socket).
_MAX_WAIT = 0.25
#: Subscription notices are read when asked for, and at least every this many events.
_DRAIN_EVERY = 256
#: Real seconds added to a reconnect interval for the connection's handshake and subscriptions.
JOIN_MARGIN = 0.25
_NOBLOCK = int(zmq.NOBLOCK)
_SNDMORE_NOBLOCK = int(zmq.SNDMORE | zmq.NOBLOCK)
#: Distinct subscription prefixes tracked at most (subscribers choose them: bounded). Further
#: prefixes still work in libzmq; only ``has_subscriber`` does not see them.
MAX_PREFIXES = 4096


def make_origin(name: str) -> str:
    """The unique identity of a publisher: ``name@host:pid``."""
    return f"{name}@{socket.gethostname()}:{os.getpid()}"


@dataclass
class PublisherStats:
    sent: int = 0
    #: Times a subscriber's queue was found full: each starts a loss of one event or more for
    #: that subscriber (how many, only its sequence gaps tell).
    overflows: int = 0
    #: Subscription notices received (one per subscriber and topic prefix).
    subscribe_notices: int = 0


class Publisher:
    """Bind ``url`` and publish stamped events under the origin ``name@host:pid``.

    ``hint`` names the configuration choice behind ``url``, so that "address already in use"
    says what to change. Use :meth:`for_service` to get both from the configuration.
    ``clock`` stamps every event: the caller's, chosen once per process
    (:mod:`ocd.shell.clock_source`); a publisher never picks a clock of its own.
    """

    def __init__(self, ctx: zmq.asyncio.Context, url: str, name: str, clock: Clock,
                 *, options: BusOptions | None = None, hint: BindHint | None = None,
                 security: BusSecurity | None = None, tcs: bool = False) -> None:
        self.options = options or BusOptions()
        self.name = name
        self.origin = make_origin(name)
        self.clock: Clock = clock
        self.seq = 0
        self.stats = PublisherStats()
        #: Current subscriptions: topic prefix (bytes) -> number of subscribers.
        self.subscriptions: Counter[bytes] = Counter()
        #: Topics whose new subscribers someone waits for (:meth:`arrivals`).
        self._watched: dict[bytes, asyncio.Event] = {}
        self._limited = RateLimitedLog(log, self.options.log_interval)
        security = security or BusSecurity()
        security.check_bind(url, tcs=tcs)
        sock = ctx.socket(zmq.XPUB)
        apply_options(sock, self.options)
        sock.setsockopt(zmq.XPUB_VERBOSER, 1)  # every (un)subscription, so we can count them
        sock.setsockopt(zmq.XPUB_NODROP, 1)  # a full queue raises Again: we count it, see _send
        try:
            security.server(sock, f"ocd {name}", tcs=tcs)
            #: The URL really bound (differs from ``url`` for ``tcp://host:*``).
            self.url: str = bind(sock, url, hint)
        except BaseException:
            sock.close(linger=0)
            raise
        self._sock = sock
        self._sync = zmq.Socket.shadow(sock.underlying)
        self._send_frame = super(zmq.Socket, self._sync).send
        log.debug("%s publishing on %s", self.origin, self.url)

    @classmethod
    def for_service(cls, ctx: zmq.asyncio.Context, cfg: Config, service: str, section: str,
                    *, clock: Clock, name: str | None = None) -> Publisher:
        """Bind ``[urls] service`` at index ``[section] n_service``, with ``[bus]`` options;
        ``service`` may also be ``event_urls`` (a simulated TCS binds one of those)."""
        if service not in (*SERVICES, "event_urls"):
            raise ValueError(f"unknown OCD service {service!r}")
        url, hint = chosen_url(cfg, service, section)
        return cls(ctx, url, name or service, clock,
                   options=bus_options(cfg), hint=hint, security=security_from_config(cfg),
                   tcs=service == TCS)

    @classmethod
    def first_free(cls, ctx: zmq.asyncio.Context, cfg: Config, service: str, section: str,
                   *, clock: Clock, name: str | None = None) -> Publisher:
        """Like :meth:`for_service`, for a commander: when another process holds the address
        at its index (another command at the same moment, a GUI), bind the next free one of
        the list. Several commanders thus act at once with one configuration; every
        subscriber connects to the whole list anyway."""
        candidates = chosen_and_next_urls(cfg, service, section)
        security = security_from_config(cfg)
        for url, hint in candidates:
            try:
                return cls(ctx, url, name or service, clock,
                           options=bus_options(cfg), hint=hint, security=security)
            except AddressInUse:
                log.debug("%s is taken: trying the next address of [urls] %s", url, service)
        url, hint = candidates[0]
        raise AddressInUse(url, hint, advice="", every=len(candidates))

    # -- publishing ---------------------------------------------------------------------------
    def publish_nowait(self, topic: str, data: dict[str, Any]) -> dict[str, Any]:
        """Stamp, encode and send one event now; returns the payload sent. Never blocks.

        An event larger than ``[bus] max_message_bytes`` goes out with its longest texts cut
        (with a visible marker) to fit. ValueError/TypeError for data that is not strict JSON,
        sets metadata keys or does not fit even so (then no sequence number is used up).
        """
        seq = self.seq + 1
        payload = stamp(topic, data, origin=self.origin, seq=seq, clock=self.clock)
        frames = encode(topic, payload)
        if len(frames[1]) > self.options.max_message_bytes or len(frames[0]) > MAX_TOPIC_BYTES:
            payload, frames = self._fitted(topic, payload, len(frames[1]))
        self._send(frames)
        self.seq = seq
        if not seq % _DRAIN_EVERY:  # keep the queue of subscription notices short
            self.poll_subscriptions()
        return payload

    def _fitted(self, topic: str, payload: dict[str, Any], size: int
                ) -> tuple[dict[str, Any], list[bytes]]:
        """An event over the frame size: its long texts cut to fit (every subscriber that
        shares this configuration accepts it then: none loses its connection to it), said in
        the log; FrameTooLarge (a ValueError) when cutting texts is not enough."""
        raw_topic = topic.encode("utf-8")
        if len(raw_topic) > MAX_TOPIC_BYTES:
            raise ValueError(f"topic of {len(raw_topic)} bytes (at most {MAX_TOPIC_BYTES})")
        limit = self.options.max_message_bytes
        payload, raw = fit(payload, limit)
        self._limited.warning(
            "cut", f"{topic[:100]}: an event of {size} bytes had its longest texts cut to fit "
            f"[bus] max_message_bytes = {limit}")
        return payload, [raw_topic, raw]

    async def publish(self, topic: str, data: dict[str, Any]) -> dict[str, Any]:
        """Like :meth:`publish_nowait`, for code written with ``await``."""
        return self.publish_nowait(topic, data)

    def raw_send(self, wait: float) -> tuple[Callable[[bytes, int], object],
                                              Callable[[list[bytes]], None]]:
        """For a hot loop that sends encoded events itself, as they are (a replay keeps the
        recorded envelope; no sequence number of this publisher is used): the socket's
        compiled ``send(frame, flags)``, without pyzmq's Python wrapper (which only adds DRAFT
        options), and the function to call with the event's frames when that send raises
        ``zmq.Again``. The send waits up to ``wait`` seconds on a full subscriber queue
        (blocking, in libzmq) before raising; the fallback then sends the event to the other
        subscribers only and counts the overflow. Call send with ``zmq.SNDMORE`` for the topic,
        then 0 for the payload (the rest of a started message is never refused).
        ``stats.sent`` is the caller's to update."""
        self._sync.setsockopt(zmq.SNDTIMEO, max(1, int(wait * 1000)) if wait > 0 else 0)
        return super(zmq.Socket, self._sync).send, self._send_lossy

    def _send(self, frames: list[bytes]) -> bool:
        topic, payload = frames
        try:  # the compiled send: pyzmq's send_multipart costs more than the rest of publish
            self._send_frame(topic, _SNDMORE_NOBLOCK)
        except zmq.Again:
            self._send_lossy(frames)
            return False
        self._send_frame(payload, _NOBLOCK)  # the rest of a started message is never refused
        self.stats.sent += 1
        return True

    def _send_lossy(self, frames: list[bytes]) -> None:
        """Some subscriber's queue is full. Count it, then send lossy so the others still
        get the event (the full queue drops it; its subscriber will see a gap)."""
        self.stats.overflows += 1
        self._limited.warning(
            "overflow", f"{self.url}: a subscriber's queue is full ([bus] send_hwm = "
            f"{self.options.send_hwm}): it is losing events until it catches up (queue full "
            f"{self.stats.overflows} time(s) so far; the subscriber counts the events lost)")
        self._sync.setsockopt(zmq.XPUB_NODROP, 0)
        try:
            self._sync.send_multipart(frames, zmq.NOBLOCK)
        finally:
            self._sync.setsockopt(zmq.XPUB_NODROP, 1)
        self.stats.sent += 1

    # -- subscriptions ------------------------------------------------------------------------
    def poll_subscriptions(self) -> int:
        """Read pending subscription notices without waiting; returns how many were read."""
        count = 0
        while cast(int, self._sync.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
            notice = self._sync.recv(zmq.NOBLOCK)
            count += 1
            if not notice:
                continue
            prefix = notice[1:]
            if notice[0] == 1:
                if prefix not in self.subscriptions \
                        and len(self.subscriptions) >= MAX_PREFIXES:
                    continue
                self.subscriptions[prefix] += 1
                self.stats.subscribe_notices += 1
                for topic, arrived in self._watched.items():
                    if topic.startswith(prefix):
                        arrived.set()
            elif notice[0] == 0 and self.subscriptions[prefix] > 0:
                self.subscriptions[prefix] -= 1
                if not self.subscriptions[prefix]:
                    del self.subscriptions[prefix]
        return count

    def arrivals(self, topic: str) -> asyncio.Event:
        """An event set whenever a new subscription that receives ``topic`` is read (by
        :meth:`poll_subscriptions`, whoever calls it); the caller clears it once it acted."""
        return self._watched.setdefault(topic.encode("utf-8"), asyncio.Event())

    def has_subscriber(self, topic: str, count: int = 1) -> bool:
        """Whether ``count`` subscriptions (one per subscriber and prefix) currently receive
        ``topic`` (a filter is a prefix)."""
        self.poll_subscriptions()
        raw = topic.encode("utf-8")
        return sum(n for prefix, n in self.subscriptions.items()
                   if raw.startswith(prefix)) >= count

    async def wait_for_subscriber(self, topic: str, timeout: float, count: int = 1) -> None:
        """Return once ``count`` subscriptions receive ``topic``; TimeoutError after
        ``timeout`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.has_subscriber(topic, count):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no subscriber for {topic} on {self.url} within {timeout:g} s")
            await self.wait_readable(min(remaining, _MAX_WAIT))

    async def wait_for_subscribers(self, count: int, timeout: float) -> None:
        """Return once ``count`` subscribers are connected (ZMTP handshake done, seen by a
        socket monitor) and subscriptions have arrived; TimeoutError after ``timeout`` s.

        For a publisher whose first event matters to several known subscribers (a replay
        started for a main loop, a recorder and a monitor)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        monitor = self._sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED
                                                | zmq.EVENT_DISCONNECTED)
        peers = 0
        try:
            while True:
                self.poll_subscriptions()
                if peers >= count and self.stats.subscribe_notices >= count:
                    return
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(f"{peers} of {count} subscriber(s) connected to "
                                       f"{self.url} within {timeout:g} s")
                wait = int(min(remaining, _MAX_WAIT) * 1000)
                if peers >= count:  # connected: their subscriptions are on the way
                    await self._sock.poll(wait)  # flags default to POLLIN
                    continue
                if await monitor.poll(wait):
                    event = parse_monitor_message(await monitor.recv_multipart())
                    if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                        peers += 1
                    elif event["event"] == zmq.EVENT_DISCONNECTED:
                        peers = max(0, peers - 1)
        finally:
            self._sock.disable_monitor()
            monitor.close(linger=0)

    async def wait_for_quiet(self, quiet: float, timeout: float) -> int:
        """Return once no new subscription has arrived for ``quiet`` s, or after ``timeout`` s;
        the subscriptions then. For a publisher that just bound and whose first event matters
        to subscribers it does not know (monitors): every subscriber that was already trying
        to connect retries within its reconnect interval, so a quiet spell longer than that
        interval means they have all arrived."""
        loop = asyncio.get_running_loop()
        began = last = loop.time()
        notices = -1
        while True:
            self.poll_subscriptions()
            now = loop.time()
            if self.stats.subscribe_notices != notices:
                notices, last = self.stats.subscribe_notices, now
            remaining = min(quiet - (now - last), timeout - (now - began))
            if remaining <= 0:
                return sum(self.subscriptions.values())
            await self.wait_readable(min(remaining, _MAX_WAIT))

    def join_window(self) -> tuple[float, float]:
        """How long without a new subscriber means every monitor has joined (real seconds), and
        the longest wait: a subscriber connected before this address was bound retries every
        ``[bus] reconnect_interval`` (OCD's subscribers to the addresses of publishers that
        come and go or restart, and plain libzmq SUB sockets, without back-off), and at least
        every ``reconnect_interval_max`` (those with back-off)."""
        return (2 * self.options.reconnect_interval + JOIN_MARGIN,
                self.options.reconnect_interval_max + JOIN_MARGIN)

    async def wait_for_monitors(self) -> int:
        """Before a first event that monitors must see (a manual shot's start, a restarted
        main loop's), let every subscriber that was waiting for this address join (the
        PUB/SUB "slow joiner"): :meth:`wait_for_quiet` over :meth:`join_window`. Returns the
        subscriptions then. See doc/bus.md, "First events"."""
        return await self.wait_for_quiet(*self.join_window())

    async def wait_readable(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for a subscription notice to arrive (not consumed)."""
        await self._sock.poll(max(0, int(timeout * 1000)))  # flags default to POLLIN

    # -- life cycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the socket; queued events get ``[bus] linger`` seconds to leave."""
        if not self._sock.closed:
            self._sock.close(linger=int(self.options.linger * 1000))

    @property
    def closed(self) -> bool:
        return self._sock.closed

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
