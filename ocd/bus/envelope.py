"""Envelope v1: how one event is laid out on the wire, as pure functions.

An event is a ZeroMQ multipart message ``[topic, JSON object]``. The object carries the TCS
metadata keys (so one GUI reads TCS and OCD events alike) and OCD's own keys, which let a
subscriber detect lost events (``__seq`` per ``__origin``) and tell mocked time from real.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from ocd.clock import Clock, MockClock, iso_utc
from ocd.core.payload import finite_number, utc_time
from ocd.errors import cut

ENVELOPE_VERSION = 1

#: Metadata keys of TCS events: the three topic parts, when the data was made and sent, and
#: ``__data`` (always false).
TCS_KEYS = ("__system", "__source", "__key", "__data_time", "__wire_time", "__data")
#: Metadata keys OCD adds: sequence number and identity of the publisher, kind of clock and the
#: clock's UTC (the mock time when mocked).
OCD_KEYS = ("__seq", "__origin", "__clock", "__ocd_utc")
#: Metadata keys of an event stamped on a mock clock: the whole clock, so that a reader can
#: compute OCD's time at any moment, ``__mock_time + (now - __mock_anchor) * __mock_speed``,
#: and a process started later adopts it (:func:`adopted_clock`).
MOCK_KEYS = ("__mock_time", "__mock_speed", "__mock_anchor")
META_KEYS = TCS_KEYS + OCD_KEYS + MOCK_KEYS
_META_SET = frozenset(META_KEYS)


@lru_cache(maxsize=1024)
def split_topic(topic: str) -> tuple[str, str, str]:
    """``system.source.key`` -> its three parts (dots inside the source are kept)."""
    parts = topic.split(".")
    if len(parts) < 3 or not all(parts):
        raise ValueError(f"topic {topic!r} is not of the form system.source.key")
    return parts[0], ".".join(parts[1:-1]), parts[-1]


@dataclass(slots=True)
class Event:
    """One received (or sent) event: its topic and the whole JSON payload, metadata included.

    Not frozen: one is made per event received, and a frozen dataclass costs twice as much to
    make (doc/performance.md); nothing changes an event once made."""

    topic: str
    payload: dict[str, Any]

    def _part(self, key: str, index: int) -> str:
        """A topic part from the metadata, else from the topic itself."""
        value = self.payload.get(key)
        if isinstance(value, str):
            return value
        parts = self.topic.split(".")
        if len(parts) >= 3:
            return (parts[0], ".".join(parts[1:-1]), parts[-1])[index]
        return (parts[0], "", parts[-1] if len(parts) == 2 else "")[index]

    @property
    def system(self) -> str:
        return self._part("__system", 0)

    @property
    def source(self) -> str:
        return self._part("__source", 1)

    @property
    def key(self) -> str:
        return self._part("__key", 2)

    @property
    def seq(self) -> int | None:
        """The publisher's sequence number, or None (e.g. TCS events have none)."""
        value = self.payload.get("__seq")
        return value if type(value) is int else None

    @property
    def origin(self) -> str | None:
        """The publisher's identity ``name@host:pid``, or None."""
        value = self.payload.get("__origin")
        return value if isinstance(value, str) else None

    @property
    def data(self) -> dict[str, Any]:
        """The payload without the ``__`` metadata keys."""
        return {k: v for k, v in self.payload.items() if not k.startswith("__")}


