"""Envelope v1: how one event is laid out on the wire, as pure functions.

An event is a ZeroMQ multipart message ``[topic, JSON object]``. The object carries the TCS
metadata keys (so one GUI reads TCS and OCD events alike) and OCD's own keys, which let a
subscriber detect lost events (``__seq`` per ``__origin``) and tell mocked time from real.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ocd.clock import Clock, MockClock
from ocd.core.payload import finite_number, utc_time

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


class MalformedMessage(ValueError):
    """A message that does not follow the wire format; ``reason`` says why, ``topic`` is the
    topic when it could be read (for the log line), else None."""

    def __init__(self, reason: str, topic: str | None = None) -> None:
        super().__init__(reason if topic is None else f"{topic}: {reason}")
        self.reason = reason
        self.topic = topic


@lru_cache(maxsize=1024)
def split_topic(topic: str) -> tuple[str, str, str]:
    """``system.source.key`` -> its three parts (dots inside the source are kept)."""
    parts = topic.split(".")
    if len(parts) < 3 or not all(parts):
        raise ValueError(f"topic {topic!r} is not of the form system.source.key")
    return parts[0], ".".join(parts[1:-1]), parts[-1]


@dataclass(frozen=True, slots=True)
class Event:
    """One received (or sent) event: its topic and the whole JSON payload, metadata included."""

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
        "__ocd_utc": clock.utc().isoformat(),
    }
    anchor = clock.anchor()
    if anchor is not None:
        payload["__mock_time"] = anchor[0].isoformat()
        payload["__mock_speed"] = clock.speed
        payload["__mock_anchor"] = anchor[1]
    payload.update(data)
    return payload


def adopted_clock(event: Event) -> MockClock | None:
    """The mock clock an event was stamped with (its ``__mock_*`` keys), as a clock of this
    process that reads the same time; None for an event of the real clock or with keys that
    are missing or out of range."""
    payload = event.payload
    speed, anchor = finite_number(payload.get("__mock_speed")), \
        finite_number(payload.get("__mock_anchor"))
    start = utc_time(payload.get("__mock_time"))
    if start is None or speed is None or anchor is None:
        return None
    if not (0 < speed < 1e6 and abs(anchor) < 1e11):
        return None
    return MockClock.adopted(start, speed, anchor,
                             f"adopted from {event.origin or 'an unnamed publisher'}")


_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode


def encode(topic: str, payload: Mapping[str, Any]) -> list[bytes]:
    """The two frames of an event. Strict JSON: NaN or infinity raise ValueError, since JSON
    readers in other languages reject them."""
    return [topic.encode("utf-8"), _dumps(payload).encode("utf-8")]


def decode(frames: Sequence[bytes | memoryview]) -> Event:
    """Parse the frames of one message; :class:`MalformedMessage` says what is wrong."""
    if len(frames) != 2:
        topic = _topic_or_none(frames[0]) if frames else None
        raise MalformedMessage(f"expected 2 frames [topic, JSON object], got {len(frames)}",
                               topic)
    raw_topic, raw_payload = frames
    try:
        topic = bytes(raw_topic).decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedMessage(f"topic is not UTF-8: {bytes(raw_topic)[:60]!r}") from None
    if not topic:
        raise MalformedMessage("empty topic")
    try:
        text = bytes(raw_payload).decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedMessage("payload is not UTF-8", topic) from None
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise MalformedMessage(f"payload is not JSON ({exc})", topic) from None
    if type(payload) is not dict:
        raise MalformedMessage(f"payload is a JSON {_json_type(payload)}, not an object", topic)
    return Event(topic, payload)


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
