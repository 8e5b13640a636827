"""``ocd simulate``'s parts: virtual time, a simulated night through ocd run's engine, the
timeline of the report, and the checker of OCD's rules (each rule shown to fail)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from pathlib import Path

import pytest

from ocd.app.simulation.night import NightSetup
from ocd.app.simulation.report import render_night, results_document
from ocd.app.simulation.scenario import Command, Failure, ManualShot, Scenario, Span
from ocd.app.simulation.simulate import memory_allocator, run_night
from ocd.app.simulation.virtual_time import SimulationStalled, VirtualClock, VirtualTimeLoop
from ocd.config import load_config, rehearsal_config
from ocd.core.orchestrator import Orchestrator
from ocd.monitor.invariants import InvariantChecker, Limits, bookkeeping_violations
from ocd.monitor.timeline import CONDITIONS, NO_SHOT, TWILIGHT, no_shot_kind
from ocd.shots.book import ShotCopy
from ocd.shots.store import load_shots
from ocd.sky.scheduler import Conditions, ScheduleSettings, choose
from ocd.tcs.sim.weather import Weather

UTC = dt.timezone.utc
START = dt.datetime(2017, 11, 19, 3, 0, tzinfo=UTC)


def rehearsal_cfg(*overrides: tuple[str, str, str]):
    return load_config([str(rehearsal_config())], list(overrides))


def night(cfg, hours: float = 1.0, scenario: Scenario | None = None, start=START,
          weather: Weather | None = None):
    """One simulated night on the rehearsal's shot list; its result."""
    shots = ShotCopy(load_shots(cfg.get_path("shots", "shot_file")))
    setup = NightSetup(start, start + dt.timedelta(hours=hours), weather or Weather("steady"),
                       scenario or Scenario(), tick=1.0, check_events=True)
    allocator = memory_allocator(cfg)
    try:
        return run_night(cfg, setup, shots, allocator)
    finally:
        allocator.close()


# -- virtual time -------------------------------------------------------------------------------

def test_virtual_time_jumps_to_the_next_timer_and_keeps_order():
    loop = VirtualTimeLoop()
    seen: list[tuple[str, float]] = []

    async def sleeper(name: str, delays: list[float]) -> None:
        for delay in delays:
            await asyncio.sleep(delay)
            seen.append((name, loop.time()))

    async def main() -> None:
        await asyncio.gather(sleeper("a", [3600.0, 1.5]), sleeper("b", [0.5, 7200.0]))

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    assert seen == [("b", 0.5), ("a", 3600.0), ("a", 3601.5), ("b", 7200.5)]


def test_virtual_clock_reads_the_loop_time():
    loop = VirtualTimeLoop()
    clock = VirtualClock(START, loop)

    async def main() -> dt.datetime:
        await asyncio.sleep(90.0)
        return clock.utc()

    try:
        assert loop.run_until_complete(main()) == START + dt.timedelta(seconds=90)
    finally:
        loop.close()
    assert clock.is_mock and clock.speed == 1.0 and clock.anchor() is None
    assert "virtual clock" in clock.describe()


def test_a_simulation_waiting_for_what_cannot_come_says_so():
    loop = VirtualTimeLoop()
    try:
        with pytest.raises(SimulationStalled, match="can never happen"):
            loop.run_until_complete(loop.create_future())  # nothing will ever set it
    finally:
        loop.close()


# -- a night through ocd run's engine ------------------------------------------------------------

@pytest.mark.parametrize("check", [True, False])
def test_the_simulated_processes_events_are_validated_when_asked(monkeypatch, check):
    """With ``check_events`` (the suite's nights) a shot's broken event is dropped as by
    ``ocd run``'s subscriber and fails the night; without it (``ocd simulate``) the
    simulated processes' events are trusted, as the simulated TCS's are."""
    from ocd.app.simulation import night as night_module

    stamp = night_module.stamp

    def broken(topic, data, **kwargs):
        payload = stamp(topic, data, **kwargs)
        if topic == "ocd.run_shot.setup_telescope":
            payload["shotid"] = 42  # a number where the schema wants text
        return payload

    monkeypatch.setattr(night_module, "stamp", broken)
    cfg = rehearsal_cfg(("run_shot", "exposure_time", "60"))
    shots = ShotCopy(load_shots(cfg.get_path("shots", "shot_file")))
    setup = NightSetup(START, START + dt.timedelta(hours=0.5), Weather("steady"), tick=1.0,
                       check_events=check)
    allocator = memory_allocator(cfg)
    try:
        result = run_night(cfg, setup, shots, allocator)
    finally:
        allocator.close()
    assert any(s.outcome == "completed" for s in result.report.shots)
    assert (sum(result.dropped.values()) > 0) is check
    assert result.ok is not check