def stamp(topic: str, data: Mapping[str, Any], *, origin: str, seq: int, clock: Clock,
          data_time: float | None = None,
          wall_time: Callable[[], float] = time.time) -> dict[str, Any]:
    """The full payload of an OCD event: envelope metadata first, then ``data``'s own keys.

    ``__data_time`` and ``__wire_time`` are real Unix times, as in TCS (``data_time`` keeps the
    time of recorded data, e.g. in a replay); ``__ocd_utc`` comes from ``clock`` so a rehearsal
    shows its mock time. ``data`` may not contain metadata keys: a ValueError names them.
    """
    if not _META_SET.isdisjoint(data):
        clash = ", ".join(k for k in data if k in _META_SET)
        raise ValueError(f"event data for {topic} may not set metadata keys: {clash}")
    system, source, key = split_topic(topic)
    now = wall_time()
    payload: dict[str, Any] = {
        "__system": system,
        "__source": source,
        "__key": key,
        "__data_time": now if data_time is None else float(data_time),
        "__wire_time": now,
        "__data": False,
        "__seq": seq,
        "__origin": origin,
        "__clock": "mock" if clock.is_mock else "real",
        "__ocd_utc": iso_utc(clock.timestamp()),
    }
    anchor = clock.anchor()
    if anchor is not None:
        payload["__mock_time"] = anchor[0].isoformat()
        payload["__mock_speed"] = clock.speed
        payload["__mock_anchor"] = anchor[1]
    payload.update(data)
    return payload


def stamped_speed(payload: Mapping[str, Any]) -> float | None:
    """The speed of the mock clock an event was stamped with (``__mock_speed``); None when
    missing or out of range (a reader then keeps what it knew)."""
    speed = finite_number(payload.get("__mock_speed"))
    return speed if speed is not None and 0 < speed < 1e6 else None


def adopted_clock(event: Event) -> MockClock | None:
    """The mock clock an event was stamped with (its ``__mock_*`` keys), as a clock of this
    process that reads the same time; None for an event of the real clock or with keys that
    are missing or out of range."""
    payload = event.payload
    speed, anchor = stamped_speed(payload), finite_number(payload.get("__mock_anchor"))
    start = utc_time(payload.get("__mock_time"))
    if start is None or speed is None or anchor is None or not abs(anchor) < 1e11:
        return None
    return MockClock.adopted(start, speed, anchor,
                             f"adopted from {event.origin or 'an unnamed publisher'}")


#: Nesting of objects and arrays a payload may have. OCD's own payloads are 3 deep; libraries
#: disagree beyond a few hundred (orjson refuses to encode past 255 and to decode past 1024).
MAX_DEPTH = 64
#: Bytes of a topic frame, at most (every reader refuses a longer one).
MAX_TOPIC_BYTES = 1024
#: Size of a frame and of a message when nobody says otherwise (``[bus] max_message_bytes``).
MAX_MESSAGE_BYTES = 1 << 20

#: Why a message was dropped: the keys of the drop counters (a fixed set, so a sender cannot
#: grow the table).
DROP_KINDS = ("frames", "size", "topic", "json", "depth", "not_object", "schema", "unknown",
              "source")


class MalformedMessage(ValueError):
    """A message that does not follow the wire format. ``kind`` is one of
    :data:`DROP_KINDS` (what to count), ``reason`` says exactly why, ``topic`` is the topic
    when it could be read (for the log line), else None."""

    def __init__(self, reason: str, topic: str | None = None, kind: str = "json") -> None:
        super().__init__(reason if topic is None else f"{topic}: {reason}")
        self.reason = reason
        self.topic = topic
        self.kind = kind


_orjson_loads = orjson.loads


def loads(raw: bytes | memoryview | str) -> Any:
    """Strict JSON: the one decoder of every OCD process (bus, recorder, replay, gateway).

    orjson refuses what OCD's encoder cannot write and other JSON readers choke on: NaN and
    Infinity, numbers beyond the float range (``1e400``, a 400-digit integer), invalid UTF-8 and
    lone surrogates; nesting is bounded by :data:`MAX_DEPTH`. ValueError says what is wrong.
    """
    if type(raw) is memoryview:
        raw = bytes(raw)
    value = _orjson_loads(raw)
    if (type(value) is dict or type(value) is list) and _may_be_deep(raw) \
            and _depth(value) > MAX_DEPTH:
        raise ValueError(f"nesting depth above {MAX_DEPTH} levels")
    return value


