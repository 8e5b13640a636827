"""The main loop's pure core, driven with plain events and times: no sockets, no clock."""

from ocd.core.orchestrator import (
    Abort,
    ChangeConfig,
    Orchestrator,
    Publish,
    RequestSchedule,
    Settings,
    StartShot,
)
from ocd.core.states import MetrologyLimits

HB = "tcs.receiver.heartbeat"
G1, G2 = "pas.Guider1.metrology_data", "pas.Guider2.metrology_data"
SETTINGS = Settings(heartbeat_timeout=5, error_pause=100, shot_silent_after=50,
                    reschedule_after=30, start_timeout=20,
                    metrology=MetrologyLimits(max_seeing=2.0, min_transparency=0.6,
                                              stale_after=60))


def published(actions, topic):
    return [a.data for a in actions if isinstance(a, Publish) and a.topic == topic]


def kinds(actions, kind):
    return [a for a in actions if isinstance(a, kind)]


def run_event(status, shotid="DEX1", origin="ocd_run_shot@h:1", **extra):
    return {"exec_status": status, "shotid": shotid, "__origin": origin, **extra}


def allow(orc, now, allowed=True, rid="r1"):
    return orc.handle("ocd.command.allow_hetdex", {"id": rid, "allowed": allowed,
                                                   "__origin": "ocd_allow_hetdex@h:9"}, now)


def ready(now=0.0):
    """An orchestrator with TCS alive and HETDEX allowed: it asks for a schedule."""
    orc = Orchestrator(SETTINGS)
    orc.handle(HB, {}, now)
    actions = allow(orc, now)
    return orc, actions


def test_starts_waiting_for_everything():
    orc = Orchestrator(SETTINGS)
    actions = orc.tick(0)
    assert kinds(actions, RequestSchedule) == []
    reasons = published(actions, "ocd.main_loop.waiting")[0]["reasons"]
    assert any(r.startswith("hetdex_allowed is not_allowed") for r in reasons)
    assert any(r.startswith("tcs is dead") for r in reasons)


def test_heartbeat_publishes_every_machine_state_and_status():
    orc = Orchestrator(SETTINGS)
    actions = orc.handle(HB, {}, 1.0)
    states = published(actions, "ocd.states.state")
    assert {s["machine_name"]: s["state"] for s in states} == {
        "run_shot": "idle", "hetdex_allowed": "not_allowed", "tcs": "alive",
        "metrology": "stale", "meta": "unsatisfied", "pending": "idle"}
    change = published(actions, "ocd.states.change")[0]
    assert (change["machine_name"], change["old_state"], change["new_state"]) == \
        ("tcs", "dead", "alive")
    assert published(actions, "ocd.main_loop.status")[0]["states"]["tcs"] == "alive"


def test_allow_is_acknowledged_and_triggers_scheduling():
    orc, actions = ready()
    assert published(actions, "ocd.main_loop.ack") == [
        {"id": "r1", "command": "allow_hetdex", "ok": True, "message": "HETDEX shots allowed",
         "by": "ocd_allow_hetdex@h:9"}]  # whose command it answers
    assert published(actions, "ocd.states.hetdex_allowed")[0]["allowed"] is True
    assert kinds(actions, RequestSchedule) == [RequestSchedule(None, None, 1)]
    assert allow(orc, 1.0) == []  # the same request id twice: ignored, not acknowledged twice


def test_full_shot_cycle_follows_events():
    orc, _ = ready()
    actions = orc.scheduled("DEX1", "E", "best priority", "builtin", 1.0)
    assert kinds(actions, StartShot) == [StartShot("DEX1", "E")]
    assert published(actions, "ocd.main_loop.decision")[0]["started"] is True
    assert kinds(orc.tick(2.0), RequestSchedule) == []  # starting: no second schedule
    actions = orc.handle("ocd.run_shot.run", run_event(0), 3.0)
    assert orc.run_shot.state == "running" and orc.pending is None
    orc.handle(HB, {}, 4.0)
    assert kinds(orc.handle("ocd.run_shot.exp_hetdex", {"__origin": "ocd_run_shot@h:1"}, 40.0),
                 RequestSchedule) == []
    orc.handle(HB, {}, 41.0)
    actions = orc.handle("ocd.run_shot.run", run_event(1, error=False), 42.0)
    assert orc.run_shot.state == "idle"
    assert kinds(actions, RequestSchedule)  # idle again: next shot