def test_a_quiet_hour_observes_shots_with_fresh_numbers_and_keeps_the_rules():
    cfg = rehearsal_cfg(("run_shot", "exposure_time", "60"))
    result = night(cfg, 1.0)
    report = result.report
    assert result.ok, (result.violations, result.failures, result.dropped)
    completed = [s for s in report.shots if s.outcome == "completed"]
    assert len(completed) >= 5
    assert [s.shotid for s in completed[:3]] == ["DEX00009", "DEX00009", "DEX00010"]
    assert [s.observation for s in report.shots] == list(range(1, len(report.shots) + 1))
    assert result.obsnums == {"2017-11-19": [s.observation for s in report.shots]}
    assert all(s.reason.startswith("chosen: ") for s in completed)
    assert all(s.exposures == 3 and s.exposure_seconds == 180.0 for s in completed)
    # n_obs went down once per completed shot, in the copy only
    assert sum(result.n_obs_before.values()) - sum(result.n_obs_after.values()) == \
        len(completed)
    original = load_shots(cfg.get_path("shots", "shot_file"))
    assert {s.shotid: s.n_obs for s in original.all()} == result.n_obs_before


def test_the_same_night_twice_is_the_same_night():
    cfg = rehearsal_cfg(("run_shot", "exposure_time", "120"))
    scenario = Scenario(commands=(Command(60.0, "allow"), Command(2000.0, "forbid"),
                                  Command(2600.0, "allow"), Command(4000.0, "abort")),
                        tcs_outages=(Span(5000.0, 5400.0),), db_latency=30.0, seed=5)
    first = results_document([night(cfg, 2.0, scenario, weather=Weather("random", seed=5))],
                             "", 0.0)
    second = results_document([night(cfg, 2.0, scenario, weather=Weather("random", seed=5))],
                              "", 0.0)
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert first["nights"][0]["shots"]


def test_idle_time_says_why():
    cfg = rehearsal_cfg(("run_shot", "exposure_time", "120"))
    evening = dt.datetime(2017, 11, 19, 0, 30, tzinfo=UTC)  # before dark time (01:20)
    scenario = Scenario(commands=(Command(0.0, "allow"), Command(4 * 3600.0, "forbid"),
                                  Command(4.5 * 3600.0, "allow")),
                        tcs_outages=(Span(3 * 3600.0, 3.3 * 3600.0),))
    result = night(cfg, 5.0, scenario, start=evening)
    assert result.ok, (result.violations, result.failures)
    idle = result.report.idle_by_reason()
    assert idle["twilight"] == pytest.approx(50 * 60, abs=120)
    assert idle["TCS down"] > 15 * 60 and idle["forbidden"] > 25 * 60
    text = render_night(result, "test")
    assert "twilight            not dark: sun at" in text
    assert "rules: all held" in text


def test_a_shot_by_hand_that_fails_during_the_main_loops_shot():
    """The first bug the random nights found: an RA's shot by hand failed while the main
    loop's own shot ran; the machine paused, then went idle and the main loop started another
    shot while its own still ran (a handling failure, a second shot on one telescope)."""
    cfg = rehearsal_cfg(("run_shot", "exposure_time", "240"))
    scenario = Scenario(manual=(ManualShot(200.0, 0),),
                        failures=(Failure("pas.setup_guiders", Span(150.0, 700.0)),))
    result = night(cfg, 1.0, scenario)
    assert result.ok, (result.violations, result.failures)
    shots = result.report.shots
    by_hand = [s for s in shots if s.by_hand]
    assert by_hand and by_hand[0].outcome == "failed"
    first = shots[0]
    assert not first.by_hand and first.start < by_hand[0].start < by_hand[0].end < first.end


