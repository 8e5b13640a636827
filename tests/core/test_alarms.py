"""The alarm rules one by one (each fires and clears), and the alarm book's state machine."""

from __future__ import annotations

import pytest

from ocd.core import state_names as sn
from ocd.core.alarms import (
    ALARM,
    CRITICAL,
    SERIOUS,
    WARNING,
    AlarmBook,
    AlarmError,
    ClockSample,
    ClocksDisagree,
    EventsLost,
    EventsLostOnBus,
    MainLoopError,
    MainLoopSilent,
    MetrologyBad,
    NoShotTaken,
    ObsnumUnreachable,
    ShotFailed,
    SignInFailures,
    TcsHeartbeatLost,
    Thresholds,
    default_rules,
)
from ocd.core.events import (
    ABORTED,
    SHUTDOWN,
    Decision,
    MainError,
    MainStatus,
    MainStopping,
    NoShot,
    ShotEnded,
    ShotStarted,
    SignIn,
    TcsHeartbeat,
)
from ocd.core.states import ImpossibleTransition, Machine


def started(observation: int | None = 7) -> ShotStarted:
    return ShotStarted("run@h:1", "20261207v001", "E", observation, 10.0, 20.0)


def ended(failed: bool, exc_type: str | None = None, exc_value: str | None = None
          ) -> ShotEnded:
    return ShotEnded("run@h:1", "20261207v001", "E", 7, failed, exc_type, exc_value, None,
                     None)


def status(*, allowed: bool = True, metrology: str = "good", meta: str = sn.SATISFIED,
           running: str | None = None) -> MainStatus:
    states = {sn.HETDEX_ALLOWED: sn.ALLOWED if allowed else sn.NOT_ALLOWED,
              sn.METROLOGY: metrology, sn.META: meta}
    return MainStatus(states, None, None, running, None, None, None)


def test_tcs_heartbeat_lost_fires_after_the_timeout_and_clears_on_a_heartbeat() -> None:
    rule = TcsHeartbeatLost(10, start=0)
    assert rule.check(9) is None
    rule.observe(TcsHeartbeat(), 5)
    assert rule.check(14) is None
    condition = rule.check(16)
    assert condition is not None and condition.severity == CRITICAL
    assert condition.since == 15 and "TCS heartbeat" in condition.reason
    rule.observe(TcsHeartbeat(), 17)
    assert rule.check(17) is None


def test_main_loop_silent_fires_without_status_and_not_after_a_clean_stop() -> None:
    rule = MainLoopSilent(30, start=0)
    rule.observe(status(), 10)
    assert rule.check(39) is None
    condition = rule.check(41)
    assert condition is not None and condition.severity == SERIOUS
    rule.observe(status(), 42)
    assert rule.check(42) is None
    rule.observe(MainStopping("SIGTERM", None), 43)
    assert rule.check(1000) is None


def test_shot_failed_fires_on_a_failure_warns_on_an_abort_and_clears_on_the_next_start() -> None:
    rule = ShotFailed()
    rule.observe(ended(True, "TimeoutError", "virus\x1b[31m did not answer"), 1)
    condition = rule.check(2)
    assert condition is not None and condition.severity == SERIOUS
    assert "\x1b" not in condition.reason and "did not answer" in condition.reason
    rule.observe(started(), 3)
    assert rule.check(3) is None
    rule.observe(ended(True, ABORTED, "ocd abort"), 4)
    condition = rule.check(4)
    assert condition is not None and condition.severity == WARNING
    rule.observe(ended(False), 5)
    assert rule.check(5) is None
    rule.observe(ended(True, ABORTED, SHUTDOWN), 6)
    assert rule.check(6) is None


