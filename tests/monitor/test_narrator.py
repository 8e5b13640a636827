"""The narration of a night (``ocd run``'s window) and the situation line (``ocd listen``'s
footer): events in, lines out."""

from ocd.monitor.narrator import ERROR, INFO, WARNING, Narrator, Situation

MAIN = "ocd_run_shot@ocd:10"      # the shots of ocd run itself
HAND = "ocd_run_shot@ocd:20"      # ocd run_shot -e
CLI = "ocd_allow_hetdex@ocd:30"


def event(utc: str, **fields):
    return {"__ocd_utc": f"2017-11-19T{utc}+00:00", **fields}


def texts(lines):
    return [(line.level, line.text) for line in lines]


def shot(status, origin=MAIN, **more):
    return event("03:10:00", __origin=origin, exec_status=status, shotid="DEX00009",
                 obs_track="W", observation=12, **more)


def test_a_shot_is_told_from_decision_to_end():
    n = Narrator(main_origin=MAIN)
    told = []
    told += n.feed("ocd.main_loop.decision", event(
        "03:09:59", shotid="DEX00009", track="W", scheduler="builtin", started=True,
        reason="chosen: priority 1, 49 min of track left"))
    told += n.feed("ocd.run_shot.run", shot(0))
    told += n.feed("ocd.run_shot.setup_telescope", shot(0))
    told += n.feed("ocd.run_shot.setup_telescope", shot(1))
    for number in (1, 2, 3):
        told += n.feed("ocd.run_shot.exp_hetdex", shot(0, exposure=number, exposures=3,
                                                        seconds=360.0))
        told += n.feed("ocd.run_shot.exp_hetdex", shot(1, exposure=number, exposures=3,
                                                        seconds=360.0))
    told += n.feed("ocd.run_shot.run", shot(1, error=False))
    assert texts(told) == [
        (INFO, "03:09:59  chose DEX00009 W (builtin): chosen: priority 1, 49 min of track left"),
        (INFO, "03:10:00  shot DEX00009 W started: observation 12"),
        (INFO, "03:10:00  telescope set up for DEX00009"),
        (INFO, "03:10:00  exposure 1/3 of DEX00009: 360.0 s, observation 12"),
        (INFO, "03:10:00  exposure 2/3 of DEX00009: 360.0 s, observation 12"),
        (INFO, "03:10:00  exposure 3/3 of DEX00009: 360.0 s, observation 12"),
        (INFO, "03:10:00  shot DEX00009 W completed: observation 12"),
    ]


def test_a_shot_by_hand_is_called_so_and_a_failure_is_a_warning():
    n = Narrator(main_origin=MAIN)
    assert texts(n.feed("ocd.run_shot.run", shot(0, origin=HAND))) == [
        (INFO, f"03:10:00  shot DEX00009 W started: observation 12, by hand ({HAND})")]
    assert texts(n.feed("ocd.run_shot.run", shot(1, origin=HAND, error=True,
                                                 exc_type="TcsError", exc_value="slew failed"))) \
        == [(WARNING, "03:10:00  shot DEX00009 W failed: TcsError: slew failed")]


def test_an_abort_says_who_and_when_and_is_no_failure():
    n = Narrator(main_origin=MAIN)
    n.feed("ocd.run_shot.run", shot(0, origin=HAND))
    reason = "aborted by board:alice via ocd_board@h:7 at 03:09:58 UTC"
    assert texts(n.feed("ocd.run_shot.run", shot(1, origin=HAND, error=True,
                                                 exc_type="ShotAborted", exc_value=reason))) \
        == [(INFO, f"03:10:00  shot DEX00009 W {reason}: observation 12")]


def test_why_it_waits_is_told_on_change_only():
    n = Narrator()
    waiting = event("03:00:00", reasons=["tcs is dead (needs alive)"])
    assert texts(n.feed("ocd.main_loop.waiting", waiting)) == [
        (INFO, "03:00:00  waiting: tcs is dead (needs alive)")]
    assert n.feed("ocd.main_loop.waiting", waiting) == []
    no_shot = event("03:01:00", reason="3 shots observable, none with 20 min of track left",
                    scheduler="builtin")
    assert len(n.feed("ocd.main_loop.no_shot", no_shot)) == 1
    assert n.feed("ocd.main_loop.no_shot", no_shot) == []  # the retry found the same
    assert len(n.feed("ocd.main_loop.waiting", waiting)) == 1  # a change again


def test_a_command_is_told_with_its_sender_and_answer():
    n = Narrator()
    assert n.feed("ocd.command.allow_hetdex", event("03:00:00", id="a1", allowed=True,
                                                   __origin=CLI)) == []
    assert texts(n.feed("ocd.main_loop.ack", event("03:00:00", id="a1", command="allow_hetdex",
                                                   ok=True, message="HETDEX shots allowed"))) \
        == [(INFO, f"03:00:00  allow_hetdex start from {CLI}: HETDEX shots allowed")]
    n.feed("ocd.command.config_send", event("03:00:01", id="c1", __origin=CLI,
                                           changes=[["run", "n_ocd_main_loop", "1"]]))
    assert texts(n.feed("ocd.main_loop.ack", event(
        "03:00:01", id="c1", command="config_send", ok=False, message="read at start-up"))) \
        == [(WARNING, f"03:00:01  config send [run] n_ocd_main_loop=1 from {CLI}: refused: "
                      "read at start-up")]