def test_a_slow_observation_number_and_a_forbid_keep_the_rules():
    """The second bug: the number took 24 s, HETDEX shots were forbidden after 10 s, the
    shot started all the same. Now it does not, and starts once allowed again."""
    cfg = rehearsal_cfg(("run_shot", "exposure_time", "120"))
    scenario = Scenario(commands=(Command(0.0, "allow"), Command(10.0, "forbid"),
                                  Command(600.0, "allow")), db_latency=60.0, seed=1)
    result = night(cfg, 0.5, scenario)
    assert result.ok, (result.violations, result.failures)
    assert result.report.shots and result.report.shots[0].start >= START.timestamp() + 600


def test_a_number_that_came_after_its_start_was_refused_is_counted_as_skipped(caplog):
    """The slow number of the test above is written but not used: the engine counts it for
    the night (``ocd.main_loop.status`` ``obsnum_skipped``) and says so."""
    cfg = rehearsal_cfg(("run_shot", "exposure_time", "120"))
    scenario = Scenario(commands=(Command(0.0, "allow"), Command(10.0, "forbid"),
                                  Command(600.0, "allow")), db_latency=60.0, seed=1)
    with caplog.at_level(logging.WARNING, logger="ocd.shell.engine"):
        result = night(cfg, 0.5, scenario)
    assert result.ok, (result.violations, result.failures)
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1 and skipped[0].endswith("(written, not used): 1 tonight"), skipped


def test_a_main_loop_that_ignores_the_rules_is_caught(monkeypatch):
    """The checker can fail: with the last check before a start switched off, a slow number
    lets a shot start after HETDEX shots were forbidden, and the night says so."""
    monkeypatch.setattr(Orchestrator, "confirm_start",
                        lambda self, start, observation, now: (True, []))
    cfg = rehearsal_cfg(("run_shot", "exposure_time", "120"))
    scenario = Scenario(commands=(Command(0.0, "allow"), Command(10.0, "forbid")),
                        db_latency=60.0, seed=1)
    result = night(cfg, 0.5, scenario)
    assert not result.ok
    assert any("started while HETDEX shots are forbidden" in v for v in result.violations)
    assert "RULE BROKEN" in render_night(result, "test")


# -- the timeline's reasons and the checker's rules ---------------------------------------------

def test_the_schedulers_reasons_are_sorted_into_idle_reasons():
    shots = load_shots(rehearsal_cfg().get_path("shots", "shot_file"))
    noon = choose(shots.table(remaining=False), dt.datetime(2017, 11, 19, 18, tzinfo=UTC))
    dawn = choose(shots.table(remaining=False), dt.datetime(2017, 11, 19, 11, 50, tzinfo=UTC))
    poor = choose(shots.table(remaining=False), START, Conditions(seeing=4.0),
                  ScheduleSettings(max_seeing=2.0))
    cloudy = choose(shots.table(remaining=False), START, Conditions(transparency=0.1),
                    ScheduleSettings(min_transparency=0.5))
    late = choose(shots.table(remaining=False), dt.datetime(2017, 11, 19, 11, 0, tzinfo=UTC))
    assert [no_shot_kind(r.reason) for r in (noon, dawn, poor, cloudy, late)] == \
        [TWILIGHT, TWILIGHT, CONDITIONS, CONDITIONS, NO_SHOT], \
        [r.reason for r in (noon, dawn, poor, cloudy, late)]


LIMITS = Limits(heartbeat_timeout=30, max_seeing=3.0, min_transparency=0.5, stale_after=300,
                idle_limit=400)
MAIN = "ocd_run_shot@sim:1"
T0 = START.timestamp()


def start_event(shotid="DEX1", origin=MAIN, observation=1):
    return {"exec_status": 0, "shotid": shotid, "observation": observation,
            "__origin": origin}


def checker_with(*events):
    checker = InvariantChecker(LIMITS, MAIN)
    for when, topic, payload in events:
        checker.feed(T0 + when, topic, payload)
    return checker


