"""Socket options every OCD socket gets: liveness, reconnection and queue limits.

Set deliberately on each socket rather than left to libzmq's defaults: without ZMTP heartbeats
a publisher that died with its host looks like a quiet one, and a high-water mark nobody chose
drops events nobody counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import zmq

from ocd.config import Config


@dataclass(frozen=True)
class BusOptions:
    """The ``[bus]`` section (seconds as floats); defaults equal the master file's."""

    heartbeat_interval: float = 1.0
    heartbeat_timeout: float = 5.0
    heartbeat_ttl: float = 10.0
    reconnect_interval: float = 0.1
    reconnect_interval_max: float = 2.0
    send_hwm: int = 10000
    receive_hwm: int = 10000
    linger: float = 1.0
    enquiry_interval: float = 0.5
    log_interval: float = 10.0
    max_message_bytes: int = 1 << 20


def bus_options(cfg: Config) -> BusOptions:
    """Read ``[bus]`` (the configuration checks each option's range)."""
    return BusOptions(**{name: cfg.get("bus", name) for name in BusOptions.__dataclass_fields__})


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def apply_options(sock: zmq.Socket[Any], options: BusOptions) -> None:
    """Set heartbeats, reconnect intervals, high-water marks and linger on ``sock`` (before
    it binds or connects, since libzmq applies them to new connections only)."""
    sock.setsockopt(zmq.HEARTBEAT_IVL, _ms(options.heartbeat_interval))
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, _ms(options.heartbeat_timeout))
    sock.setsockopt(zmq.HEARTBEAT_TTL, min(_ms(options.heartbeat_ttl), 6553500))
    sock.setsockopt(zmq.RECONNECT_IVL, _ms(options.reconnect_interval))
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, _ms(options.reconnect_interval_max))
    sock.setsockopt(zmq.SNDHWM, options.send_hwm)
    sock.setsockopt(zmq.RCVHWM, options.receive_hwm)
    sock.setsockopt(zmq.LINGER, _ms(options.linger))


def limit_message_size(sock: zmq.Socket[Any], options: BusOptions) -> None:
    """Have libzmq refuse frames larger than ``[bus] max_message_bytes`` on a receiving socket
    before Python sees them (it drops the connection of the peer that sent one; the
    subscriber reconnects, and the events lost meanwhile show as a sequence gap)."""
    sock.setsockopt(zmq.MAXMSGSIZE, options.max_message_bytes)
