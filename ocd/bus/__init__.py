"""OCD's event bus: ZeroMQ PUB/SUB with a versioned envelope, sequence numbers, heartbeats and
acknowledged one-shot messages (asyncio, via ``zmq.asyncio``).

Other packages import what a process needs from here, this face. The pure parts (``envelope``,
``sequence``) have no sockets and pure code imports them directly (the face brings ZeroMQ);
``publisher``, ``subscriber``, ``heartbeat``, ``oneshot`` and the rest are the asyncio shell.

The schema functions (``topic_schemas``, ``validate_event``, ``validation_errors``) are loaded
on first use: jsonschema is slow to import and a one-shot command never needs it.
"""

from typing import Any

from ocd.bus.addresses import (
    SERVICES,
    AddressInUse,
    BindHint,
    Source,
    bind,
    bind_hint,
    bind_url,
    config_url,
    connect_urls,
    service_urls,
    sources_of,
    tcs_urls,
)
from ocd.bus.curve import BusSecurity, bus_context, security_from_config
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
from ocd.bus.holder import tcp_holder, url_holder
from ocd.bus.oneshot import NoAnswer, send_acknowledged
from ocd.bus.options import BusOptions, apply_options, bus_options
from ocd.bus.presence import Presence, find_service
from ocd.bus.publisher import Publisher, PublisherStats, make_origin
from ocd.bus.ratelimit import RateLimitedLog
from ocd.bus.reconnect import Reconnector
from ocd.bus.sequence import OriginStats, SeqCheck, SeqKind, SequenceTracker
from ocd.bus.socket_dir import check_socket_dir
from ocd.bus.subscriber import Subscriber, SubscriberStats, open_source
from ocd.bus.subscriptions import extra_topics, passes_whole_system, subscription_topics
from ocd.bus.validation import PayloadRules, accept, command_rules, main_loop_rules

__all__ = [
    "ENQUIRY_TOPIC", "ENVELOPE_VERSION", "META_KEYS", "OCD_KEYS", "REPLY_TOPIC", "SERVICES",
    "TCS_KEYS", "AddressInUse", "BindHint", "BusOptions", "BusSecurity", "Event",
    "HeartbeatResponder", "MalformedMessage", "NoAnswer", "OriginStats", "PayloadRules",
    "Presence", "Publisher", "PublisherStats", "RateLimitedLog", "Reconnector", "SeqCheck",
    "SeqKind", "SequenceTracker", "Source", "Subscriber", "SubscriberStats", "accept",
    "apply_options", "bind", "bind_hint", "bind_url", "bus_context", "bus_options",
    "check_socket_dir", "command_rules", "config_url", "connect_urls", "decode", "encode",
    "enquire", "extra_topics", "find_service", "is_reply_to", "main_loop_rules", "make_origin",
    "new_enquiry_id", "open_source", "passes_whole_system", "security_from_config",
    "send_acknowledged", "service_urls", "sources_of", "stamp", "subscription_topics",
    "tcp_holder", "tcs_urls", "topic_schemas", "url_holder", "validate_event",
    "validation_errors",
]


_LAZY = {"topic_schemas", "validate_event", "validation_errors"}


def __getattr__(name: str) -> Any:
    """The schema functions, imported from :mod:`ocd.bus.schemas` when first asked for."""
    if name in _LAZY:
        from ocd.bus import schemas

        return getattr(schemas, name)
    raise AttributeError(f"module 'ocd.bus' has no attribute {name!r}")