ALLOWED = (0.0, "ocd.command.allow_hetdex", {"allowed": True})
BEAT = (1.0, "tcs.receiver.heartbeat", {})


def test_a_start_in_good_conditions_breaks_no_rule():
    checker = checker_with(ALLOWED, BEAT, (2.0, "ocd.run_shot.run", start_event()))
    checker.finish(T0 + 3.0)
    assert checker.violations == ["2017-11-19 03:00:03 UTC: shot DEX1 by ocd_run_shot@sim:1 "
                                  "started and never ended"]


@pytest.mark.parametrize("events, words", [
    ((BEAT,), "HETDEX shots are forbidden"),
    ((ALLOWED,), "the TCS is dead (no heartbeat yet)"),
    ((ALLOWED, (-100.0, "tcs.receiver.heartbeat", {})), "last heartbeat 102.0 s ago"),
    ((ALLOWED, BEAT, (1.5, "pas.Guider1.metrology_data", {"seeing": 4.2,
                                                         "transparency": 0.9})),
     "metrology is bad (seeing 4.20)"),
    ((ALLOWED, BEAT, (1.5, "ocd.run_shot.run", start_event("DEX2", "ocd_run_shot@ra:7", 1))),
     "another shot runs (DEX2 by ocd_run_shot@ra:7)"),
])
def test_each_start_rule_can_fail(events, words):
    checker = checker_with(*events, (2.0, "ocd.run_shot.run", start_event(observation=2)))
    assert any(words in v for v in checker.violations), checker.violations


def test_observation_numbers_must_increase_per_date():
    checker = checker_with(
        ALLOWED, BEAT, (2.0, "ocd.run_shot.run", start_event(observation=4)),
        (3.0, "ocd.run_shot.run", {"exec_status": 1, "shotid": "DEX1", "__origin": MAIN}),
        (4.0, "tcs.receiver.heartbeat", {}),
        (5.0, "ocd.run_shot.run", start_event(observation=4)))
    assert any("not above the previous one (4)" in v for v in checker.violations)


def test_a_main_loop_silent_with_its_conditions_met_breaks_the_rule():
    checker = checker_with(ALLOWED, BEAT, (1.0, "ocd.states.change",
                                           {"machine_name": "meta", "new_state": "satisfied"}),
                           (300.0, "tcs.receiver.heartbeat", {}),
                           (402.0, "tcs.receiver.heartbeat", {}))
    assert any("did nothing for 401 s" in v for v in checker.violations), checker.violations
    fine = checker_with(ALLOWED, BEAT, (1.0, "ocd.states.change",
                                        {"machine_name": "meta", "new_state": "satisfied"}),
                        (300.0, "ocd.main_loop.no_shot", {"reason": "not dark"}),
                        (402.0, "tcs.receiver.heartbeat", {}))
    assert fine.violations == []


def test_n_obs_goes_down_once_per_completed_shot_and_never_below_zero():
    assert bookkeeping_violations({"A": 2, "B": 1}, {"A": 1, "B": 0}, {"A": 1, "B": 2}) == []
    assert bookkeeping_violations({"A": 2}, {"A": 0}, {"A": 1}) == [
        "shot A: n_obs 2 before, 1 completed, 0 after (expected 1)"]
    assert bookkeeping_violations({"A": 2}, {"A": 2}, {"A": 1}) == [
        "shot A: n_obs 2 before, 1 completed, 2 after (expected 1)"]
    assert bookkeeping_violations({"A": 0}, {"A": -1}, {}) == ["shot A has n_obs -1, below 0"]
    assert bookkeeping_violations({}, {}, {"Z": 1}) == [
        "shot Z completed but is not in the shot list"]


def test_the_report_is_json_and_a_table(tmp_path: Path):
    cfg = rehearsal_cfg(("run_shot", "exposure_time", "60"))
    result = night(cfg, 0.5)
    document = results_document([result], "how", 0.5)
    json.dumps(document)  # strict JSON: nothing Python-only inside
    first = document["nights"][0]
    assert first["rules_held"] is True and first["totals"]["shots_completed"] >= 2
    assert first["shots"][0]["reason"].startswith("chosen: ")
    assert set(first["totals"]) >= {"exposure_hours", "dark_hours", "idle_hours"}
    text = render_night(result, "how")
    assert "DEX00009" in text and "UTC" in text.splitlines()[0]


