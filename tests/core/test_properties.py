"""Property-based tests: the decoder takes any bytes, the orchestrator any sequence of valid
events and ticks, and neither raises or breaks its rules."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocd.bus.envelope import Event, MalformedMessage, decode, encode
from ocd.bus.schemas import topic_schemas
from ocd.bus.validation import accept, main_loop_rules
from ocd.core.orchestrator import (
    Orchestrator,
    Publish,
    RequestSchedule,
    Settings,
    StartShot,
)
from ocd.core.states import MetrologyLimits
from ocd.core.topics import TcsTopics

RULES = main_loop_rules(TcsTopics())

# -- the decoder -------------------------------------------------------------------------------

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)

FRAGMENTS = st.sampled_from([b"{", b"}", b"[", b"]", b'"a":', b"NaN", b"Infinity", b"1e400",
                             b"9" * 30, b",", b'"\\ud800"', b"\xff", b"\xed\xa0\x80", b"null",
                             b"-", b"0.5", b'"x"', b" "])


@settings(max_examples=500, deadline=None)
@given(frames=st.lists(st.binary(max_size=64), max_size=4))
def test_any_frames_are_an_event_or_a_counted_drop(frames):
    try:
        event = accept(frames, RULES)
    except MalformedMessage as exc:
        assert exc.kind in ("frames", "size", "topic", "json", "depth", "not_object", "schema",
                            "unknown")
    else:
        assert isinstance(event, Event) and isinstance(event.payload, dict)


@settings(max_examples=500, deadline=None)
@given(topic=st.sampled_from([b"tcs.root.ra_dec", b"pas.Guider1.metrology_data",
                              b"ocd.heartbeat.enquiry", b"ocd.command.abort", b"x.y.z"]),
       parts=st.lists(FRAGMENTS, max_size=40))
def test_json_like_garbage_is_an_event_or_a_counted_drop(topic, parts):
    try:
        event = accept([topic, b"".join(parts)], RULES)
    except MalformedMessage as exc:
        assert exc.topic == topic.decode()
    else:
        assert isinstance(event.payload, dict)


def _finite_everywhere(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite_everywhere(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite_everywhere(v) for v in value)
    return True


@settings(max_examples=300, deadline=None)
@given(payload=st.dictionaries(st.text(max_size=8), JSONISH, max_size=6))
def test_what_the_encoder_writes_the_decoder_reads_back(payload):
    event = decode(encode("a.b.c", payload))
    assert event.payload == payload and _finite_everywhere(event.payload)


# -- the orchestrator --------------------------------------------------------------------------

SETTINGS = Settings(heartbeat_timeout=5, error_pause=30, shot_silent_after=50,
                    reschedule_after=10, start_timeout=20, schedule_timeout=15,
                    status_interval=7,
                    metrology=MetrologyLimits(max_seeing=2.0, min_transparency=0.6,
                                              stale_after=60))
ORIGINS = ["ocd_run_shot@h:1", "ocd_run_shot@h:2", "ocd_run_shot@ra:7"]
SHOTS = ["DEX00001", "DEX00009"]


def _example(topic: str) -> dict:
    return dict(topic_schemas()[topic]["examples"][0])


def _envelope(payload: dict, origin: str, seq: int) -> dict:
    payload["__origin"], payload["__seq"] = origin, seq
    return payload


@st.composite
def events(draw):
    """(topic, payload) of any kind the main loop acts on, valid by its schema."""
    kind = draw(st.sampled_from(["heartbeat", "metrology", "pointing", "run", "step",
                                 "progress", "allow", "abort", "config", "enquiry"]))
    seq = draw(st.integers(1, 10**6))
    origin = draw(st.sampled_from(ORIGINS))
    if kind == "heartbeat":
        return "tcs.receiver.heartbeat", {}
    if kind == "metrology":
        topic = draw(st.sampled_from(TcsTopics().metrology))
        seeing = draw(st.none() | st.floats(0.01, 20))
        transparency = draw(st.none() | st.floats(0, 1.5))
        return topic, {"seeing": seeing, "transparency": transparency}
    if kind == "pointing":
        return "tcs.root.ra_dec", {"ra": draw(st.floats(0, 23.99)),
                                   "dec": draw(st.floats(-90, 90))}
    if kind == "run":
        payload = _envelope(_example("ocd.run_shot.run"), origin, seq)
        payload["shotid"] = draw(st.sampled_from(SHOTS))
        status = draw(st.sampled_from([0, 1]))
        payload["exec_status"] = status
        if status == 1:
            payload["error"] = draw(st.booleans())
            if draw(st.booleans()):
                payload["shot_origin"] = draw(st.sampled_from(ORIGINS))
        return "ocd.run_shot.run", payload
    if kind == "step":
        topic = draw(st.sampled_from(["ocd.run_shot.setup_telescope",
                                      "ocd.run_shot.exp_hetdex"]))
        return topic, _envelope(_example(topic), origin, seq)
    if kind == "progress":
        return "ocd.run_shot.progress", _envelope(_example("ocd.run_shot.progress"), origin,
                                                  seq)
    request = draw(st.sampled_from(["r1", "r2", "r3", "r4", "r5", "r6"]))
    if kind == "allow":
        payload = _example("ocd.command.allow_hetdex")
        payload.update(id=request, allowed=draw(st.booleans()))
        return "ocd.command.allow_hetdex", payload
    if kind == "abort":
        return "ocd.command.abort", {**_example("ocd.command.abort"), "id": request}
    if kind == "config":
        payload = _example("ocd.command.config_send")
        payload.update(id=request, changes=[["run", "max_seeing", "2.5"]])
        return "ocd.command.config_send", payload
    return "ocd.heartbeat.enquiry", {**_example("ocd.heartbeat.enquiry"), "id": request}


STEPS = st.one_of(
    st.tuples(st.just("event"), events()),
    st.tuples(st.just("tick"), st.none()),
    st.tuples(st.just("scheduled"), st.tuples(st.sampled_from(SHOTS + [None]),
                                              st.sampled_from(["E", "W"]),
                                              st.integers(0, 5))),
    st.tuples(st.just("step_failed"), st.sampled_from(["scheduling", "starting"])),
    st.tuples(st.just("start_failed"), st.none()),
)


def _check_no_forbidden_start(orc: Orchestrator, actions) -> None:
    """Whenever the orchestrator asks for a schedule or a shot start, every condition holds
    (checked right after the call, when the machines are as they decided)."""
    if any(isinstance(a, (RequestSchedule, StartShot)) for a in actions):
        assert orc.hetdex.state == "allowed"
        assert orc.tcs.state == "alive"
        assert orc.metrology.state != "bad"
        assert orc.run_shot.state == "idle"
    for action in actions:
        if isinstance(action, Publish):  # what it publishes is strict JSON
            encode(action.topic, action.data)


#: Seconds between two steps: mostly short (so conditions are often met and shots start),
#: sometimes long (timeouts fire).
ELAPSED = st.one_of(st.floats(0, 2), st.floats(0, 2), st.floats(0, 2), st.floats(0, 80))
#: Steps that make shots likely: TCS alive and HETDEX allowed.
READY = [(("event", ("tcs.receiver.heartbeat", {})), 0.0),
         (("event", ("ocd.command.allow_hetdex", {**_example("ocd.command.allow_hetdex"),
                                                  "id": "ready", "allowed": True})), 0.0)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(STEPS, ELAPSED), max_size=60), ready=st.booleans())
def test_any_sequence_of_valid_events_and_ticks_keeps_the_rules(steps, ready):
    orc = Orchestrator(SETTINGS)
    now = 1000.0
    for (kind, value), elapsed in (READY if ready else []) + steps:
        now += elapsed
        if kind == "event":
            topic, payload = value
            RULES.check(topic, payload)  # the generator makes only valid events
            actions = orc.handle(topic, payload, now)
        elif kind == "tick":
            actions = orc.tick(now)
        elif kind == "scheduled":
            shotid, track, back = value
            actions = orc.scheduled(shotid, track if shotid else None, "why", "builtin", now,
                                    max(0, orc.schedule_request - back))
        elif kind == "step_failed":
            actions = orc.step_failed(value, "RuntimeError: boom", now)
        else:
            actions = orc.start_failed("obsnum", "no database", now)
        _check_no_forbidden_start(orc, actions)
        assert orc.pending in (None, "scheduling", "starting")
        status = orc.status(now)
        assert set(status["states"]) == {"run_shot", "hetdex_allowed", "tcs", "metrology",
                                         "meta", "pending"}


#: What a tick may publish when nothing changes: the periodic states and status.
QUIET = {"ocd.states.state", "ocd.main_loop.status"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(STEPS, ELAPSED), max_size=40), ready=st.booleans(),
       fraction=st.floats(0.0, 0.999))
def test_a_tick_before_every_deadline_changes_nothing(steps, ready, fraction):
    """What an event-driven simulation relies on to skip ticks: after any sequence of inputs,
    and a tick then, a tick at any time before :meth:`Orchestrator.deadlines` (the first of
    them, or within a day when there is none) publishes only the periodic states and
    status."""
    orc = Orchestrator(SETTINGS)
    now = 1000.0
    orc.tick(now)  # (the first input says what the loop waits for)
    for (kind, value), elapsed in (READY if ready else []) + steps:
        now += elapsed
        if kind == "event":
            orc.handle(*value, now)
        elif kind == "tick":
            orc.tick(now)
        elif kind == "scheduled":
            shotid, track, back = value
            orc.scheduled(shotid, track if shotid else None, "why", "builtin", now,
                          max(0, orc.schedule_request - back))
        elif kind == "step_failed":
            orc.step_failed(value, "RuntimeError: boom", now)
        else:
            orc.start_failed("obsnum", "no database", now)
    orc.tick(now)  # what was due by now is done
    first = orc.deadlines(now).first
    later = now + fraction * (min(first, now + 86400.0) - now)
    before = (orc.step.state, orc.next_schedule_at, orc.waiting,
              [m.state for m in orc.machines])
    actions = orc.tick(later)
    assert all(isinstance(a, Publish) and a.topic in QUIET for a in actions), actions
    assert before == (orc.step.state, orc.next_schedule_at, orc.waiting,
                      [m.state for m in orc.machines])


def test_each_deadline_is_when_a_tick_moves():
    """The deadlines name the moments :meth:`Orchestrator.tick` acts: the TCS declared dead
    just after ``heartbeat``, stale metrology just after ``stale``, the start timeout just
    after ``own``, the next try at ``own``."""
    orc = Orchestrator(SETTINGS)
    orc.handle("tcs.receiver.heartbeat", {}, 1000.0)
    orc.handle("pas.Guider1.metrology_data", {"seeing": 1.0, "transparency": 0.9}, 1000.0)
    deadlines = orc.deadlines(1000.0)
    assert deadlines.heartbeat == 1000.0 + SETTINGS.heartbeat_timeout
    assert deadlines.stale == 1000.0 + SETTINGS.metrology.stale_after
    assert deadlines.own == math.inf  # HETDEX shots forbidden: nothing else is timed
    assert orc.tick(deadlines.heartbeat)[0:0] == [] and orc.tcs.state == "alive"
    orc.tick(deadlines.heartbeat + 0.01)
    assert orc.tcs.state == "dead"
    orc.handle("tcs.receiver.heartbeat", {}, 1010.0)
    orc.handle("ocd.command.allow_hetdex", {**_example("ocd.command.allow_hetdex"),
                                            "id": "go", "allowed": True}, 1010.0)
    assert orc.pending == "scheduling"
    assert orc.deadlines(1010.0).own == 1010.0 + SETTINGS.schedule_timeout
    orc.scheduled(None, None, "no shot", "builtin", 1011.0)
    retry = orc.deadlines(1011.0).own
    assert retry == 1011.0 + SETTINGS.reschedule_after
    orc.handle("tcs.receiver.heartbeat", {}, retry - 1.0)
    assert not any(isinstance(a, RequestSchedule) for a in orc.tick(retry - 0.5))
    assert any(isinstance(a, RequestSchedule) for a in orc.tick(retry))