def test_a_command_names_the_user_behind_it():
    n = Narrator()
    n.feed("ocd.command.abort", event("03:00:00", id="b1", by="board:alice", __origin=CLI))
    assert texts(n.feed("ocd.main_loop.ack", event("03:00:00", id="b1", command="abort",
                                                   ok=True, message="aborting shot D1"))) == [
        (INFO, f"03:00:00  abort from board:alice via {CLI}: aborting shot D1")]


def test_an_answer_that_overtakes_its_command_still_names_the_sender():
    n = Narrator()
    answer = event("03:00:00", id="x1", command="abort", ok=True, message="aborting shot D1",
                   by=CLI)
    assert texts(n.feed("ocd.run_shot.ack", answer)) == [
        (INFO, f"03:00:00  abort from {CLI}: aborting shot D1")]


def test_errors_and_state_changes():
    n = Narrator()
    assert texts(n.feed("ocd.main_loop.error", event(
        "03:00:00", stage="obsnum", shotid="DEX00009",
        error="cannot reach the MySQL server at 127.0.0.1:3306"))) == [
        (ERROR, "03:00:00  could not start shot DEX00009 (obsnum): cannot reach the MySQL "
                "server at 127.0.0.1:3306")]
    assert n.feed("ocd.main_loop.no_shot", event("03:00:01", reason="scheduler failed: boom",
                                                scheduler="error"))[0].level == ERROR
    assert texts(n.feed("ocd.states.change", event(
        "03:00:02", machine_name="tcs", old_state="alive", new_state="dead",
        msg="no TCS heartbeat for 5.1 s"))) == [
        (WARNING, "03:00:02  tcs: alive -> dead (no TCS heartbeat for 5.1 s)")]
    assert n.feed("ocd.states.change", event("03:00:02", machine_name="meta",
                                             old_state="satisfied",
                                             new_state="unsatisfied")) == []
    assert n.feed("ocd.states.change", event("03:00:03", machine_name="pending",
                                             transition="schedule", old_state="idle",
                                             new_state="scheduling",
                                             msg="running the scheduler")) == []


def test_periodic_and_unknown_events_say_nothing():
    n = Narrator()
    for topic in ("ocd.states.state", "ocd.main_loop.status", "tcs.receiver.heartbeat",
                  "ocd.heartbeat.reply", "x.y.z"):
        assert n.feed(topic, event("03:00:00", state="idle")) == []


def test_hostile_values_give_a_line_not_a_crash():
    n = Narrator()
    lines = n.feed("ocd.main_loop.decision", {"started": True, "reason": "x" * 10_000,
                                              "__ocd_utc": 42})
    assert len(lines) == 1 and len(lines[0].text) < 300
    assert n.feed("ocd.main_loop.waiting", {"reasons": "not a list"})[0].text.endswith("?")
    for request in range(1000):  # the table of commands awaiting an answer stays bounded
        n.feed("ocd.command.abort", {"id": f"r{request}"})
    assert len(n._commands) <= 256


def test_the_situation_line():
    s = Situation()
    assert s.line() == "TCS ? | HETDEX ? | shot none"
    assert s.feed("ocd.main_loop.status", {"states": {"tcs": "alive",
                                                      "hetdex_allowed": "not_allowed"}})
    assert not s.feed("ocd.main_loop.status", {"states": {"tcs": "alive",
                                                          "hetdex_allowed": "not_allowed"}})
    s.feed("ocd.states.change", {"machine_name": "hetdex_allowed", "new_state": "allowed"})
    s.feed("ocd.main_loop.decision", {"shotid": "DEX00009", "track": "W"})
    s.feed("ocd.run_shot.exp_hetdex", {"exec_status": 0, "shotid": "DEX00009", "exposure": 2,
                                       "exposures": 3})
    assert s.line() == "TCS alive | HETDEX allowed | shot DEX00009 exposure 2/3 | chose " \
                       "DEX00009 W"
    s.feed("ocd.run_shot.run", {"exec_status": 1})
    assert "shot none" in s.line()
    assert len(s.line(width=20)) == 20


def test_what_the_shot_lines_tell_is_not_told_twice():
    n = Narrator()
    started = event("03:00:00", machine_name="run_shot", old_state="idle", new_state="running",
                    transition="shot_started", msg="shot D1 started")
    assert n.feed("ocd.states.change", started) == []
    assert n.feed("ocd.main_loop.waiting", event("03:00:00", reasons=[
        "run_shot is running (needs idle)"])) == []
    assert n.feed("ocd.main_loop.waiting", event("03:00:01", reasons=["starting shot D2"])) == []
    # a shot that fell silent is news: no shot line says it
    silent = event("03:20:00", machine_name="run_shot", old_state="running", new_state="error",
                   transition="shot_silent", msg="no event from shot D1 for 901 s")
    assert n.feed("ocd.states.change", silent)[0].level == WARNING
    both = n.feed("ocd.main_loop.waiting", event("03:20:00", reasons=[
        "run_shot is running (needs idle)", "hetdex_allowed is not_allowed (needs allowed)"]))
    assert len(both) == 1  # another reason besides the shot: told
