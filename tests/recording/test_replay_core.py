"""The pure parts of recording and replaying: schema checks, order, re-stamping, pacing, what a
recording says about its clock, and the clock-step rule."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
import zmq

from ocd.config import sample_night
from ocd.dev.samples import NIGHT_SPEED
from ocd.errors import OcdError
from ocd.recording.pacing import Pacer, RecordedClock, clock_warnings, in_step_speedup
from ocd.recording.replay import _wire_value, restamp, send_batch
from ocd.recording.store import (
    SCHEMA_VERSION,
    inspect,
    open_for_replay,
    open_recording,
    recorded_clock,
    select_sql,
)

UTC = dt.timezone.utc


def make_recording(path: Path, rows: list[tuple[str, dict, float]]) -> None:
    """Rows (topic, payload, received) written with the recorder's own schema."""
    conn = open_recording(path)
    conn.executemany(
        "INSERT INTO events (topic, payload, __data_time, __wire_time, received) "
        "VALUES (?, ?, ?, ?, ?)",
        [(topic, json.dumps(payload), payload.get("__data_time"), payload.get("__wire_time"),
          received) for topic, payload, received in rows])
    conn.close()


def replay_order(path: Path, sort_by: str, topics=("",)) -> list[tuple[str, float | None]]:
    conn = open_for_replay(path)
    sql, params = select_sql(sort_by, topics)
    rows = [(json.loads(payload)["n"], time) for _, payload, time, _ in conn.execute(sql, params)]
    conn.close()
    return rows


@pytest.fixture
def shuffled(tmp_path: Path) -> Path:
    """Four events whose reception order, data times and wire times all differ."""
    path = tmp_path / "rec.db"
    make_recording(path, [
        ("tcs.a.x", {"n": 0, "__data_time": 30.0, "__wire_time": 200.0}, 1000.0),
        ("pas.b.y", {"n": 1, "__data_time": 10.0, "__wire_time": 300.0}, 1001.0),
        ("tcs.a.z", {"n": 2, "__wire_time": 100.0}, 1002.0),
        ("tcs.c.x", {"n": 3, "__data_time": 20.0}, 1003.0),
    ])
    return path


def test_each_order_is_its_column_and_paces_by_it(shuffled):
    assert replay_order(shuffled, "id") == [(0, 1000.0), (1, 1001.0), (2, 1002.0), (3, 1003.0)]
    # events without the time go last, in reception order
    assert replay_order(shuffled, "__data_time") == [(1, 10.0), (3, 20.0), (0, 30.0),
                                                     (2, None)]
    assert replay_order(shuffled, "__wire_time") == [(2, 100.0), (0, 200.0), (1, 300.0),
                                                     (3, None)]


def test_topic_prefixes_select(shuffled):
    assert [n for n, _ in replay_order(shuffled, "id", ("tcs.a.",))] == [0, 2]
    assert [n for n, _ in replay_order(shuffled, "id", ("pas.", "tcs.c"))] == [1, 3]
    selection = inspect(open_for_replay(shuffled), "__data_time", ("tcs.",))
    assert (selection.count, selection.topics) == (3, {"tcs.a.x": 1, "tcs.a.z": 1,
                                                       "tcs.c.x": 1})
    assert selection.span == 10.0  # data times 20 and 30


def test_an_unknown_order_is_refused():
    with pytest.raises(OcdError, match="--sort-by 'seq'"):
        select_sql("seq", [""])


def test_restamp_replaces_only_the_wire_time_byte_for_byte():
    text = '{"__data_time":12.5,"__wire_time":13.25,"x":"été","y":[1,{"z":null}]}'
    out = restamp(text, 1700000000.125)
    assert out == text.replace("13.25", "1700000000.125")
    spaced = json.dumps({"__wire_time": 1e9, "a": 1})  # another publisher's spacing
    assert json.loads(restamp(spaced, 5.5)) == {"__wire_time": 5.5, "a": 1}


@pytest.mark.parametrize("payload", [
    {"a": 1},  # no wire time at all: added
    {"__wire_time": 3.0, "note": "\"__wire_time\":9"},  # the key's text also inside a value
    {"inner": {"__wire_time": 1.0}, "__wire_time": 2.0},  # a nested key of the same name
])
def test_restamp_parses_when_the_text_is_ambiguous(payload):
    out = json.loads(restamp(json.dumps(payload), 42.0, "__wire_time" in payload))
    assert out == {**payload, "__wire_time": 42.0}


def test_pacer_divides_recorded_intervals_by_the_speedup():
    pacer = Pacer(4.0)
    assert pacer.due(100.0, now=10.0) == 10.0
    assert pacer.due(102.0, now=10.1) == 10.5
    assert pacer.due(None, now=10.2) == 10.5  # no time: goes with the previous event
    assert pacer.due(101.0, now=10.6) == 10.25  # backwards: due already, order kept
    pacer.next_pass(gap=2.0)  # --loop: 2 recorded s after the last (101.0 at 10.25)
    assert pacer.due(100.0, now=11.0) == pytest.approx(10.75)
    assert pacer.due(104.0, now=11.0) == pytest.approx(11.75)
    assert Pacer(0).due(5.0, now=3.0) == 3.0  # -s 0: at once


