"""Keep a receiving socket connected after libzmq drops a connection for good.

``ZMQ_MAXMSGSIZE`` (``[bus] max_message_bytes``) makes libzmq refuse an oversized frame before
Python sees it, but it then treats the sender as broken: it closes that connection and, unlike
after a network error, never reconnects (libzmq 4.3: a protocol error ends the session). One
oversized frame from the TCS would cut OCD off the TCS for the rest of the night. So a
receiving socket is watched (a ZeroMQ socket monitor): after an ordinary disconnection libzmq
announces its own retry at once (``EVENT_CONNECT_RETRIED``); an endpoint whose connection closed
without that announcement within :data:`GRACE` seconds is connected again by OCD, at most once
per ``[bus] reconnect_interval``. The events lost meanwhile show as sequence gaps; the
reconnections are counted and logged (rate-limited).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import zmq
from zmq.utils.monitor import parse_monitor_message

from ocd.bus.ratelimit import RateLimitedLog

log = logging.getLogger("ocd.bus")

_NUMBERS = itertools.count(1)
#: Seconds libzmq gets to announce that it retries a closed connection by itself.
GRACE = 0.25


class Reconnector:
    """Watches ``sock`` (connected to ``urls``) and reconnects an endpoint it lost."""

    def __init__(self, ctx: zmq.Context[Any], sock: zmq.Socket[Any], urls: Iterable[str],
                 interval: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.sock = sock
        self.urls = set(urls)
        self.interval = interval
        self.reconnects = 0
        self._monotonic = monotonic
        self._last: dict[str, float] = {}
        #: url -> when its connection closed, while libzmq has not said it retries
        self._closed: dict[str, float] = {}
        self._limited = RateLimitedLog(log, 10.0)
        address = f"inproc://ocd-monitor-{next(_NUMBERS)}-{id(sock):x}"
        sock.monitor(address, zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED)
        self._monitor: zmq.Socket[bytes] = ctx.socket(zmq.PAIR, socket_class=zmq.Socket)
        self._monitor.connect(address)

    def check(self) -> int:
        """Reconnect the endpoints libzmq gave up on (without waiting); how many."""
        self._read_events()
        now, done = self._monotonic(), 0
        for url, closed in list(self._closed.items()):
            if now - closed < GRACE or now - self._last.get(url, -1e9) < self.interval:
                continue
            del self._closed[url]
            self._last[url] = now
            with contextlib.suppress(zmq.ZMQError):  # already gone
                self.sock.disconnect(url)
            self.sock.connect(url)
            self.reconnects += 1
            done += 1
            self._limited.warning("reconnect", f"libzmq closed the connection to {url} for good "
                                  "(a frame over [bus] max_message_bytes?): connected again "
                                  f"({self.reconnects} time(s) so far)")
        return done

    def _read_events(self) -> None:
        while True:
            try:
                frames = self._monitor.recv_multipart(zmq.NOBLOCK)
            except zmq.ZMQError:  # nothing more (Again), or closed
                return
            event = parse_monitor_message(frames)
            endpoint = event["endpoint"]
            url = endpoint.decode("utf-8", "replace") if isinstance(endpoint, bytes) \
                else str(endpoint)
            if url not in self.urls:
                continue
            if event["event"] == zmq.EVENT_DISCONNECTED:
                self._closed[url] = self._monotonic()
            else:  # libzmq retries by itself
                self._closed.pop(url, None)

    def close(self) -> None:
        if not self._monitor.closed:
            with contextlib.suppress(zmq.ZMQError):
                self.sock.disable_monitor()
            self._monitor.close(linger=0)
