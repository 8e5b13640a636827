"""The night's table that ``ocd simulate``, ``ocd plan`` and ``ocd archive night`` share."""

from __future__ import annotations

import datetime as dt

from ocd.monitor.night_table import aligned, clip, hm, night_rows, span
from ocd.monitor.timeline import IdlePeriod, NightReport, ShotRecord

T0 = dt.datetime(2017, 11, 19, 3, 0, tzinfo=dt.timezone.utc).timestamp()


def report() -> NightReport:
    shots = [ShotRecord("DEX00010", "E", 2, T0 + 1500, "ocd_run_shot@h:1", True,
                        "by hand", end=T0 + 2700, outcome="interrupted",
                        error="ShotAborted: shutdown"),
             ShotRecord("DEX00009", "W", 1, T0 + 300, "ocd_main_loop@h:1", False,
                        "chosen:\npriority 1", end=T0 + 1500, outcome="completed")]
    idle = [IdlePeriod(T0, T0 + 300, "TCS down", "no heartbeat"),
            IdlePeriod(T0 + 2700, T0 + 2730, "starting")]  # a blink: no row
    return NightReport(T0, T0 + 3600, None, None, shots, idle, [], [])


def test_shots_and_idle_stretches_in_time_order_with_every_error_said():
    rows = night_rows(report())
    assert rows[0] == ("UTC", "what", "track", "obs", "outcome", "why")
    assert rows[1:] == [
        ("03:00-03:05", "idle 5 min", "", "", "TCS down", "no heartbeat"),
        ("03:05-03:25", "DEX00009", "W", "1", "completed", "chosen: priority 1"),
        ("03:25-03:45", "DEX00010 (by hand)", "E", "2", "interrupted",
         "by hand; ShotAborted: shutdown")]


def test_a_plan_shows_no_numbers_and_its_shots_as_planned():
    rows = night_rows(report(), plan=True)
    assert rows[0][3] == "" and rows[2][3] == "" and rows[2][4] == "planned"
    assert rows[3][4] == "interrupted"  # only a completed shot is "planned"


def test_the_short_forms():
    assert hm(None) == "--:--" and hm(T0 + 61) == "03:01"
    assert span(42 * 60) == "42 min" and span(65 * 60) == "1h05"
    assert clip("a\nb  c") == "a b c" and clip("x" * 100, 10) == "x" * 9 + "…"
    lines = aligned([("a", "bb", "free text"), ("ccc", "d", "e")])
    assert lines == ["  a    bb  free text", "  ccc  d   e"]
