"""Envelope v1: pure encoding and decoding, no sockets."""

import datetime as dt
import json
import time

import pytest

from ocd.bus.envelope import (
    META_KEYS,
    MOCK_KEYS,
    OCD_KEYS,
    TCS_KEYS,
    Event,
    MalformedMessage,
    adopted_clock,
    decode,
    encode,
    split_topic,
    stamp,
)
from ocd.clock import MockClock, RealClock

MOCK_START = dt.datetime(2017, 11, 18, 18, 0, tzinfo=dt.timezone.utc)


def test_stamp_adds_every_metadata_key_and_keeps_the_data():
    payload = stamp("ocd.run_shot.run", {"exec_status": 0, "shotid": "DEX00001"},
                    origin="ocd_run_shot@h:1", seq=7, clock=RealClock(), wall_time=lambda: 123.5)
    assert set(META_KEYS) - set(MOCK_KEYS) <= set(payload)
    assert payload["__system"] == "ocd" and payload["__source"] == "run_shot"
    assert payload["__key"] == "run"
    assert payload["__data_time"] == payload["__wire_time"] == 123.5
    assert payload["__data"] is False
    assert payload["__seq"] == 7 and payload["__origin"] == "ocd_run_shot@h:1"
    assert payload["__clock"] == "real"
    assert dt.datetime.fromisoformat(payload["__ocd_utc"]).tzinfo is not None
    assert payload["exec_status"] == 0 and payload["shotid"] == "DEX00001"


def test_stamp_with_a_mock_clock_says_so_and_carries_the_mock_time():
    clock = MockClock(MOCK_START, monotonic=lambda: 0.0)
    payload = stamp("ocd.states.state", {"machine_name": "M", "state": "idle"}, origin="o@h:1",
                    seq=1, clock=clock, wall_time=lambda: 1e9)
    assert payload["__clock"] == "mock"
    assert payload["__ocd_utc"] == "2017-11-18T18:00:00+00:00"
    assert payload["__wire_time"] == 1e9  # wire times stay real
    # the whole clock travels: mock time, speed and the real instant they correspond to
    assert payload["__mock_time"] == "2017-11-18T18:00:00+00:00"
    assert payload["__mock_speed"] == 1.0
    assert payload["__mock_anchor"] == clock.real_start


def test_the_real_clock_adds_no_mock_keys():
    payload = stamp("ocd.states.state", {}, origin="o@h:1", seq=1, clock=RealClock())
    assert not set(MOCK_KEYS) & set(payload)


def test_a_clock_adopted_from_an_event_reads_the_same_time():
    start = MOCK_START
    clock = MockClock(start, speed=60.0, real_start=time.time() - 10.0, source="main")
    payload = stamp("ocd.heartbeat.reply", {}, origin="ocd_main_loop@h:1", seq=1, clock=clock)
    adopted = adopted_clock(Event("ocd.heartbeat.reply", payload))
    assert adopted is not None and adopted.is_mock and adopted.speed == 60.0
    assert "ocd_main_loop@h:1" in adopted.describe()
    difference = (adopted.utc() - clock.utc()).total_seconds()
    assert abs(difference) < 0.5  # both ~600 s past the start: 60x of 10 real s
    assert (clock.utc() - start).total_seconds() == pytest.approx(600, abs=30)


@pytest.mark.parametrize("keys", [
    {}, {"__mock_time": "soon", "__mock_speed": 1, "__mock_anchor": 0},
    {"__mock_time": "2017-11-18T18:00:00", "__mock_speed": 0, "__mock_anchor": 0},
    {"__mock_time": "2017-11-18T18:00:00", "__mock_speed": True, "__mock_anchor": 0},
    {"__mock_time": "2017-11-18T18:00:00", "__mock_speed": 1, "__mock_anchor": "0"},
    {"__mock_time": "2017-11-18T18:00:00", "__mock_speed": 1e300, "__mock_anchor": 0}])