@pytest.mark.parametrize("kind", ["steady", "drifting", "cloudy", "random"])
def test_the_simulated_tcs_publishes_only_valid_events(kind):
    """A simulated night does not validate its TCS's events again (they come at every
    second): this is where they are, every kind of them, all night, in every weather."""
    from ocd.bus.validation import main_loop_rules
    from ocd.core.topics import TcsTopics
    from ocd.tcs.sim.events import SimulatorSettings, TcsSimulator
    from ocd.tcs.sim.subsystems import Pointing, SimulatedSubsystems

    loop = VirtualTimeLoop()
    rules = main_loop_rules(TcsTopics())
    seen: set[str] = set()

    async def main() -> None:
        clock = VirtualClock(START, loop)
        subsystems = SimulatedSubsystems(clock)
        simulator = TcsSimulator(clock, None, subsystems, Weather(kind, seed=4),
                                 SimulatorSettings())
        for second in range(0, 12 * 3600, 7):
            subsystems.pointing = Pointing(ra=(second / 3600) % 24, dec=-10 + second % 70,
                                           track="EW"[second % 2], tracking=bool(second % 3),
                                           dx=1.27, dy=-0.73)
            for topic, payload in simulator.events():
                rules.check(topic, payload)  # raises for an invalid event
                seen.add(topic)
            await asyncio.sleep(7)

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    assert seen == set(TcsTopics().all())


def test_a_night_with_the_external_scheduler(tmp_path: Path):
    """With ``[schedule] scheduler = autoschedule`` the simulation runs the configured program
    as ``ocd run`` does, on the snapshot of the simulated list and at the virtual time."""
    from autoschedule_helpers import calls, fake_program

    from ocd.clock import utc_to_jd

    program = fake_program(tmp_path, """
left = [line.split() for line in shot_text.splitlines() if line.startswith("DEX00009")]
print("DEX00009 W" if left and int(left[0][5]) > 0 else "NONE nothing left of DEX00009")
""")
    cfg = rehearsal_cfg(("run_shot", "exposure_time", "60"),
                        ("schedule", "scheduler", "autoschedule"),
                        ("autoschedule", "executable", str(program)),
                        ("schedule", "fallback_builtin", "false"))
    result = night(cfg, 0.5)
    assert result.ok, (result.violations, result.failures)
    shots = [(s.shotid, s.track, s.reason) for s in result.report.shots]
    assert shots == [("DEX00009", "W", "chosen by autoschedule_main")] * 2  # n_obs was 2
    assert result.report.idle[-1].detail == \
        "autoschedule_main: nothing to observe: nothing left of DEX00009"
    first = calls(tmp_path)[0]["args"]
    assert float(first[2]) == pytest.approx(utc_to_jd(START), abs=1e-5)


def test_a_simulation_in_a_thread_keeps_its_logs_and_leaves_the_others_alone(caplog):
    """The board plans the night in a thread: what the simulated processes log goes to the
    plan's report, never to the board's log; what the board logs meanwhile still does."""
    import threading

    from ocd.app.simulation.night import collected_logs

    log = logging.getLogger("ocd.test")
    inside, done = threading.Event(), threading.Event()
    kept: list[str] = []

    def simulate() -> None:
        with collected_logs() as logs:
            inside.set()
            log.warning("a simulated shot failed")
            assert done.wait(10)
            kept.extend(logs.take())

    with caplog.at_level(logging.WARNING, logger="ocd"):
        worker = threading.Thread(target=simulate)
        worker.start()
        assert inside.wait(10)
        log.warning("a real sign-in failed")
        done.set()
        worker.join(10)
    messages = [r.getMessage() for r in caplog.records]
    assert "a real sign-in failed" in messages
    assert "a simulated shot failed" not in messages
    assert kept == ["warning: a simulated shot failed"]