def _may_be_deep(raw: bytes | str) -> bool:
    """Whether the text has more than :data:`MAX_DEPTH` opening brackets (inside strings
    too): a cheap upper bound of the depth, so the exact walk runs only for payloads that might
    be too deep. A flat object written as OCD writes it (``{`` first, no other bracket, the
    common case) costs two scans."""
    if type(raw) is str:
        return raw.count("[") + raw.count("{") > MAX_DEPTH
    assert isinstance(raw, bytes)
    # ``find`` is twice as fast as ``in`` here; a text with leading space goes on to count
    if raw.find(b"[") < 0 and raw.find(b"{", 1) < 0:
        return False
    return raw.count(b"[") + raw.count(b"{") > MAX_DEPTH


def _depth(value: Any) -> int:
    """Nesting depth of a decoded value (an object or array is 1), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > deepest:
            deepest = level
            if deepest > MAX_DEPTH:
                return deepest
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, level + 1) for child in children
                     if isinstance(child, (dict, list)))
    return deepest


#: numpy numbers (the scheduler's) are written as the numbers they are.
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def dumps(value: Any) -> bytes:
    """Strict compact JSON (UTF-8): ValueError for NaN or infinity, which orjson would write as
    null and other JSON readers reject; TypeError for what JSON cannot hold (an integer beyond
    64 bits, an object that is not a str-keyed dict, list, number, text, boolean or null)."""
    text = orjson.dumps(value, option=_NUMPY)
    # orjson writes NaN and infinities as null: only a text with a null can hide one (``find``
    # rather than ``in``: a third of the cost of encoding otherwise)
    if text.find(b"null") >= 0 and not _finite(value):
        raise ValueError("NaN and infinity are not JSON: refusing to send them")
    return text


def _finite(value: Any) -> bool:
    """Whether no float inside ``value`` is NaN or infinite (a loop, not recursion: depth is
    bounded by the encoder anyway)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if item - item != 0.0:  # NaN and infinities only
                return False
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return True


def encode(topic: str, payload: Mapping[str, Any]) -> list[bytes]:
    """The two frames of an event. Strict JSON: NaN or infinity raise ValueError, since JSON
    readers in other languages reject them."""
    return [topic.encode("utf-8"), dumps(payload)]


#: Characters a string keeps at least when :func:`fit` cuts it (its marker included).
MIN_CUT = 200
#: Bytes a cut marker may add to an encoded string (``… [123456789 characters cut]``).
_MARKER_BYTES = 40


class FrameTooLarge(ValueError):
    """An event that cannot be made to fit the frame size, even with its texts cut (its size
    is in keys, numbers or many short strings, which are never cut)."""


def fit(payload: dict[str, Any], max_bytes: int) -> tuple[dict[str, Any], bytes]:
    """``payload`` and its encoding, at most ``max_bytes``: when larger, the longest strings of
    its data (metadata keys are never touched) are cut to a common length with a visible
    marker (:func:`ocd.errors.cut`), as little as needed. :class:`FrameTooLarge` when that
    is not enough. Why: one subscriber that refuses an oversized frame loses the publisher's
    connection and the events that follow (doc/bus.md, "Size")."""
    raw = dumps(payload)
    while len(raw) > max_bytes:
        level = _cut_level(_string_sizes(payload), len(raw) - max_bytes)
        if level is None:
            raise FrameTooLarge(f"event of {len(raw)} bytes does not fit in {max_bytes} "
                                "([bus] max_message_bytes), even with its texts cut")
        payload = {key: value if key in _META_SET else _cut_strings(value, level)
                   for key, value in payload.items()}
        raw = dumps(payload)
    return payload, raw


def _json_bytes(text: str) -> int:
    """Bytes of ``text`` once written as a JSON string (escapes included), quotes excluded."""
    return len(orjson.dumps(text)) - 2


