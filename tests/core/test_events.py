"""Every inbound topic decoded once (``ocd.core.events``): each topic to its type, what a
payload means decided there, hostile payloads read as nothing rather than as a crash, and the
payloads OCD publishes for a shot built there so that they decode to what they say."""

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocd.bus.schemas import topic_schemas
from ocd.core import events as ev
from ocd.core import state_names as sn
from ocd.core import topics
from ocd.core.events import decode
from ocd.core.states import (
    HetdexAllowedState,
    MetaState,
    MetrologyLimits,
    MetrologyState,
    PendingState,
    RunShotState,
    TcsState,
)
from ocd.core.topics import TcsTopics

#: The type each topic's schema example decodes to.
EXPECTED = {
    topics.TCS_HEARTBEAT: ev.TcsHeartbeat,
    topics.TCS_RA_DEC: ev.Pointing,
    topics.GUIDER_METROLOGY[0]: ev.GuiderReading,
    topics.GUIDER_METROLOGY[1]: ev.GuiderReading,
    topics.RUN_SHOT_SETUP_TELESCOPE: ev.ShotStep,
    topics.RUN_SHOT_EXP_HETDEX: ev.ShotStep,
    topics.RUN_SHOT_PROGRESS: ev.ShotProgress,
    topics.RUN_SHOT_ACK: ev.ShotAck,
    topics.MAIN_ACK: ev.Ack,
    topics.COMMAND_ALLOW: ev.AllowHetdex,
    topics.COMMAND_ABORT: ev.AbortShot,
    topics.COMMAND_CONFIG: ev.ConfigSend,
    topics.STATES_CHANGE: ev.StateChanged,
    topics.STATES_STATE: ev.StateReported,
    topics.STATES_HETDEX_ALLOWED: ev.HetdexAllowedSet,
    topics.MAIN_STATUS: ev.MainStatus,
    topics.MAIN_WAITING: ev.Waiting,
    topics.MAIN_DECISION: ev.Decision,
    topics.MAIN_NO_SHOT: ev.NoShot,
    topics.MAIN_ERROR: ev.MainError,
    topics.MAIN_STARTED: ev.MainStarted,
    topics.MAIN_STOPPING: ev.MainStopping,
    topics.MAIN_CONFIG_CHANGED: ev.ConfigChanged,
    topics.HEARTBEAT_ENQUIRY: ev.HeartbeatEnquiry,
    topics.HEARTBEAT_REPLY: ev.HeartbeatReply,
    topics.BOARD_SIGN_IN: ev.SignIn,
    topics.COMMAND_ALARM_ACK: ev.AlarmCommand,
    topics.COMMAND_ALARM_MUTE: ev.AlarmCommand,
    topics.ALARM_RAISED: ev.AlarmNotice,
    topics.ALARM_CLEARED: ev.AlarmNotice,
    topics.ALARM_ACKNOWLEDGED: ev.AlarmNotice,
    topics.ALARM_MUTED: ev.AlarmNotice,
    topics.ALARM_LIST: ev.AlarmList,
    topics.ALARM_ACK: ev.Ack,
}
RUN = topics.RUN_SHOT_RUN
ORIGIN = "ocd_run_shot@ocd:10"


def test_every_topic_with_a_schema_decodes_its_example_to_its_type():
    schemas = topic_schemas()
    assert set(schemas) == {*EXPECTED, RUN}  # a new topic needs its type here
    for topic, kind in EXPECTED.items():
        (example,) = schemas[topic]["examples"]
        decoded = decode(topic, example)
        assert type(decoded) is kind, (topic, decoded)
    (example,) = schemas[RUN]["examples"]
    assert isinstance(decode(RUN, example), (ev.ShotStarted, ev.ShotEnded))


