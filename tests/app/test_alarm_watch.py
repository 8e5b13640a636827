"""The shell of ``ocd alarms``: durations, the escalation command (static, each field one
argument, killed after its timeout) and the alarm lines of ``ocd listen``."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import sys
import time
from pathlib import Path

import pytest

from ocd.app.alarm_watch import AlarmWatch, escalation_from_config, thresholds_from_config
from ocd.app.alarms_tool import minutes_of
from ocd.app.listener import Listener, ListenPlan
from ocd.bus.envelope import Event
from ocd.config import Config, load_config
from ocd.core import topics
from ocd.errors import ConfigError, UsageError
from ocd.monitor.lines import alarm_colour, format_alarm, routine_topics
from ocd.shell.settings import tcs_topics


@pytest.mark.parametrize(("text", "minutes"), [("30m", 30), ("2h", 120), ("90s", 1.5),
                                                ("45", 45), (" 1.5h ", 90)])
def test_durations(text: str, minutes: float) -> None:
    assert minutes_of(text) == minutes


@pytest.mark.parametrize("text", ["0m", "25h", "abc", "-3m", "3d", "", "1e3"])
def test_bad_durations_are_one_usage_line(text: str) -> None:
    with pytest.raises(UsageError, match="--for"):
        minutes_of(text)


def config(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "ocd.cfg"
    path.write_text(text)
    return load_config([path])


def test_thresholds_come_from_the_alarms_section(tmp_path: Path) -> None:
    cfg = config(tmp_path, "[alarms]\nno_shot_minutes = 45\nhold_minutes = 2\n")
    got = thresholds_from_config(cfg)
    assert got.no_shot == 2700 and got.error_hold == 120 and got.lost_hold == 120
    with pytest.raises(ConfigError):
        config(tmp_path, "[alarms]\nescalate_after = 0\n")


def test_an_escalation_argument_naming_an_unknown_field_stops_at_start(tmp_path: Path) -> None:
    cfg = config(tmp_path, "[alarms]\nescalation_command = /bin/true\n"
                           "escalation_arguments = {alarm} {password}\n")
    with pytest.raises(ConfigError, match="escalation_arguments"):
        escalation_from_config(cfg)
    cfg = config(tmp_path, "[alarms]\nescalation_command = /bin/true\n"
                           "escalation_arguments = {alarm.__class__}\n")
    with pytest.raises(ConfigError, match="escalation_arguments"):
        escalation_from_config(cfg)


def test_the_escalation_command_runs_with_each_field_one_argument(tmp_path: Path) -> None:
    out = tmp_path / "paged.txt"
    script = tmp_path / "page.py"
    script.write_text("import sys, pathlib\n"
                      f"pathlib.Path({str(out)!r}).write_text(repr(sys.argv[1:]))\n")
    cfg = config(tmp_path, f"[alarms]\nescalation_command = {sys.executable}\n"
                           f"escalation_arguments = {script} --alarm={{alarm}} {{reason}}\n")
    watch = AlarmWatch(cfg)
    assert watch.escalation is not None
    command = watch.escalation.command({"alarm": "tcs_heartbeat", "severity": "critical",
                                        "reason": "no beat; rm -rf $HOME `x`"})
    asyncio.run(watch._run_hook(command))
    assert out.read_text() == repr(["--alarm=tcs_heartbeat", "no beat; rm -rf $HOME `x`"])


def test_an_escalation_command_that_hangs_is_killed(tmp_path: Path) -> None:
    cfg = config(tmp_path, f"[alarms]\nescalation_command = {sys.executable}\n"
                           "escalation_arguments = -c \"import time; time.sleep(60)\"\n"
                           "escalation_timeout = 0.5\n")
    watch = AlarmWatch(cfg)
    assert watch.escalation is not None
    began = time.monotonic()
    asyncio.run(watch._run_hook(watch.escalation.command({})))
    assert time.monotonic() - began < 30  # killed, not waited for


def test_only_ocd_events_tell_a_clock_apart(tmp_path: Path) -> None:
    """A replayed TCS event keeps the recorded night's stamps: no clock to compare (a
    rehearsal's replay starts minutes before its main loop's clock)."""
    from ocd.clock import RealClock

    watch = AlarmWatch(config(tmp_path, ""))
    watch.clock = RealClock()
    now = time.time()
    stamps = {"__origin": "tcs@h:1", "__clock": "real", "__wire_time": now,
              "__ocd_utc": dt.datetime.fromtimestamp(now - 300, dt.timezone.utc).isoformat()}
    assert watch._clock_sample(Event(topics.TCS_HEARTBEAT, stamps), now) is None
    sample = watch._clock_sample(Event(topics.MAIN_STATUS, stamps), now)
    assert sample is not None and sample.offset == pytest.approx(-300, abs=5)


def alarm_event(topic: str, **data: object) -> Event:
    return Event(topic, {"__clock": "real", "__ocd_utc": "2026-12-07T03:00:00+00:00",
                         "alarm": "tcs_heartbeat", **data})


def test_alarm_lines_stand_apart_and_escape_what_they_quote() -> None:
    raised = alarm_event(topics.ALARM_RAISED, severity="critical",
                         reason="no TCS heartbeat\x1b[2J for 12 s", escalated=True, times=2)
    line = format_alarm(raised)
    assert line.startswith("ALARM 03:00:00") and "RAISED AGAIN (2) tcs_heartbeat" in line
    assert "[critical]" in line
    assert alarm_colour(raised)[0] and alarm_colour(alarm_event(topics.ALARM_CLEARED))[0]
    acked = format_alarm(alarm_event(topics.ALARM_ACKNOWLEDGED, by="alice", severity="critical"))
    assert "ACKNOWLEDGED tcs_heartbeat" in acked and "(by alice)" in acked


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("tty", [False, True])
def test_listen_prints_alarms_apart_coloured_on_a_terminal_only(tmp_path: Path, tty: bool
                                                                ) -> None:
    cfg = config(tmp_path, "")
    out = Tty() if tty else io.StringIO()
    listener = Listener(cfg, ListenPlan([], [topics.OCD_PREFIX],
                                        routine_topics(tcs_topics(cfg))), out=out)
    listener.footer = False

    class NoCheck:
        last_check = None

    listener.subscriber = NoCheck()  # type: ignore[assignment]
    text = listener._text(alarm_event(topics.ALARM_RAISED, severity="critical",
                                      reason="bad\x1b[31m"))
    assert text.count("\n") == 1 and "ALARM" in text and "\\u001b[31m" in text
    assert text.startswith("\x1b[") == tty
    assert listener._text(alarm_event(topics.ALARM_LIST, alarms=[])) == ""