def test_no_shot_waits_then_retries():
    orc, _ = ready()
    actions = orc.scheduled(None, None, "3 shots observable, none with 20 min of track left",
                            "builtin", 1.0)
    no_shot = published(actions, "ocd.main_loop.no_shot")[0]
    assert no_shot["reason"].startswith("3 shots observable")
    waiting = published(actions, "ocd.main_loop.waiting")[0]["reasons"][0]
    assert "none with 20 min" in waiting
    assert waiting.endswith("; next try at 00:00:31 UTC")  # for people: no date, no microseconds
    orc.handle(HB, {}, 20.0)
    assert kinds(orc.tick(30.0), RequestSchedule) == []
    orc.handle(HB, {}, 30.5)
    assert kinds(orc.tick(31.5), RequestSchedule)


def test_heartbeat_timeout_kills_tcs_and_blocks_shots():
    orc = Orchestrator(SETTINGS)
    orc.handle(HB, {}, 0.0)
    orc.tick(5.0)
    assert orc.tcs.state == "alive"
    actions = orc.tick(5.5)
    change = published(actions, "ocd.states.change")[0]
    assert change["machine_name"] == "tcs" and change["new_state"] == "dead"
    assert "no TCS heartbeat for 5.5 s" in change["msg"]
    assert kinds(allow(orc, 6.0), RequestSchedule) == []


def test_bad_metrology_blocks_and_recovery_allows():
    orc = Orchestrator(SETTINGS)
    orc.handle(HB, {}, 0.0)
    orc.handle(G1, {"seeing": 2.5, "transparency": 0.9}, 0.0)
    assert orc.metrology.state == "bad"
    assert kinds(allow(orc, 0.5), RequestSchedule) == []
    orc.handle(G2, {"seeing": 1.0, "transparency": 0.9}, 1.0)  # median 1.75" is fine
    assert orc.metrology.state == "good"
    assert orc.pending == "scheduling"


def test_metrology_goes_stale_and_stale_is_acceptable():
    orc = Orchestrator(SETTINGS)
    orc.handle(G1, {"seeing": 3.5, "transparency": 0.2}, 0.0)
    assert orc.metrology.state == "bad"
    orc.handle(HB, {}, 61.0)
    assert orc.metrology.state == "stale"
    assert kinds(allow(orc, 61.5), RequestSchedule)


def test_failed_shot_pauses_then_resumes():
    orc, _ = ready()
    orc.scheduled("DEX1", "W", "", "builtin", 1.0)
    orc.handle("ocd.run_shot.run", run_event(0), 2.0)
    actions = orc.handle("ocd.run_shot.run", run_event(1, error=True, exc_type="TcsError",
                                                        exc_value="slew failed",
                                                        traceback="tb"), 10.0)
    change = published(actions, "ocd.states.change")[0]
    assert change["new_state"] == "error" and "slew failed" in change["msg"]
    assert change["traceback"] == "tb"
    orc.handle(HB, {}, 60.0)
    assert kinds(orc.tick(60.0), RequestSchedule) == []
    orc.handle(HB, {}, 109.0)
    actions = orc.tick(110.0)
    assert orc.run_shot.state == "idle"
    assert kinds(actions, RequestSchedule)


def test_an_aborted_shot_goes_idle_without_an_error_pause():
    orc, _ = ready()
    orc.scheduled("DEX1", "W", "", "builtin", 1.0)
    orc.handle("ocd.run_shot.run", run_event(0), 2.0)
    reason = "aborted by board:alice via ocd_board@h:7 at 03:31:02 UTC"
    actions = orc.handle("ocd.run_shot.run", run_event(1, error=True, exc_type="ShotAborted",
                                                        exc_value=reason, traceback="tb"), 10.0)
    change = published(actions, "ocd.states.change")[0]
    assert (change["new_state"], change["transition"]) == ("idle", "shot_aborted")
    assert change["msg"] == f"shot DEX1 {reason}"
    assert orc.run_shot.state == "idle" and orc.run_shot.error_since is None
    assert kinds(actions, RequestSchedule)  # the night goes on at once


def test_silent_shot_publisher_is_declared_failed():
    orc, _ = ready()
    orc.handle("ocd.run_shot.run", run_event(0, origin="ocd_run_shot@other:2"), 1.0)
    orc.handle(HB, {}, 40.0)
    assert orc.run_shot.state == "running"
    orc.handle(HB, {}, 51.0)
    actions = orc.tick(52.0)
    changes = published(actions, "ocd.states.change")
    assert [(c["machine_name"], c["transition"]) for c in changes] == [("run_shot", "shot_silent")]