def test_no_clock_is_adopted_from_missing_or_bad_keys(keys):
    assert adopted_clock(Event("ocd.heartbeat.reply", {"__clock": "mock", **keys})) is None


def test_stamp_keeps_a_given_data_time():
    payload = stamp("tcs.root.ra_dec", {}, origin="o@h:1", seq=1, clock=RealClock(),
                    data_time=42.0, wall_time=lambda: 50.0)
    assert payload["__data_time"] == 42.0 and payload["__wire_time"] == 50.0


@pytest.mark.parametrize("key", META_KEYS)
def test_data_may_not_override_metadata(key):
    with pytest.raises(ValueError, match=key):
        stamp("ocd.x.y", {key: 1}, origin="o@h:1", seq=1, clock=RealClock())


@pytest.mark.parametrize("topic", ["ocd", "ocd.x", "ocd..y", ".a.b", ""])
def test_stamp_rejects_topics_that_are_not_system_source_key(topic):
    with pytest.raises(ValueError, match="system.source.key"):
        stamp(topic, {}, origin="o@h:1", seq=1, clock=RealClock())


def test_split_topic_keeps_dots_of_the_source():
    assert split_topic("pas.Guider1.metrology_data") == ("pas", "Guider1", "metrology_data")
    assert split_topic("a.b.c.d") == ("a", "b.c", "d")


def test_encode_decode_round_trip():
    payload = stamp("ocd.heartbeat.reply", {"id": "x", "text": "Größe ✓"}, origin="o@h:1",
                    seq=3, clock=RealClock())
    frames = encode("ocd.heartbeat.reply", payload)
    assert frames[0] == b"ocd.heartbeat.reply"
    assert json.loads(frames[1]) == payload
    event = decode(frames)
    assert event == Event("ocd.heartbeat.reply", payload)
    assert event.seq == 3 and event.origin == "o@h:1"
    assert event.data == {"id": "x", "text": "Größe ✓"}
    assert (event.system, event.source, event.key) == ("ocd", "heartbeat", "reply")


def test_encode_refuses_values_json_readers_reject():
    with pytest.raises(ValueError):
        encode("ocd.x.y", {"seeing": float("nan")})


def test_a_tcs_event_without_ocd_keys_is_valid():
    payload = {"__system": "tcs", "__source": "root", "__key": "ra_dec", "__data_time": 1.0,
               "__wire_time": 1.1, "__data": False, "ra": 12.5, "dec": 56.1}
    event = decode([b"tcs.root.ra_dec", json.dumps(payload).encode()])
    assert event.seq is None and event.origin is None
    assert event.data == {"ra": 12.5, "dec": 56.1}
    assert (event.system, event.source, event.key) == ("tcs", "root", "ra_dec")
    assert not set(OCD_KEYS) & set(event.payload) and set(TCS_KEYS) <= set(event.payload)


def test_topic_parts_fall_back_to_the_topic_itself():
    assert (Event("a.b.c.d", {}).system, Event("a.b.c.d", {}).source,
            Event("a.b.c.d", {}).key) == ("a", "b.c", "d")
    assert (Event("single", {}).system, Event("single", {}).key) == ("single", "")
    assert Event("ocd.x.y", {"__seq": True}).seq is None  # a boolean is no sequence number
    assert Event("ocd.x.y", {"__seq": "3"}).seq is None