def test_the_sample_night_was_recorded_at_its_mock_speed():
    conn = open_for_replay(sample_night())
    clock = recorded_clock(conn)
    conn.close()
    assert clock.mocked and clock.speed == pytest.approx(NIGHT_SPEED, rel=0.01)
    assert clock.start <= dt.datetime(2017, 11, 19, 3, tzinfo=UTC) <= clock.end


def test_a_real_night_runs_at_speed_one(tmp_path):
    path = tmp_path / "real.db"
    make_recording(path, [("tcs.receiver.heartbeat", {"__data_time": 1511060400.0 + i}, i)
                          for i in range(5)])
    clock = recorded_clock(open_for_replay(path))
    assert (clock.mocked, clock.speed) == (False, 1.0)
    assert clock.start == dt.datetime(2017, 11, 19, 3, tzinfo=UTC)


def test_clock_step_rule():
    night = RecordedClock(60.0, dt.datetime(2017, 11, 19, 2, 55, tzinfo=UTC),
                          dt.datetime(2017, 11, 19, 4, 5, tzinfo=UTC), True)
    assert in_step_speedup(120.0, 60.0) == 2.0
    inside = dt.datetime(2017, 11, 19, 3, tzinfo=UTC)
    assert clock_warnings(2.0, night, 120.0, inside) == []
    assert clock_warnings(0.0, night, 120.0, inside) == []  # as fast as possible: no claim
    [warning] = clock_warnings(1.0, night, 120.0, inside)
    assert "out of step" in warning and "use -s 2" in warning and "2 times" in warning
    [warning] = clock_warnings(2.0, night, 120.0, dt.datetime(2017, 11, 20, tzinfo=UTC))
    assert warning.startswith("[dates] mock_time 2017-11-20 00:00:00 UTC is outside the recorded "
                              "night (2017-11-19 02:55:00 UTC to 2017-11-19 04:05:00 UTC)")


def test_replay_refuses_what_is_not_a_recording(tmp_path):
    with pytest.raises(OcdError, match="no such recording"):
        open_for_replay(tmp_path / "missing.db")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE vl_obsnum (id INTEGER)").connection.close()
    with pytest.raises(OcdError, match="not an OCD recording .no events table"):
        open_for_replay(other)
    text = tmp_path / "notes.db"
    text.write_text("hello, not SQLite at all " * 100)
    with pytest.raises(OcdError, match="not an OCD recording"):
        open_for_replay(text)


def test_recorder_refuses_another_database_and_appends_to_its_own(tmp_path):
    other = tmp_path / "obsnum.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE vl_obsnum (id INTEGER)").connection.close()
    with pytest.raises(OcdError, match="not an OCD recording .* tables vl_obsnum"):
        open_recording(other)
    mine = tmp_path / "mine.db"
    make_recording(mine, [("tcs.a.b", {"n": 1}, 1.0)])
    make_recording(mine, [("tcs.a.b", {"n": 2}, 2.0)])
    conn = open_for_replay(mine)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [json.loads(p)["n"] for (p,) in conn.execute("SELECT payload FROM events")] == [1, 2]


@pytest.mark.parametrize("payload", [
    '{"__data_time":1.5,"__wire_time":2.5,"x":"é"}',
    '{"a":1,"__wire_time":2}',  # the last key: the number ends at the brace
    '{"__wire_time": 1e9 , "b": [1, 2]}',  # another publisher's spacing
    '{"__wire_time":3.0,"note":"\\"__wire_time\\":9"}',
    '{"inner":{"__wire_time":1.0},"__wire_time":2.0}',
    '{"__wire_time" : 5, "inner": {"__wire_time":1}}',  # the first one spelled otherwise
    '{"a":1}',
])
def test_the_inlined_batch_sender_restamps_like_restamp(tmp_path, payload):
    path = tmp_path / "one.db"
    conn = open_recording(path)
    data = json.loads(payload)
    conn.execute("INSERT INTO events (topic, payload, __wire_time, received) VALUES (?, ?, ?, 1)",
                 ("tcs.a.b", payload, data.get("__wire_time")))
    conn.close()
    conn = open_for_replay(path)
    rows = conn.execute(select_sql("id", [""])[0]).fetchall()  # wire_at found by SQLite
    frames: list[tuple[bytes, int]] = []
    lost = send_batch(rows, lambda frame, flags: frames.append((frame, flags)), None, {},
                      ns=lambda: 1511060400_250_999_999)
    assert lost == 0 and frames[0] == (b"tcs.a.b", zmq.SNDMORE) and frames[1][1] == 0
    text = frames[1][0].decode()
    assert json.loads(text) == {**data, "__wire_time": 1511060400.25}  # to the millisecond
    if "__wire_time" in data and _wire_value(payload) is not None:  # only the number changes
        start, end = _wire_value(payload)
        assert text == f"{payload[:start]}1511060400.250{payload[end:]}"
    else:
        assert text == restamp(payload, 1511060400.25, "__wire_time" in data)


def test_a_full_subscriber_queue_loses_the_event_and_says_so():
    full: list[list[bytes]] = []

    def send(frame: bytes, flags: int) -> None:
        if flags:  # the topic of the second event meets a queue that stays full
            send.calls += 1
            if send.calls == 2:
                raise zmq.Again()

    send.calls = 0
    rows = [("tcs.a.b", f'{{"__wire_time":1.0,"n":{n}}}', None, 0) for n in range(3)]
    assert send_batch(rows, send, full.append, {}) == 1
    assert [json.loads(frames[1])["n"] for frames in full] == [1]