def test_shot_by_hand_blocks_automatic_shots():
    orc = Orchestrator(SETTINGS)
    orc.handle(HB, {}, 0.0)
    orc.handle("ocd.run_shot.run", run_event(0, origin="ocd_run_shot@ra:7"), 1.0)
    assert kinds(allow(orc, 2.0), RequestSchedule) == []
    assert orc.status(2.0)["running_shot"] == "DEX1"
    # another publisher's "finish" does not end the shot we follow
    orc.handle("ocd.run_shot.run", run_event(1, origin="ocd_run_shot@x:1"), 3.0)
    assert orc.run_shot.state == "running"
    actions = orc.handle("ocd.run_shot.run", run_event(1, origin="ocd_run_shot@ra:7"), 4.0)
    assert kinds(actions, RequestSchedule)


def test_a_shot_by_hand_ending_does_not_end_the_main_loops_own_shot():
    """Found by the randomized nights of ocd simulate: an RA's shot by hand started while the
    main loop's own shot ran, and its end made the machine idle: the main loop started another
    shot while its own still ran. Shots are followed per publisher now."""
    orc, _ = ready()
    orc.scheduled("DEX1", "E", "", "builtin", 1.0)
    orc.handle("ocd.run_shot.run", run_event(0, origin="ocd_run_shot@h:1"), 2.0)
    orc.handle("ocd.run_shot.run", run_event(0, "DEX2", origin="ocd_run_shot@ra:7"), 3.0)
    actions = orc.handle("ocd.run_shot.run", run_event(1, "DEX2", origin="ocd_run_shot@ra:7"),
                         10.0)
    assert orc.run_shot.state == "running" and kinds(actions, RequestSchedule) == []
    assert orc.status(10.0)["running_shot"] == "DEX1"
    actions = orc.handle("ocd.run_shot.run", run_event(1, origin="ocd_run_shot@h:1"), 20.0)
    assert orc.run_shot.state == "idle" and kinds(actions, RequestSchedule)


def test_a_shot_that_failed_while_another_ran_pauses_after_the_last_one():
    orc, _ = ready()
    orc.handle("ocd.run_shot.run", run_event(0, origin="ocd_run_shot@h:1"), 2.0)
    orc.handle("ocd.run_shot.run", run_event(0, "DEX2", origin="ocd_run_shot@ra:7"), 3.0)
    orc.handle("ocd.run_shot.run", run_event(1, "DEX2", origin="ocd_run_shot@ra:7",
                                             error=True, exc_value="virus down"), 10.0)
    assert orc.run_shot.state == "running"
    actions = orc.handle("ocd.run_shot.run", run_event(1, origin="ocd_run_shot@h:1"), 20.0)
    change = published(actions, "ocd.states.change")[0]
    assert (change["new_state"], change["msg"]) == ("error", "shot DEX2 failed: virus down")
    orc.tick(109.0)  # error_pause (100 s) is counted from the failure at 10 s
    assert orc.run_shot.state == "error"
    orc.tick(110.5)
    assert orc.run_shot.state == "idle"


def test_a_silent_shot_by_hand_leaves_the_main_loops_shot_running():
    orc, _ = ready()
    orc.handle("ocd.run_shot.run", run_event(0, origin="ocd_run_shot@h:1"), 2.0)
    orc.handle("ocd.run_shot.run", run_event(0, "DEX2", origin="ocd_run_shot@ra:7"), 3.0)
    orc.handle("ocd.run_shot.progress", {"__origin": "ocd_run_shot@h:1"}, 40.0)
    orc.tick(60.0)  # the shot by hand said nothing for 57 s (> 50): given up
    assert orc.run_shot.state == "running" and orc.status(60.0)["running_shot"] == "DEX1"


