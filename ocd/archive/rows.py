"""What one event becomes in the archive: its night, identity, times, and the visit of a shot
it starts or ends. Pure: a decoded payload in, tuples out (the writer and the spool carry
them; the store inserts them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, NamedTuple

from ocd.core import events as ev
from ocd.core import topics
from ocd.core.events import decode
from ocd.core.payload import finite_number, utc_time
from ocd.sky.nights import night_of_seconds

#: Longest topic and origin kept in their indexed columns (the payload keeps them whole).
MAX_TOPIC = 255
MAX_ORIGIN = 255
MAX_SHOTID = 64
MAX_ERROR = 300
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class EventRow(NamedTuple):
    """One event as the archive stores it; also one record of the spool (plain values)."""

    night: int             # the night's date as an ordinal (date.toordinal)
    uid: bytes             # 16 bytes: the event's identity
    topic: str
    origin: str | None
    seq: int | None
    at: float              # OCD time, else __data_time, else received
    data_time: float | None
    wire_time: float | None
    received: float
    payload: str           # the JSON text as received
    first: bool            # the first event of its origin this archiver saw
    missing: int           # events of its origin lost just before it (a gap seen live)

    @property
    def date(self) -> dt.date:
        return dt.date.fromordinal(self.night)


#: Times the archive files events under: from 1970 to 2100 (a sender's absurd time is not a
#: night; the event is then filed under when it was received).
LATEST_TIME = 4102444800.0


def event_time(payload: dict[str, Any], received: float) -> float:
    """The time the archive files an event under: OCD's clock when it says it (a mocked
    night is filed under its mock night), else when the data were made, else received (also
    when the event's own times are not between 1970 and 2100)."""
    when = utc_time(payload.get("__ocd_utc"))
    ocd = None if when is None else (when - _EPOCH).total_seconds()
    if ocd is not None and 0.0 <= ocd < LATEST_TIME:
        return ocd
    data_time = finite_number(payload.get("__data_time"))
    return data_time if data_time is not None and 0.0 <= data_time < LATEST_TIME else received


def identity(topic: str, text: str, origin: str | None, seq: int | None,
             data_time: Any, received: float | None = None) -> bytes:
    """16 bytes naming the event wherever it comes from (live, the spool, an imported
    recording): ``(origin, seq)`` with ``__data_time``, since a restarted publisher whose
    origin comes back (the same pid in a new container) numbers from 1 again, at a later
    time; an event without them (the TCS's) by its topic and text, which hold its times; one
    without any time (``received`` given) by its reception too, so that two identical
    heartbeats stay two."""
    if origin is not None and seq is not None:
        key = f"{origin}\0{seq}\0{data_time!r}"
    elif received is None:
        key = f"{topic}\0{text}"
    else:
        key = f"{topic}\0{text}\0{received!r}"
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def event_row(topic: str, text: str, payload: dict[str, Any], received: float,
              first: bool = False, missing: int = 0) -> EventRow:
    """The archive's row of one decoded event (``topic`` is at most :data:`MAX_TOPIC`
    characters: the writer refuses longer ones)."""
    origin = payload.get("__origin")
    seq = payload.get("__seq")
    if not isinstance(origin, str) or type(seq) is not int or not 0 <= seq < 2 ** 63:
        origin, seq = None, None
    at = event_time(payload, received)
    data_time = finite_number(payload.get("__data_time"))
    wire_time = finite_number(payload.get("__wire_time"))
    untimed = data_time is None and wire_time is None
    uid = identity(topic, text, origin, seq, payload.get("__data_time"),
                   received if untimed else None)
    return EventRow(night_of_seconds(at).toordinal(), uid, topic,
                    None if origin is None else origin[:MAX_ORIGIN], seq, at, data_time,
                    wire_time, received, text, first, missing)


class Visit(NamedTuple):
    """A shot's start or end as ``archive_visits`` keeps it (None: not said by this event)."""

    shotid: str
    night: int
    origin: str
    observation: int
    track: str | None
    start_at: float | None
    end_at: float | None
    outcome: str | None
    error: str | None


def visit_of(row: EventRow, payload: dict[str, Any]) -> Visit | None:
    """The visit an ``ocd.run_shot.run`` event starts or ends (None for other events), read
    by the core's decoder like every monitor reads it."""
    if row.topic != topics.RUN_SHOT_RUN:
        return None
    event = decode(row.topic, payload)
    if not isinstance(event, (ev.ShotStarted, ev.ShotEnded)) or not event.shotid:
        return None
    observation = event.observation if event.observation is not None \
        and 0 < event.observation < 2 ** 31 else 0
    # a restarted ocd run closes its killed predecessor's shot: the visit is the predecessor's
    runner = event.shot_origin or event.origin if isinstance(event, ev.ShotEnded) \
        else event.origin
    key = (str(event.shotid)[:MAX_SHOTID], row.night, runner[:MAX_ORIGIN], observation)
    track = event.track[:8] if event.track else None
    if isinstance(event, ev.ShotStarted):
        return Visit(*key, track, row.at, None, None, None)
    error = f"{event.exc_type}: {event.exc_value or ''}"[:MAX_ERROR] if event.failed else None
    return Visit(*key, track, None, row.at, event.outcome, error)
