"""One clock warned: a process's adopted clock that reads more than a second off the main
loop's is said in one line and follows it; the board notices any publisher off that clock."""

from __future__ import annotations

import datetime as dt
import logging

from ocd.bus.envelope import Event, stamp
from ocd.clock import MockClock
from ocd.monitor.night import NightSettings, NightView
from ocd.shell.clock_source import ClockFollower

NIGHT = dt.datetime(2017, 11, 19, 3, tzinfo=dt.timezone.utc)


def stamped(clock: MockClock, origin: str, topic: str = "ocd.main_loop.status") -> Event:
    return Event(topic, stamp(topic, {}, origin=origin, seq=1, clock=clock))


def test_a_clock_off_the_main_loop_s_is_said_once_and_follows(caplog):
    ours = MockClock(NIGHT, 60.0)
    follower = ClockFollower(ours, "ocd sim_tcs")
    same = MockClock(NIGHT, 60.0, real_start=ours.real_start)
    assert follower.check(stamped(same, "ocd_main_loop@h:1")) is None
    later = MockClock(NIGHT + dt.timedelta(hours=5), 60.0)
    # only the main loop is followed
    assert follower.check(stamped(later, "ocd_board@h:3")) is None
    with caplog.at_level(logging.WARNING, logger="ocd.clock"):
        line = follower.check(stamped(later, "ocd_main_loop@h:2"))
        assert line is not None and "(-18000 s off)" in line and "ocd_main_loop@h:2" in line
        assert abs(ours.timestamp() - later.timestamp()) < 1.0  # followed
        assert follower.check(stamped(later, "ocd_main_loop@h:2")) is None  # said once
    assert [r.getMessage() for r in caplog.records] == [line]


def test_the_board_notices_a_publisher_off_the_main_loop_s_clock():
    view = NightView(NightSettings())
    main = MockClock(NIGHT, 60.0)
    view.feed(stamped(main, "ocd_main_loop@h:1"), main.real_start + 1)
    agreeing = MockClock(NIGHT, 60.0, real_start=main.real_start)
    view.feed(stamped(agreeing, "tcs@h:5", "tcs.receiver.heartbeat"), main.real_start + 1)
    assert view.clock.notices == type(view.clock.notices)()  # nothing to say
    old = MockClock(NIGHT - dt.timedelta(hours=5), 60.0, real_start=main.real_start)
    for _ in range(3):
        view.feed(stamped(old, "tcs@h:5", "tcs.receiver.heartbeat"), main.real_start + 2)
    assert [n["text"] for n in view.clock.notices] == \
        ["the clock of tcs@h:5 reads -18000 s off the main loop's"]  # once per publisher
    assert view.clock.as_dict()["notices"][0]["text"].startswith("the clock of tcs@h:5")