def test_a_start_is_confirmed_after_the_observation_number_comes():
    """Found by the randomized nights of ocd simulate: the observation number took 38 s (a
    slow database), HETDEX shots were forbidden meanwhile, and the shot started all the
    same. The conditions are checked again once the number is there."""
    orc, _ = ready()
    (start,) = kinds(orc.scheduled("DEX1", "E", "why", "builtin", 1.0), StartShot)
    orc.handle(HB, {}, 4.0)
    allow(orc, 5.0, allowed=False, rid="r2")  # forbidden while the number is on its way
    go, actions = orc.confirm_start(start, 7, 6.0)
    assert go is False
    decision = published(actions, "ocd.main_loop.decision")[0]
    assert decision["started"] is False and decision["track"] == "E"
    assert decision["reason"].startswith("conditions changed before the start: "
                                         "hetdex_allowed is not_allowed")
    assert decision["reason"].count("(needs") == 1  # the TCS is still alive
    assert "(observation 7 not used)" in decision["reason"] and orc.pending is None
    assert kinds(allow(orc, 8.0, rid="r3"), RequestSchedule)  # allowed again: decides again


def test_a_start_checks_the_tcs_heartbeat_at_the_last_moment():
    orc, _ = ready()
    (start,) = kinds(orc.scheduled("DEX1", "E", "why", "builtin", 1.0), StartShot)
    # no heartbeat since 0 s, timeout 5 s: no tick has said so yet, the start does
    go, actions = orc.confirm_start(start, 1, 5.5)
    assert go is False and orc.tcs.state == "dead"
    assert [c["machine_name"] for c in published(actions, "ocd.states.change")][0] == "tcs"


def test_a_start_given_up_does_not_start_when_its_number_comes_late():
    orc, _ = ready()
    (start,) = kinds(orc.scheduled("DEX1", "E", "why", "builtin", 1.0), StartShot)
    orc.handle(HB, {}, 4.0)
    orc.handle(HB, {}, 8.0)
    orc.handle(HB, {}, 12.0)
    orc.handle(HB, {}, 16.0)
    orc.handle(HB, {}, 20.0)
    assert published(orc.tick(22.0), "ocd.main_loop.error")  # start_timeout 20 s
    go, actions = orc.confirm_start(start, 3, 23.0)
    assert go is False
    assert "given up" in published(actions, "ocd.main_loop.decision")[0]["reason"]


def test_a_start_still_allowed_goes_ahead():
    orc, _ = ready()
    (start,) = kinds(orc.scheduled("DEX1", "E", "why", "builtin", 1.0), StartShot)
    go, actions = orc.confirm_start(start, 1, 2.0)
    assert go is True and published(actions, "ocd.main_loop.decision") == []
    assert orc.pending == "starting"


def test_shot_that_never_starts_times_out():
    orc, _ = ready()
    orc.scheduled("DEX1", "E", "", "builtin", 1.0)
    orc.handle(HB, {}, 15.0)
    actions = orc.tick(22.0)
    error = published(actions, "ocd.main_loop.error")[0]
    assert error["stage"] == "start" and "did not start within 20 s" in error["error"]
    assert orc.pending is None and orc.next_schedule_at == 122.0


def test_start_failure_is_published_and_paused():
    orc, _ = ready()
    orc.scheduled("DEX1", "E", "", "builtin", 1.0)
    actions = orc.start_failed("obsnum", "MySQL unreachable", 2.0)
    assert published(actions, "ocd.main_loop.error") == [
        {"stage": "obsnum", "shotid": "DEX1", "error": "MySQL unreachable"}]
    assert orc.next_schedule_at == 102.0


def test_conditions_change_while_scheduling_cancels_start():
    orc, _ = ready()
    allow(orc, 1.0, allowed=False, rid="r2")
    actions = orc.scheduled("DEX1", "E", "", "builtin", 2.0)
    assert kinds(actions, StartShot) == []
    assert published(actions, "ocd.main_loop.decision")[0]["started"] is False


def test_abort_and_config_commands_become_actions():
    orc = Orchestrator(SETTINGS)
    assert orc.handle("ocd.command.abort", {"id": "a1", "__origin": "x"}, 0)[0] == \
        Abort("a1", "x")
    actions = orc.handle("ocd.command.config_send",
                         {"id": "c1", "changes": [["tcs", "heartbeat_timeout", "9"]]}, 0)
    assert kinds(actions, ChangeConfig) == [
        ChangeConfig("c1", (("tcs", "heartbeat_timeout", "9"),), "unknown")]
    bad = orc.handle("ocd.command.config_send", {"id": "c2", "changes": "x=1"}, 0)
    assert published(bad, "ocd.main_loop.ack")[0]["ok"] is False
    bad = orc.handle("ocd.command.allow_hetdex", {"id": "c3", "allowed": "yes"}, 0)
    assert published(bad, "ocd.main_loop.ack")[0]["ok"] is False