def _strings(value: Any) -> Iterator[str]:
    """Every string inside ``value`` (dictionary keys excepted), without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def _string_sizes(payload: Mapping[str, Any]) -> list[int]:
    """Encoded sizes of the strings of ``payload``'s data that may still be cut, largest
    first."""
    sizes = [_json_bytes(text) for key, value in payload.items() if key not in _META_SET
             for text in _strings(value) if len(text) > MIN_CUT]
    return sorted(sizes, reverse=True)


def _cut_level(sizes: list[int], excess: int) -> int | None:
    """The encoded size to cut every larger string down to so that ``excess`` bytes go,
    markers included (the water level over ``sizes``, largest first); None when no string
    can be cut."""
    if not sizes:
        return None
    total = 0
    for count, size in enumerate(sizes, start=1):
        total += size
        level = (total - excess - count * _MARKER_BYTES) // count
        below = sizes[count] if count < len(sizes) else 0
        if level >= below:
            return max(level, MIN_CUT)
    return MIN_CUT


def _cut_strings(value: Any, level: int) -> Any:
    """``value`` with every string longer than ``level`` encoded bytes cut to about that."""
    if isinstance(value, str):
        size = len(value) > MIN_CUT and _json_bytes(value)
        if not size or size <= level:
            return value
        return cut(value, max(MIN_CUT, len(value) * level // size))
    if isinstance(value, dict):
        return {key: _cut_strings(item, level) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_cut_strings(item, level) for item in value]
    return value


def decode(frames: Sequence[bytes | memoryview],
           max_bytes: int = MAX_MESSAGE_BYTES) -> Event:
    """Parse the frames of one message; :class:`MalformedMessage` says what is wrong. Never
    raises anything else, whatever the bytes."""
    if len(frames) != 2:
        topic = _topic_or_none(frames[0]) if frames else None
        raise MalformedMessage(f"expected 2 frames [topic, JSON object], got {len(frames)}",
                               topic, "frames")
    raw_topic, raw_payload = frames
    topic = decode_topic(raw_topic)
    return Event(topic, decode_payload(topic, raw_payload, max_bytes))


def decode_topic(raw_topic: bytes | memoryview) -> str:
    """The topic frame as text: UTF-8, not empty, at most 1024 bytes."""
    if len(raw_topic) > MAX_TOPIC_BYTES:
        raise MalformedMessage(f"topic of {len(raw_topic)} bytes (at most {MAX_TOPIC_BYTES})",
                               None, "size")
    try:
        topic = bytes(raw_topic).decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedMessage(f"topic is not UTF-8: {bytes(raw_topic)[:60]!r}",
                               kind="topic") from None
    if not topic:
        raise MalformedMessage("empty topic", kind="topic")
    return topic


def decode_payload(topic: str, raw_payload: bytes | memoryview,
                   max_bytes: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """The payload frame of an event of ``topic``: a strict JSON object of at most
    ``max_bytes``. The body of :func:`loads`, inlined: every event received comes this way, and
    a call costs as much as a check (doc/performance.md)."""
    if len(raw_payload) > max_bytes:
        raise MalformedMessage(f"payload of {len(raw_payload)} bytes (at most {max_bytes}, "
                               "[bus] max_message_bytes)", topic, "size")
    if type(raw_payload) is not bytes:
        raw_payload = bytes(raw_payload)
    try:
        payload = _orjson_loads(raw_payload)
    except ValueError as exc:  # orjson.JSONDecodeError is one
        kind = "depth" if "depth" in str(exc) else "json"  # orjson's own limit, 1024 levels
        raise MalformedMessage(f"payload is not JSON ({exc})", topic, kind) from None
    if type(payload) is not dict:
        raise MalformedMessage(f"payload is a JSON {_json_type(payload)}, not an object", topic,
                               "not_object")
    if _may_be_deep(raw_payload) and _depth(payload) > MAX_DEPTH:
        raise MalformedMessage(f"payload is not JSON (nesting depth above {MAX_DEPTH} "
                               "levels)", topic, "depth")
    return payload


def _topic_or_none(frame: bytes | memoryview) -> str | None:
    try:
        return bytes(frame).decode("utf-8") or None
    except UnicodeDecodeError:
        return None


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
