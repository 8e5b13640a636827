"""The board's alarm table: the watcher's events in, the alarm bar and tonight's history out,
every table bounded; and the night view that feeds it from the bus."""

from __future__ import annotations

import datetime as dt
import json

from test_board_night import feed, ocd_event

from ocd.core import topics
from ocd.core.events import AlarmList, AlarmNotice
from ocd.monitor.alarm_table import MAX_ID, AlarmSettings, AlarmTable
from ocd.monitor.night import NightSettings, NightView

T0 = dt.datetime(2017, 11, 19, 3, 0, tzinfo=dt.timezone.utc).timestamp()
WATCH = "ocd_alarms@h:1"


def notice(kind: str, alarm: str = "tcs_heartbeat", severity: str | None = "critical", *,
           state: str | None = None, reason: str | None = "no TCS heartbeat for 12 s",
           since: float | None = T0, by: str | None = None, muted_until: float | None = None,
           escalated: bool = False) -> AlarmNotice:
    states = {"raised": "raised", "cleared": "normal", "acknowledged": "acknowledged",
              "muted": "muted", "listed": "raised"}
    return AlarmNotice(kind, alarm, state or states[kind], severity, reason, since, by,
                       muted_until, escalated)


def test_an_alarm_raised_acknowledged_and_cleared():
    table = AlarmTable()
    assert table.panel() == {"active": [], "count": 0, "worst": None, "newest": None,
                             "urgent": 0, "history": []}
    assert table.notice(notice("raised"), T0 + 1)
    panel = table.panel()
    assert panel["count"] == 1 and panel["worst"] == "critical" and panel["urgent"] == 1
    assert panel["newest"] == {"alarm": "tcs_heartbeat", "reason": "no TCS heartbeat for 12 s"}
    assert panel["active"][0] | {} == {
        "alarm": "tcs_heartbeat", "state": "raised", "severity": "critical",
        "reason": "no TCS heartbeat for 12 s", "since": T0, "by": None, "muted_until": None,
        "escalated": False}

    table.notice(notice("acknowledged", by="board:alice"), T0 + 2)
    panel = table.panel()
    # still active, but seen: it no longer colours the bar
    assert panel["count"] == 1 and panel["worst"] is None and panel["newest"] is None
    assert panel["active"][0]["by"] == "board:alice"
    assert panel["active"][0]["state"] == "acknowledged"

    table.notice(notice("cleared", severity=None, reason=None, since=None), T0 + 3)
    panel = table.panel()
    assert panel["count"] == 0 and panel["active"] == []
    # the history, newest first, numbered
    assert [(h["kind"], h["t"], h["by"]) for h in panel["history"]] == [
        ("cleared", T0 + 3, None), ("acknowledged", T0 + 2, "board:alice"),
        ("raised", T0 + 1, None)]
    assert [h["n"] for h in panel["history"]] == [3, 2, 1]
    json.dumps(panel, allow_nan=False)


def test_the_most_urgent_alarm_colours_the_bar_and_only_urgent_ones_count_for_a_beep():
    table = AlarmTable()
    table.notice(notice("raised", "events_lost", "warning", since=T0), T0)
    assert table.panel()["worst"] == "warning" and table.panel()["urgent"] == 0
    table.notice(notice("raised", "no_shot", "serious", since=T0 + 5), T0 + 5)
    table.notice(notice("raised", "shot_failed", "serious", since=T0 + 9,
                        reason="shot DEX00009 failed"), T0 + 9)
    panel = table.panel()
    assert panel["worst"] == "serious" and panel["urgent"] == 2
    # the most urgent first, then the newest
    assert [a["alarm"] for a in panel["active"]] == ["shot_failed", "no_shot", "events_lost"]
    assert panel["newest"]["reason"] == "shot DEX00009 failed"
    # raised again (a critical one nobody acknowledged): one more beep, marked in both tables
    table.notice(notice("raised", "tcs_heartbeat", since=T0 + 10), T0 + 10)
    table.notice(notice("raised", "tcs_heartbeat", since=T0 + 10, escalated=True), T0 + 70)
    panel = table.panel()
    assert panel["urgent"] == 4 and panel["worst"] == "critical"
    assert panel["active"][0]["escalated"] is True
    assert panel["history"][0]["escalated"] is True
    # muted: seen for now, not in the bar's colour
    table.notice(notice("muted", "tcs_heartbeat", by="bob", muted_until=T0 + 1800), T0 + 80)
    assert table.panel()["worst"] == "serious"
    assert table.panel()["active"][0]["muted_until"] == T0 + 1800