def test_settings_from_config():
    from ocd.config import load_config
    from ocd.shell.settings import orchestrator_settings

    cfg = load_config(overrides=[("run", "max_seeing", "2.2"), ("tcs", "heartbeat_timeout", "7")],
                      environ={})
    settings = orchestrator_settings(cfg)
    assert settings.metrology.max_seeing == 2.2 and settings.heartbeat_timeout == 7.0
    assert settings.topics.metrology == ("pas.Guider1.metrology_data",
                                         "pas.Guider2.metrology_data")


def test_configure_changes_thresholds_and_keeps_states():
    orc = Orchestrator(SETTINGS)
    orc.handle(HB, {}, 0.0)
    orc.handle(G1, {"seeing": 1.8, "transparency": 0.9}, 0.0)
    assert orc.metrology.state == "good"
    orc.configure(Settings(heartbeat_timeout=100, metrology=MetrologyLimits(max_seeing=1.5)))
    orc.handle(G1, {"seeing": 1.8, "transparency": 0.9}, 1.0)
    assert orc.metrology.state == "bad"
    orc.tick(50.0)
    assert orc.tcs.state == "alive"  # the new 100 s heartbeat timeout applies


def test_a_command_naming_its_user_is_attributed_to_them():
    """``by`` (e.g. from ``ocd board``) reaches the acknowledgement and the new state."""
    orc = Orchestrator(SETTINGS)
    actions = orc.handle("ocd.command.allow_hetdex", {
        "id": "b1", "allowed": True, "by": "board:alice", "__origin": "ocd_allow_hetdex@h:9"}, 0)
    assert published(actions, "ocd.main_loop.ack")[0]["message"] == \
        "HETDEX shots allowed by board:alice"
    assert published(actions, "ocd.states.hetdex_allowed")[0]["by"] == \
        "board:alice via ocd_allow_hetdex@h:9"
    abort = kinds(orc.handle("ocd.command.abort", {"id": "b2", "by": "board:alice",
                                                   "__origin": "x@h:1"}, 1), Abort)
    assert abort == [Abort("b2", "board:alice via x@h:1", " by board:alice")]
    # a name that is not a short printable text is not taken
    for bad in ("", "x" * 65, "evil\nnewline", 42):
        actions = orc.handle("ocd.command.allow_hetdex", {
            "id": f"bad{bad!r}", "allowed": False, "by": bad, "__origin": "o@h:1"}, 2)
        assert published(actions, "ocd.main_loop.ack")[0]["message"] == "HETDEX shots forbidden"


def test_a_scheduler_that_never_answers_times_out_and_a_late_answer_is_ignored():
    orc, actions = ready()
    request = kinds(actions, RequestSchedule)[0].request
    orc.handle(HB, {}, 100.0)
    actions = orc.tick(121.0)  # schedule_timeout 120 s
    error = published(actions, "ocd.main_loop.error")[0]
    assert error["stage"] == "schedule" and "did not answer within 120 s" in error["error"]
    assert orc.pending is None and orc.next_schedule_at == 221.0
    assert orc.scheduled("DEX1", "E", "late", "builtin", 122.0, request) == []
    again = kinds(orc.handle(HB, {}, 221.0), RequestSchedule)
    assert again and again[0].request == request + 1
    assert orc.scheduled("DEX1", "E", "stale", "builtin", 222.0, request) == []  # old request
    assert kinds(orc.scheduled("DEX1", "E", "", "builtin", 222.0, again[0].request), StartShot)


def test_a_background_step_that_raised_is_reported_and_paused():
    orc, actions = ready()
    request = kinds(actions, RequestSchedule)[0].request
    actions = orc.step_failed("scheduling", "ZeroDivisionError: boom", 2.0, request)
    assert published(actions, "ocd.main_loop.error") == [
        {"stage": "schedule", "shotid": None, "error": "ZeroDivisionError: boom"}]
    assert orc.pending is None and orc.next_schedule_at == 102.0
    assert orc.step_failed("scheduling", "again", 3.0, request) == []  # not pending: nothing
    request = kinds(orc.handle(HB, {}, 102.0), RequestSchedule)[0].request
    orc.scheduled("DEX1", "E", "", "builtin", 103.0, request)
    actions = orc.step_failed("starting", "KeyError: 'ra'", 104.0)
    assert published(actions, "ocd.main_loop.error")[0]["stage"] == "start"
    assert published(actions, "ocd.main_loop.error")[0]["shotid"] == "DEX1"
    assert orc.pending is None