def test_main_loop_error_fires_and_clears_after_its_hold() -> None:
    rule = MainLoopError(hold=60)
    rule.observe(MainError("event", None, "bad payload", "x.y.z"), 0)
    condition = rule.check(1)
    assert condition is not None and condition.severity == WARNING
    rule.observe(MainError("schedule", None, "scheduler crashed\nline 2", None), 30)
    condition = rule.check(31)
    assert condition is not None and condition.severity == SERIOUS and condition.since == 0
    assert "\n" not in condition.reason
    assert rule.check(89) is not None
    assert rule.check(91) is None
    rule.observe(MainError("obsnum", None, "db down", None), 100)
    assert rule.check(100) is None  # its own rule


def test_obsnum_unreachable_fires_on_an_obsnum_failure_and_clears_on_a_numbered_shot() -> None:
    rule = ObsnumUnreachable()
    rule.observe(MainError("obsnum", "s1", "Can't connect to MySQL server", None), 5)
    condition = rule.check(6)
    assert condition is not None and condition.severity == CRITICAL and condition.since == 5
    rule.observe(started(observation=None), 7)
    assert rule.check(7) is not None
    rule.observe(started(observation=12), 8)
    assert rule.check(8) is None


def test_metrology_bad_fires_only_while_hetdex_is_allowed() -> None:
    rule = MetrologyBad(limit=600)
    rule.observe(status(metrology=sn.METROLOGY_BAD), 0)
    assert rule.check(599) is None
    condition = rule.check(601)
    assert condition is not None and condition.since == 600
    rule.observe(status(metrology=sn.METROLOGY_BAD, allowed=False), 602)
    assert rule.check(2000) is None
    rule.observe(status(metrology=sn.METROLOGY_BAD), 2001)
    rule.observe(status(metrology="good"), 2700)
    assert rule.check(2700) is None


def test_no_shot_fires_when_everything_allows_one_and_clears_when_one_starts() -> None:
    rule = NoShotTaken(limit=1200)
    rule.observe(status(), 0)
    assert rule.check(1199) is None
    assert rule.check(1201) is not None
    rule.observe(started(), 1300)
    rule.observe(status(running="20261207v001"), 1301)
    assert rule.check(5000) is None


def test_no_shot_stays_quiet_when_nothing_is_observable_or_conditions_are_not_met() -> None:
    rule = NoShotTaken(limit=100)
    rule.observe(NoShot("no observable shot", "ocd", None), 0)
    rule.observe(status(), 1)
    assert rule.check(500) is None
    rule.observe(NoShot("scheduler crashed", "error", None), 501)  # a failure is no answer
    rule.observe(status(), 502)
    assert rule.check(603) is not None
    rule.observe(status(meta=sn.UNSATISFIED), 604)
    assert rule.check(800) is None
    rule.observe(Decision("s", "E", "ocd", False, "conditions changed"), 801)
    rule.observe(status(), 802)
    assert rule.check(903) is not None


def test_clocks_disagree_fires_on_an_offset_or_another_kind_and_clears() -> None:
    rule = ClocksDisagree("real", limit=1.0, forget=60)
    rule.observe(ClockSample("run@h:1", "real", 0.3), 0)
    assert rule.check(0) is None
    rule.observe(ClockSample("run@h:1", "real", 2.5), 1)
    condition = rule.check(1)
    assert condition is not None and "+2.5 s" in condition.reason
    rule.observe(ClockSample("run@h:1", "real", 0.1), 2)
    assert rule.check(2) is None
    rule.observe(ClockSample("sim@h:2", "mock", 0.0), 3)
    condition = rule.check(3)
    assert condition is not None and "mock" in condition.reason
    assert rule.check(64) is None  # not heard for a minute: forgotten


def test_events_lost_fires_on_a_gap_and_clears_after_its_hold() -> None:
    rule = EventsLostOnBus(hold=30)
    rule.observe(EventsLost("run@h:1", 0), 0)
    assert rule.check(0) is None
    rule.observe(EventsLost("run@h:1", 4), 1)
    rule.observe(EventsLost("run@h:1", 2), 2)
    condition = rule.check(3)
    assert condition is not None and "6 event(s)" in condition.reason
    assert condition.since == 1
    assert rule.check(33) is None