def test_the_watchers_list_is_the_truth():
    table = AlarmTable()
    table.notice(notice("raised", "no_shot", "serious"), T0)
    # a board started late learns what is raised from the list; one the list lacks is over
    listed = AlarmList((notice("listed", "tcs_heartbeat", by=None),
                        notice("listed", "events_lost", "warning", state="acknowledged",
                               by="alice")))
    assert table.listing(listed)
    panel = table.panel()
    assert {a["alarm"]: a["state"] for a in panel["active"]} == {
        "tcs_heartbeat": "raised", "events_lost": "acknowledged"}
    assert not table.listing(listed)  # the same list again: nothing changed
    assert len(panel["history"]) == 1  # a list is no event of the history
    assert table.listing(AlarmList(())) and table.panel()["count"] == 0


def test_tonights_history_starts_at_local_noon_and_is_bounded():
    noon = 18.93  # local noon at HET, in UTC hours
    table = AlarmTable(AlarmSettings(noon_utc=noon, max_history=5))
    for k in range(8):
        table.notice(notice("raised" if k % 2 == 0 else "cleared"), T0 + k)
    history = table.panel()["history"]
    assert len(history) == 5 and history[0]["n"] == 8
    # 03:00 UTC is the night of the 18th; 19:00 UTC on the 19th the night of the 19th
    evening = dt.datetime(2017, 11, 19, 19, 0, tzinfo=dt.timezone.utc).timestamp()
    table.notice(notice("raised", "no_shot", "serious"), evening)
    assert [h["alarm"] for h in table.panel()["history"]] == ["no_shot"]
    # an event without a time yet (the board's clock unknown) is kept, dated "–"
    table.notice(notice("cleared", "no_shot"), None)
    assert table.panel()["history"][0]["t"] is None


def test_a_hostile_watcher_cannot_grow_the_table():
    table = AlarmTable(AlarmSettings(max_active=4))
    for k in range(50):
        table.notice(notice("raised", f"rule_{k}", "warning" if k % 2 else "critical",
                            since=T0 + k, reason="x" * 10_000), T0 + k)
    panel = table.panel()
    assert panel["count"] == 4
    # the least urgent, oldest went first: the newest critical ones stay
    assert all(a["severity"] == "critical" for a in panel["active"])
    assert all(len(a["reason"]) <= 300 for a in panel["active"])
    assert len(panel["history"]) == 50
    long_id = "a" * 1000
    table.notice(notice("raised", long_id), T0)
    assert all(len(a["alarm"]) <= MAX_ID for a in table.panel()["active"])
    # no id, or a kind that is not one: ignored
    assert not table.notice(notice("raised", None), T0)  # type: ignore[arg-type]
    assert not table.notice(AlarmNotice("exploded", "x", None, None, None, None, None, None),
                            T0)
    listed = AlarmList(tuple(notice("listed", f"l{k}") for k in range(100)))
    table.listing(listed)
    assert table.panel()["count"] == 4


def test_the_night_view_shows_the_watchers_events_in_the_alarm_panel():
    view = NightView(NightSettings())
    raised = {"alarm": "tcs_heartbeat", "state": "raised", "summary": "the TCS heartbeat stopped",
              "severity": "critical", "reason": "no TCS heartbeat for 12 s", "since": T0,
              "by": None, "muted_until": None, "escalated": False, "times": 1}
    dirty = feed(view, ocd_event(topics.ALARM_RAISED, raised, at=T0 + 1, origin=WATCH))
    assert {"alarms", "log"} <= dirty
    panel = view.panel("alarms")
    assert panel["worst"] == "critical" and panel["history"][0]["t"] == T0 + 1
    assert view.log[-1]["level"] == "error" and "tcs_heartbeat" in view.log[-1]["line"]
    # the periodic list: into the table, not into the log
    listing = {"alarms": [raised | {"state": "acknowledged", "by": "board:alice"}]}
    logged = len(view.log)
    dirty = feed(view, ocd_event(topics.ALARM_LIST, listing, at=T0 + 2, origin=WATCH))
    assert "alarms" in dirty and len(view.log) == logged
    assert view.panel("alarms")["active"][0]["by"] == "board:alice"
    dirty = feed(view, ocd_event(topics.ALARM_LIST, listing, at=T0 + 3, origin=WATCH))
    assert "alarms" not in dirty
    cleared = raised | {"state": "normal", "severity": None, "reason": None, "since": None}
    feed(view, ocd_event(topics.ALARM_CLEARED, cleared, at=T0 + 4, origin=WATCH))
    assert view.panel("alarms")["count"] == 0 and view.log[-1]["level"] == "notice"