def test_event_failures_are_published_with_their_topic():
    orc = Orchestrator(SETTINGS)
    assert published(orc.event_failed(G1, "TypeError: x", 1.0), "ocd.main_loop.error") == [
        {"stage": "event", "shotid": None, "error": "TypeError: x", "topic": G1}]


def test_states_are_published_on_a_timer_without_heartbeats():
    orc = Orchestrator(SETTINGS)  # status_interval 10 s by default
    first = orc.tick(0.0)
    assert published(first, "ocd.main_loop.status") and published(first, "ocd.states.state")
    assert published(orc.tick(5.0), "ocd.main_loop.status") == []
    assert published(orc.tick(10.0), "ocd.main_loop.status")
    orc.handle(HB, {}, 15.0)  # a heartbeat publishes them too and restarts the interval
    assert published(orc.tick(24.0), "ocd.main_loop.status") == []
    assert published(orc.tick(25.0), "ocd.main_loop.status")


def test_the_pointing_vault_keeps_only_the_schema_fields():
    orc = Orchestrator(SETTINGS)
    orc.handle("tcs.root.ra_dec", {"ra": 1.5, "dec": 20.0, "tracking": True, "junk": [1] * 100,
                                   "__seq": 3}, 0.0)
    assert orc.status(0.0)["pointing"] == {"ra": 1.5, "dec": 20.0, "tracking": True}


def test_a_restarted_main_loop_ends_the_shot_of_its_killed_predecessor():
    orc = Orchestrator(SETTINGS)
    orc.handle("ocd.run_shot.run", run_event(0, origin="ocd_run_shot@h:1"), 1.0)
    assert orc.run_shot.state == "running"
    orc.handle("ocd.run_shot.run", run_event(1, origin="ocd_run_shot@h:2", error=True,
                                             exc_type="Interrupted"), 2.0)
    assert orc.run_shot.state == "running"  # another publisher, naming nobody
    actions = orc.handle("ocd.run_shot.run", run_event(
        1, origin="ocd_run_shot@h:2", error=True, exc_type="Interrupted",
        exc_value="ocd run was killed", shot_origin="ocd_run_shot@h:1"), 3.0)
    assert orc.run_shot.state == "error"
    assert "ocd run was killed" in published(actions, "ocd.states.change")[0]["msg"]


def test_an_answer_from_the_shot_publisher_is_a_sign_of_its_life():
    """``ocd.run_shot.ack`` (its answer to an abort) counts as life, as any of its events."""
    orc, _ = ready()
    orc.handle("ocd.run_shot.run", run_event(0, origin="ocd_run_shot@other:2"), 1.0)
    orc.handle("ocd.run_shot.ack", {"id": "a1", "command": "abort", "ok": True,
                                    "message": "aborting", "__origin": "ocd_run_shot@other:2"},
               40.0)
    orc.handle(HB, {}, 51.0)
    orc.tick(52.0)
    assert orc.run_shot.state == "running"  # last heard from at 40: 12 s ago
    orc.handle("ocd.run_shot.ack", {"id": "a2", "command": "abort", "ok": True,
                                    "message": "aborting", "__origin": "ocd_run_shot@else:3"},
               80.0)  # another publisher's answer says nothing of this shot
    orc.handle(HB, {}, 91.0)
    orc.tick(92.0)
    assert orc.run_shot.state == "error"


def test_a_competitor_forbids_automatic_shots_said_once_and_again_if_allowed_meanwhile():
    orc, _ = ready()
    actions = orc.competitor("another ocd run drives the telescope at tcp://gw:1: X", 1.0)
    assert published(actions, "ocd.states.hetdex_allowed") == [
        {"allowed": False, "by": "the one-main-loop guard"}]
    [error] = published(actions, "ocd.main_loop.error")
    assert error["stage"] == "guard" and error["error"].endswith(
        "X; automatic shots forbidden (one main loop per telescope)")
    assert kinds(actions, RequestSchedule) == []
    assert orc.competitor("the same", 2.0, new=False) == []  # said once while it lasts
    allow(orc, 3.0, rid="r2")
    again = orc.competitor("the same", 4.0, new=False)  # the RA allowed them: forbidden again
    assert published(again, "ocd.states.hetdex_allowed")[0]["allowed"] is False
    assert len(published(again, "ocd.main_loop.error")) == 1