@pytest.mark.parametrize("frames, reason, topic", [
    ([b"ocd.x.y"], "expected 2 frames", "ocd.x.y"),
    ([b"ocd.x.y", b"{}", b"{}"], "expected 2 frames", "ocd.x.y"),
    ([], "expected 2 frames", None),
    ([b"\xff\xfe", b"{}"], "topic is not UTF-8", None),
    ([b"", b"{}"], "empty topic", None),
    ([b"ocd.x.y", b"{not json"], "payload is not JSON", "ocd.x.y"),
    ([b"ocd.x.y", b"\xff{}"], "payload is not JSON", "ocd.x.y"),
    ([b"ocd.x.y", b"[1, 2]"], "JSON array, not an object", "ocd.x.y"),
    ([b"ocd.x.y", b"\"text\""], "JSON string, not an object", "ocd.x.y"),
    ([b"ocd.x.y", b"3.5"], "JSON number, not an object", "ocd.x.y"),
    ([b"ocd.x.y", b"null"], "JSON null, not an object", "ocd.x.y"),
])
def test_decode_rejects_malformed_messages_with_a_reason(frames, reason, topic):
    with pytest.raises(MalformedMessage) as info:
        decode(frames)
    assert reason in info.value.reason
    assert info.value.topic == topic
    assert isinstance(info.value, ValueError)


DEEP = b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}"


@pytest.mark.parametrize("payload, kind", [
    (b'{"id": NaN}', "json"),
    (b'{"ra": Infinity}', "json"),
    (b'{"ra": -Infinity}', "json"),
    (b'{"seeing": 1e400}', "json"),
    (b'{"seeing": ' + b"9" * 400 + b"}", "json"),
    (b'{"seeing": -' + b"9" * 400 + b"}", "json"),
    (DEEP, "depth"),
    (b'{"a":' + b"[" * 65 + b"]" * 65 + b"}", "depth"),
    (b'{"a": "\\ud800"}', "json"),          # a lone surrogate, escaped
    (b'{"a": "\xed\xa0\x80"}', "json"),      # a lone surrogate, raw (invalid UTF-8)
    (b'{"a": "\xff"}', "json"),
    (b'\xef\xbb\xbf{"a": 1}', "json"),       # a byte-order mark
    (b'{"a": 1} {"b": 2}', "json"),
    (b"[]", "not_object"),
])
def test_decode_refuses_what_the_encoder_cannot_write(payload, kind):
    """The frames that stopped ocd run before: each is a counted drop with its kind."""
    with pytest.raises(MalformedMessage) as info:
        decode([b"tcs.root.ra_dec", payload])
    assert info.value.kind == kind
    assert info.value.topic == "tcs.root.ra_dec"


def test_decode_accepts_the_deepest_allowed_and_big_but_finite_numbers():
    nested = b'{"a":' + b"[" * 63 + b"]" * 63 + b"}"  # 64 levels with the object
    value = decode([b"a.b.c", nested]).payload["a"]
    for _ in range(62):
        value = value[0]
    assert value == []
    event = decode([b"a.b.c", b'{"x": 1.7e308, "n": 18446744073709551615, "s": "\\u00e9"}'])
    assert event.payload == {"x": 1.7e308, "n": 18446744073709551615, "s": "\u00e9"}
    text = b'{"t": "' + b"[" * 500 + b'"}'  # brackets inside a text are no nesting
    assert decode([b"a.b.c", text]).payload["t"] == "[" * 500


def test_decode_bounds_the_size():
    payload = b'{"a": "' + b"x" * 2000 + b'"}'
    with pytest.raises(MalformedMessage) as info:
        decode([b"a.b.c", payload], max_bytes=1000)
    assert info.value.kind == "size" and "[bus] max_message_bytes" in info.value.reason
    assert decode([b"a.b.c", payload], max_bytes=4000).payload["a"] == "x" * 2000
    with pytest.raises(MalformedMessage) as info:
        decode([b"a" * 2000, b"{}"])
    assert info.value.kind == "size"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"),
                                   [1.0, {"deep": [float("nan")]}]])
def test_encode_refuses_nan_and_infinity_anywhere(value):
    with pytest.raises(ValueError, match="NaN and infinity"):
        encode("ocd.x.y", {"v": value})


def test_encode_refuses_integers_beyond_64_bits():
    with pytest.raises(TypeError):
        encode("ocd.x.y", {"v": 2 ** 70})