def test_sign_in_failures_fire_at_the_count_within_the_window_and_clear() -> None:
    rule = SignInFailures(count=3, window=60)
    for at in (0, 10):
        rule.observe(SignIn("bob", "127.0.0.1", False), at)
    rule.observe(SignIn("bob", "127.0.0.1", True), 15)
    assert rule.check(20) is None
    rule.observe(SignIn("eve\x07", "10.0.0.1", False), 20)
    condition = rule.check(21)
    assert condition is not None and "\x07" not in condition.reason and "bob" in condition.reason
    assert rule.check(61) is None


# -- the book -------------------------------------------------------------------------------
def book(escalate_after: float = 300) -> AlarmBook:
    return AlarmBook(default_rules(Thresholds(tcs_heartbeat_timeout=10), start=0),
                     escalate_after)


def test_the_book_raises_escalates_and_clears() -> None:
    alarms = book()
    alarms.observe(TcsHeartbeat(), 0)
    alarms.observe(status(allowed=False), 0)
    assert alarms.evaluate(5) == []
    changes = alarms.evaluate(11)
    assert [(c.kind, c.payload["alarm"]) for c in changes] == [("raised", "tcs_heartbeat")]
    assert changes[0].payload["severity"] == CRITICAL and changes[0].payload["since"] == 10
    alarms.observe(status(allowed=False), 11)
    assert alarms.evaluate(12) == []
    alarms.observe(status(allowed=False), 300)
    escalated = alarms.evaluate(312)
    assert [c.kind for c in escalated] == ["escalated"]
    assert escalated[0].payload["times"] == 2
    assert [a["alarm"] for a in alarms.listing()] == ["tcs_heartbeat"]
    alarms.observe(TcsHeartbeat(), 313)
    alarms.observe(status(allowed=False), 313)
    assert [(c.kind, c.payload["alarm"]) for c in alarms.evaluate(313)] \
        == [("cleared", "tcs_heartbeat")]
    assert alarms.listing() == []


def test_an_acknowledged_alarm_is_not_escalated_and_records_the_user() -> None:
    alarms = book()
    alarms.evaluate(11)
    ack = alarms.acknowledge("tcs_heartbeat", "alice")
    assert ack.kind == "acknowledged" and ack.payload["by"] == "alice"
    assert ack.payload["state"] == "acknowledged"
    assert [c.kind for c in alarms.evaluate(1000) if c.payload["alarm"] == "tcs_heartbeat"] \
        == []


def test_a_muted_alarm_comes_back_when_its_mute_ends() -> None:
    alarms = book()
    alarms.evaluate(11)
    muted = alarms.mute("tcs_heartbeat", "bob", until=100)
    assert muted.payload["muted_until"] == 100 and muted.payload["state"] == "muted"
    assert not [c for c in alarms.evaluate(99) if c.payload["alarm"] == "tcs_heartbeat"]
    again = [c for c in alarms.evaluate(100) if c.payload["alarm"] == "tcs_heartbeat"]
    assert [(c.kind, c.payload["state"]) for c in again] == [("raised", "raised")]


def test_operations_on_an_alarm_not_raised_are_refused() -> None:
    alarms = book()
    with pytest.raises(AlarmError, match="not raised"):
        alarms.acknowledge("tcs_heartbeat", "alice")
    with pytest.raises(AlarmError, match="no alarm"):
        alarms.mute("nonsense\x1b", "alice", 10)
    alarms.evaluate(11)
    alarms.mute("tcs_heartbeat", "bob", until=100)
    with pytest.raises(AlarmError, match="muted"):
        alarms.acknowledge("tcs_heartbeat", "alice")


def test_the_alarm_table_refuses_impossible_moves() -> None:
    machine = Machine(ALARM)
    with pytest.raises(ImpossibleTransition):
        machine.fire(ALARM.triggers("acknowledge"))
    with pytest.raises(ImpossibleTransition):
        machine.fire(ALARM.triggers("clear"))
    machine.fire(ALARM.triggers("raise"))
    with pytest.raises(ImpossibleTransition):
        machine.fire(ALARM.triggers("unmute"))
