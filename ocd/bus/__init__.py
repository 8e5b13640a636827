"""OCD's event bus: ZeroMQ PUB/SUB with a versioned envelope, sequence numbers, heartbeats and
acknowledged one-shot messages (asyncio, via ``zmq.asyncio``).

Pure parts (``envelope``, ``sequence``, ``topics``) have no sockets; ``publisher``,
``subscriber``, ``heartbeat`` and ``oneshot`` are the asyncio shell.

The schema functions (``topic_schemas``, ``validate_event``, ``validation_errors``) are loaded
on first use: jsonschema is slow to import and a one-shot command never needs it.
"""

from typing import Any

from ocd.bus.addresses import (
    SERVICES,
    AddressInUse,
    BindHint,
    bind_hint,
    bind_url,
    connect_urls,
    service_urls,
    tcs_urls,
)
from ocd.bus.envelope import (
    ENVELOPE_VERSION,
    META_KEYS,
    OCD_KEYS,
    TCS_KEYS,
    Event,
    MalformedMessage,
    decode,
    encode,
    stamp,
)
from ocd.bus.heartbeat import (
    ENQUIRY_TOPIC,
    REPLY_TOPIC,
    HeartbeatResponder,
    enquire,
    is_reply_to,
    new_enquiry_id,
)
from ocd.bus.oneshot import NoAnswer, send_acknowledged
from ocd.bus.options import BusOptions, apply_options, bus_options
from ocd.bus.publisher import Publisher, PublisherStats, make_origin
from ocd.bus.sequence import OriginStats, SeqCheck, SeqKind, SequenceTracker
from ocd.bus.subscriber import Subscriber, SubscriberStats

__all__ = [
    "ENQUIRY_TOPIC", "ENVELOPE_VERSION", "META_KEYS", "OCD_KEYS", "REPLY_TOPIC", "SERVICES",
    "TCS_KEYS", "AddressInUse", "BindHint", "BusOptions", "Event", "HeartbeatResponder",
    "MalformedMessage", "NoAnswer", "OriginStats", "Publisher", "PublisherStats", "SeqCheck",
    "SeqKind", "SequenceTracker", "Subscriber", "SubscriberStats", "apply_options", "bind_hint",
    "bind_url", "bus_options", "connect_urls", "decode", "encode", "enquire", "is_reply_to",
    "make_origin", "new_enquiry_id", "send_acknowledged", "service_urls", "stamp", "tcs_urls",
    "topic_schemas", "validate_event", "validation_errors",
]


_LAZY = {"topic_schemas", "validate_event", "validation_errors"}


def __getattr__(name: str) -> Any:
    """The schema functions, imported from :mod:`ocd.bus.schemas` when first asked for."""
    if name in _LAZY:
        from ocd.bus import schemas

        return getattr(schemas, name)
    raise AttributeError(f"module 'ocd.bus' has no attribute {name!r}")