def test_events_are_frozen_and_slotted():
    event = decode(topics.MAIN_DECISION, {"shotid": "DEX1", "started": True})
    assert not hasattr(event, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.started = False


def test_a_shot_start_and_end_are_told_apart_here():
    start = decode(RUN, {"__origin": ORIGIN, "exec_status": 0, "shotid": "DEX1",
                         "obs_track": "W", "observation": 12, "ra": 10.5, "dec": 51.0})
    assert start == ev.ShotStarted(ORIGIN, "DEX1", "W", 12, 10.5, 51.0)
    done = decode(RUN, {"__origin": ORIGIN, "exec_status": 1, "shotid": "DEX1",
                        "observation": 12, "error": False})
    assert isinstance(done, ev.ShotEnded) and not done.failed and not done.aborted
    stopped = decode(RUN, {"exec_status": 1, "error": True, "exc_type": "ShotAborted",
                           "exc_value": "shutdown", "shot_origin": ORIGIN})
    assert isinstance(stopped, ev.ShotEnded)
    assert stopped.failed and stopped.aborted and stopped.shut_down
    assert stopped.origin == "" and stopped.shot_origin == ORIGIN


def test_a_step_has_its_phase_and_its_numbers_as_sent():
    step = decode(topics.RUN_SHOT_EXP_HETDEX, {"__origin": ORIGIN, "exec_status": 0,
                                               "exposure": 2, "exposures": 3, "seconds": 360,
                                               "shotid": "DEX1", "observation": 12})
    assert step == ev.ShotStep(ORIGIN, ev.EXP_HETDEX, "started", "DEX1", 12, 2, 3, 360)
    assert isinstance(step.seconds, int)  # printed as sent: "360 s", not "360.0 s"
    finished = decode(topics.RUN_SHOT_SETUP_TELESCOPE, {"exec_status": 1})
    assert isinstance(finished, ev.ShotStep)
    assert finished.step == ev.SETUP_TELESCOPE and finished.finished


@pytest.mark.parametrize("status", [None, 2, -1, "0", True, False, 0.0, 1.5, [0]])
@pytest.mark.parametrize("topic", [RUN, topics.RUN_SHOT_SETUP_TELESCOPE,
                                   topics.RUN_SHOT_EXP_HETDEX])
def test_an_exec_status_that_is_not_0_or_1_is_unreadable_not_a_start_or_an_end(topic, status):
    payload = {} if status is None else {"exec_status": status}
    decoded = decode(topic, payload)
    assert isinstance(decoded, ev.Unreadable) and decoded.topic == topic


def test_commands_carry_their_id_sender_and_user():
    allow = decode(topics.COMMAND_ALLOW, {"id": "r1", "allowed": True, "by": "board:alice",
                                          "__origin": "ocd_board@host:1"})
    assert allow == ev.AllowHetdex("r1", "board:alice via ocd_board@host:1", " by board:alice",
                                   "board:alice", True)
    assert decode(topics.COMMAND_ALLOW, {"id": "r2", "allowed": "yes"}).allowed is None
    assert decode(topics.COMMAND_ABORT, {"id": ""}).request_id is None
    config = decode(topics.COMMAND_CONFIG, {"id": "r3", "changes": [["run", "max_seeing", "2"]]})
    assert config.changes == (("run", "max_seeing", "2"),)
    assert config.shown == (("run", "max_seeing", "2"),)
    bad = decode(topics.COMMAND_CONFIG, {"id": "r4", "changes": "all of them"})
    assert bad.changes is None and bad.shown is None
    assert isinstance(allow, ev.CommandReceived) and isinstance(bad, ev.CommandReceived)


def test_numbers_are_finite_and_booleans_are_not_numbers():
    reading = decode(topics.GUIDER_METROLOGY[1], {"seeing": math.nan, "transparency": True})
    assert reading == ev.GuiderReading(topics.GUIDER_METROLOGY[1], 2, None, None)
    status = decode(topics.MAIN_STATUS, {"states": {"tcs": "alive", "x": [1], 3: "y"},
                                         "waiting": ["a", None, 2], "seeing": math.inf,
                                         "transparency": 0.9})
    assert status.states == {"tcs": "alive"}
    assert status.waiting == ("a", "2")
    assert (status.seeing, status.transparency) == (None, 0.9)
    start = decode(RUN, {"exec_status": 0, "observation": True, "shotid": ["x"]})
    assert start.observation is None and start.shotid is None


def test_topics_ocd_does_not_interpret_decode_to_none():
    assert decode("ocd.spam.t1", {"exec_status": 0}) is None
    assert decode("tcs.something.else", {}) is None
    assert decode(topics.COMMAND_PREFIX + "reboot", {"id": "r"}) is None


def test_the_tcs_topics_are_decoded_as_configured():
    tcs = TcsTopics(heartbeat="tcs.hb", ra_dec="tcs.pointing", metrology=("g.one", "g.two"))
    assert decode("tcs.hb", {}, tcs) == ev.TcsHeartbeat()
    assert decode(topics.TCS_HEARTBEAT, {}, tcs) is None
    pointing = decode("tcs.pointing", {"ra": 1.5, "dec": 20, "tracking": True, "other": 1}, tcs)
    assert pointing == ev.Pointing({"ra": 1.5, "dec": 20, "tracking": True})
    assert isinstance(pointing, ev.Pointing)
    assert (pointing.ra, pointing.dec, pointing.tracking) == (1.5, 20.0, True)
    bad = decode("tcs.pointing", {"ra": float("nan"), "dec": True, "tracking": 1}, tcs)
    assert isinstance(bad, ev.Pointing)
    assert (bad.ra, bad.dec, bad.tracking) == (None, None, False)
    assert decode("g.two", {"seeing": 1.2}, tcs) == ev.GuiderReading("g.two", 2, 1.2, None)


def test_the_shot_payloads_ocd_publishes_decode_to_what_they_say():
    base = {"__origin": ORIGIN, "shotid": "DEX1", "obs_track": "E", "observation": 7}
    assert isinstance(decode(RUN, ev.shot_started_payload(base)), ev.ShotStarted)
    ended = decode(RUN, ev.shot_ended_payload(base, error=True, exc_type=ev.ABORTED,
                                              exc_value="aborted", shot_origin="other"))
    assert isinstance(ended, ev.ShotEnded)
    assert ended.aborted and not ended.shut_down and ended.shot_origin == "other"
    for phase in ("started", "finished"):
        step = decode(topics.RUN_SHOT_SETUP_TELESCOPE, ev.step_payload(base, phase))
        assert isinstance(step, ev.ShotStep) and step.phase == phase
    assert "shot_origin" not in ev.shot_ended_payload(base, error=False)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                  max_size=4),
    max_leaves=12)
