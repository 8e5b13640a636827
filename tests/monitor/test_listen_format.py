"""``ocd listen``'s pure parts: what it subscribes to and how it prints."""

import json

import pytest

from ocd.app.listener import make_plan
from ocd.bus.envelope import Event
from ocd.bus.sequence import SeqCheck, SeqKind
from ocd.config import load_config
from ocd.errors import UsageError
from ocd.monitor.lines import MAX_LINE, event_time, format_check, format_json, format_line

OCD_TOPICS = ["ocd.", "tcs.receiver.heartbeat", "tcs.root.ra_dec", "pas.Guider1.metrology_data",
              "pas.Guider2.metrology_data"]


def test_default_plan_follows_the_ocd_services_and_topics():
    plan = make_plan(load_config())
    # the second ocd_allow_hetdex address is the board's; the last the alarm watcher's
    assert plan.urls == ["tcp://127.0.0.1:6600", "tcp://127.0.0.1:6601", "tcp://127.0.0.1:6605",
                         "tcp://127.0.0.1:6602", "tcp://127.0.0.1:6604", "tcp://127.0.0.1:6606",
                         "tcp://127.0.0.1:6607", "tcp://127.0.0.1:6608"]
    assert plan.topics == OCD_TOPICS


def test_plan_with_tcs_replay_extras_and_exact_urls():
    cfg = load_config(overrides=[("urls", "ocd_db_replay", "tcp://127.0.0.1:6603"),
                                 ("topics", "extra", "pas.")])
    plan = make_plan(cfg, tcs=True, replay=True, topics=["tcs.root"])
    assert plan.urls[-2:] == ["tcp://127.0.0.1:5585", "tcp://127.0.0.1:6603"]
    assert plan.topics == [*OCD_TOPICS, "pas.", "tcs.root"]
    only = make_plan(cfg, urls=["ipc:///x.ipc", "ipc:///x.ipc"], topics=["a"], all_topics=False)
    assert only.urls == ["ipc:///x.ipc"] and only.topics == ["pas.", "a"]


def test_replay_without_addresses_is_a_usage_error():
    with pytest.raises(UsageError, match=r"--replay: \[urls\] ocd_db_replay is empty"):
        make_plan(load_config(overrides=[("urls", "ocd_db_replay", "")]), replay=True)


def test_time_prefers_ocd_clock_then_tcs_data_time_then_reception():
    mock = Event("ocd.x.y", {"__ocd_utc": "2017-11-18T18:00:00.123456+00:00",
                             "__data_time": 0.0, "__clock": "mock"})
    assert event_time(mock) == "18:00:00 mock"
    assert event_time(Event("tcs.a.b", {"__data_time": 1511028000.5})) == "18:00:00"
    assert event_time(Event("x.y.z", {"__data_time": "junk"}), received=0.25) == "00:00:00"
    # a time no calendar holds is not shown: the reception time is
    assert event_time(Event("x.y.z", {"__data_time": 1e300}), received=3661.0) == "01:01:01"


def test_line_shows_key_fields_of_ocd_topics_in_schema_order():
    event = Event("ocd.run_shot.exp_hetdex", {
        "__data_time": 1511028000.0, "recipe": "hetdex", "observation": 12, "exposure": 2,
        "shotid": "DEX00001", "exec_status": 1, "seconds": 360.0, "object": "HS 0015"})
    assert format_line(event) == ("18:00:00  ocd.run_shot.exp_hetdex  "
                                  "exec_status=1 shotid=DEX00001 exposure=2 observation=12 "
                                  "seconds=360.0")


def test_line_of_a_foreign_topic_is_bounded():
    event = Event("tcs.x.y", {"__data_time": 0.0, "text": "a b", "long": "x" * 500})
    line = format_line(event)
    assert 'text="a b"' in line
    assert len(line) == MAX_LINE and line.endswith("…")


def test_json_is_strict_even_for_foreign_nan():
    text = format_json(Event("tcs.x.y", {"v": float("nan"), "w": [float("inf"), 1]}))
    assert json.loads(text) == {"topic": "tcs.x.y", "payload": {"v": None, "w": [None, 1]}}
    assert "NaN" not in text


def test_gap_and_restart_notes():
    gap = SeqCheck(SeqKind.GAP, "o@h:1", 9, expected=5, missing=4)
    assert format_check(gap, False) == "!! lost 4 event(s) from o@h:1 (expected seq 5, got 9)"
    restart = SeqCheck(SeqKind.RESTART, "o@h:1", 1, expected=8)
    assert json.loads(format_check(restart, True)) == {
        "restart": {"origin": "o@h:1", "previous": 7, "received": 1}}
    assert format_check(SeqCheck(SeqKind.IN_ORDER, "o@h:1", 2, 2), True) is None
