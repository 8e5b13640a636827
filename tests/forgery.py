"""A forger on the local bus: a raw XPUB socket that binds an address, waits until a subscriber
takes the topic (XPUB reports it: no sleep), and sends frames it wrote itself, envelope and
``__origin`` included."""

from __future__ import annotations

import json
import time
from typing import Any

import zmq


class Forger:
    def __init__(self, url: str, curve_server: tuple[bytes, bytes] | None = None) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.XPUB)
        self.sock.setsockopt(zmq.XPUB_VERBOSER, 1)
        if curve_server is not None:  # a CURVE server, with a key pair of its own
            self.sock.curve_server = True
            self.sock.curve_publickey, self.sock.curve_secretkey = curve_server
        self.sock.bind(url)
        self.url = url
        self.subscriptions: set[bytes] = set()

    def wait_for_subscriber(self, topic: str, timeout: float = 30.0) -> None:
        """Return once a subscriber's filter covers ``topic``; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        raw = topic.encode()
        while not any(raw.startswith(prefix) for prefix in self.subscriptions):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"nobody subscribed to {topic} on {self.url} within "
                                     f"{timeout:g} s")
            if self.sock.poll(int(min(remaining, 0.2) * 1000)):
                notice = self.sock.recv()
                if notice[:1] == b"\x01":
                    self.subscriptions.add(notice[1:])

    def send(self, topic: str, payload: dict[str, Any]) -> None:
        self.sock.send_multipart([topic.encode(), json.dumps(payload).encode()])

    def close(self) -> None:
        self.sock.close(linger=1000)
        self.ctx.term()