FIELDS = st.sampled_from(["exec_status", "shotid", "observation", "obs_track", "error",
                          "exc_type", "exc_value", "traceback", "shot_origin", "__origin",
                          "exposure", "exposures", "seconds", "id", "allowed", "by", "changes",
                          "ok", "message", "command", "machine_name", "new_state", "state",
                          "states", "waiting", "reasons", "seeing", "transparency", "ra",
                          "dec", "tracking", "started", "stage", "pointing"])
TOPICS = st.sampled_from(sorted({*EXPECTED, RUN, "ocd.unknown", "tcs.unknown"}))


@settings(max_examples=400, deadline=None)
@given(topic=TOPICS, payload=st.dictionaries(FIELDS | st.text(max_size=6), JSON, max_size=10))
def test_a_hostile_payload_never_raises_and_decodes_to_its_topics_type_or_unreadable(
        topic, payload):
    decoded = decode(topic, payload)
    if topic in EXPECTED:
        assert type(decoded) in (EXPECTED[topic], ev.Unreadable)
    elif topic == RUN:
        assert type(decoded) in (ev.ShotStarted, ev.ShotEnded, ev.Unreadable)
    else:
        assert decoded is None


def test_state_names_are_those_of_the_machines():
    assert {
        sn.TCS: TcsState(1.0).state, sn.METROLOGY: MetrologyState(MetrologyLimits()).state,
        sn.HETDEX_ALLOWED: HetdexAllowedState().state,
        sn.RUN_SHOT: RunShotState(1.0, 1.0).state, sn.META: MetaState([]).state,
        sn.PENDING: PendingState().state} == sn.INITIAL
    for machine, wanted in MetaState.WANTED.items():
        for state in wanted:
            assert not sn.blocks_shots(machine, state)
    assert sn.blocks_shots(sn.TCS, sn.TCS_DEAD)
    assert sn.blocks_shots(sn.RUN_SHOT, sn.RUN_SHOT_ERROR)
    assert not sn.blocks_shots("unknown machine", "any state")
