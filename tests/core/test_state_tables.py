"""The state machines as tables: every move of every table taken by the machine's own methods,
a move not in a table refused with a typed error, names that stay plain strings on the wire,
and the ``pending`` machine published like the others."""

import json

import orjson
import pytest

from ocd.core import states
from ocd.core.events import ShotEnded, ShotProgress, ShotStarted
from ocd.core.orchestrator import Orchestrator, Publish, Settings, StartShot
from ocd.core.states import (
    MACHINES,
    HetdexAllowedState,
    ImpossibleTransition,
    Machine,
    MachineSpec,
    MetaState,
    MetrologyLimits,
    MetrologyState,
    Move,
    PendingState,
    PendingStateName,
    PendingTrigger,
    RunShotState,
    RunShotStateName,
    RunShotTrigger,
    TcsState,
    TcsStateName,
    TcsTrigger,
    UnknownState,
)

HB = "tcs.receiver.heartbeat"
SETTINGS = Settings(heartbeat_timeout=5, error_pause=100, shot_silent_after=50,
                    reschedule_after=30, start_timeout=20, schedule_timeout=40,
                    metrology=MetrologyLimits(max_seeing=2.0, min_transparency=0.6,
                                              stale_after=60))


class RecordingTable(dict):
    """A machine's table that notes every (state, trigger) looked up in it."""

    def __init__(self, name, table, seen):
        super().__init__(table)
        self.name, self.seen = name, seen

    def get(self, key, default=None):
        self.seen.add((self.name, *key))
        return super().get(key, default)


@pytest.fixture
def taken(monkeypatch):
    """The (machine, state, trigger) of every table look-up the machines make."""
    seen = set()
    init = Machine.__init__

    def recording_init(self, spec):
        init(self, spec)
        self._table = RecordingTable(spec.name, spec.table, seen)

    monkeypatch.setattr(Machine, "__init__", recording_init)
    return seen


def entries(spec):
    return {(spec.name, state, trigger) for state, trigger in spec.table}


def published(actions, topic):
    return [a.data for a in actions if isinstance(a, Publish) and a.topic == topic]


# -- every entry, by the machine's own methods ----------------------------------------------
def test_tcs_takes_every_move_of_its_table(taken):
    tcs = TcsState(timeout=5)
    assert tcs.heartbeat(0.0).new_state == "alive"
    assert tcs.heartbeat(1.0) is None
    change = tcs.tick(7.0)
    assert (change.transition, change.new_state) == ("heartbeat_timeout", "dead")
    assert taken == entries(states.TCS)


def test_metrology_takes_every_move_of_its_table(taken):
    m = MetrologyState(MetrologyLimits(max_seeing=2.0, min_transparency=0.6, stale_after=60))
    assert m.tick(0.0) is None                                        # stale, stale
    assert m.reading("g1", 1.2, 0.9, 1.0).new_state == "good"         # stale -> good
    assert m.reading("g1", 1.3, 0.9, 2.0) is None                     # good, good
    change = m.reading("g1", 2.5, 0.9, 3.0)                           # good -> bad
    assert (change.transition, change.new_state, change.msg) == (
        "conditions", "bad", "seeing 2.50\" > 2\"")
    assert m.reading("g1", 2.6, 0.3, 4.0) is None                     # bad, bad
    assert m.reading("g1", 1.0, 0.9, 5.0).new_state == "good"         # bad -> good
    change = m.tick(70.0)                                             # good -> stale
    assert (change.transition, change.new_state) == ("stale", "stale")
    assert m.reading("g2", 1.0, 0.2, 71.0).new_state == "bad"         # stale -> bad
    assert m.tick(200.0).new_state == "stale"                         # bad -> stale
    assert taken == entries(states.METROLOGY)


def test_hetdex_allowed_takes_every_move_of_its_table(taken):
    h = HetdexAllowedState()
    assert h.set(True, "ra").transition == "allow"
    assert h.set(True) is None
    assert h.set(False).msg == "HETDEX shots forbidden"
    assert h.set(False) is None
    assert taken == entries(states.HETDEX_ALLOWED)


def started(origin, shotid="DEX1"):
    return ShotStarted(origin, shotid, "E", 1, None, None)


def ended(origin, failed=False, shotid="DEX1", aborted=False):
    if aborted:
        return ShotEnded(origin, shotid, "E", 1, True, "ShotAborted", "aborted by RA", None,
                         None)
    return ShotEnded(origin, shotid, "E", 1, failed, "TcsError" if failed else None,
                     "boom" if failed else None, None, None)


def test_run_shot_takes_every_move_of_its_table(taken):
    r = RunShotState(error_pause=100, silent_after=50)
    assert r.event(started("a"), 0.0).new_state == "running"          # idle -> running
    assert r.event(started("b"), 1.0) is None                         # running, started
    assert r.event(ended("b"), 2.0) is None                           # another still runs
    assert r.event(ended("a"), 3.0).transition == "shot_finished"     # running -> idle
    assert r.event(ended("x"), 4.0) is None                           # idle, finished
    assert r.event(ended("x", failed=True), 5.0).new_state == "error"  # idle -> error
    assert r.event(ended("y", failed=True), 6.0) is None              # error, failed
    assert r.event(ended("z"), 7.0).new_state == "idle"               # error -> idle
    r.event(ended("z", failed=True), 8.0)
    assert r.tick(108.0).transition == "error_pause_over"             # error -> idle
    r.event(ended("z", failed=True), 110.0)
    assert r.event(started("a"), 111.0).new_state == "running"        # error -> running
    assert r.event(ended("a", failed=True), 112.0).msg == "shot DEX1 failed: boom"
    r.event(started("a"), 113.0)
    assert r.event(ShotProgress("a", "DEX1", 1, None, None, None, None), 150.0) is None
    assert r.tick(190.0) is None                                      # heard at 150
    change = r.tick(201.0)                                            # running -> error
    assert (change.transition, change.new_state) == ("shot_silent", "error")
    assert r.event(started("a"), 202.0) is not None
    assert r.event(started("b"), 203.0) is None                       # running, started
    assert r.event(ended("a", aborted=True), 204.0) is None           # another still runs
    change = r.event(ended("b", aborted=True), 205.0)                 # running -> idle
    assert (change.transition, change.msg) == ("shot_aborted", "shot DEX1 aborted by RA")
    assert r.event(ended("x", aborted=True), 206.0) is None           # idle, aborted
    r.event(ended("z", failed=True), 207.0)
    assert r.event(ended("z", aborted=True), 208.0).new_state == "idle"  # error -> idle
    assert taken == entries(states.RUN_SHOT)


def test_meta_takes_every_move_of_its_table(taken):
    tcs, hetdex = TcsState(5), HetdexAllowedState()
    meta = MetaState([RunShotState(100, 50), hetdex, tcs,
                      MetrologyState(MetrologyLimits())])
    assert meta.update() is None                                      # unsatisfied, unsatisfied
    tcs.heartbeat(0.0)
    hetdex.set(True)
    assert meta.update().new_state == "satisfied"
    assert meta.update() is None                                      # satisfied, satisfied
    hetdex.set(False)
    change = meta.update()
    assert change.msg == "hetdex_allowed is not_allowed (needs allowed)"
    assert {t for t in taken if t[0] == "meta"} == entries(states.META)


def ready(now=0.0):
    orc = Orchestrator(SETTINGS)
    orc.handle(HB, {}, now)
    actions = orc.handle("ocd.command.allow_hetdex",
                         {"id": f"r{now}", "allowed": True, "__origin": "c@h:1"}, now)
    return orc, actions


def test_pending_takes_every_move_of_its_table(taken):
    orc, _ = ready()                                                  # idle -> scheduling
    orc.scheduled(None, None, "nothing up", "builtin", 1.0)           # scheduling -> idle
    orc.handle(HB, {}, 31.0)                                          # idle -> scheduling
    assert orc.step.state is PendingStateName.SCHEDULING
    orc.scheduled("DEX1", "E", "why", "builtin", 32.0)                # scheduling -> starting
    assert orc.step.state is PendingStateName.STARTING
    orc.handle("ocd.run_shot.run", {"exec_status": 0, "shotid": "DEX1", "__origin": "s@h:1"},
               33.0)                                                  # starting -> idle
    assert orc.step.state is PendingStateName.IDLE
    for when, end in ((40.0, "conditions"), (200.0, "timeout"), (400.0, "failed")):
        orc, _ = ready(when)
        if end == "conditions":
            orc.handle("ocd.command.allow_hetdex", {"id": "stop", "allowed": False}, when)
            orc.scheduled("DEX1", "E", "why", "builtin", when + 1)    # scheduling -> idle
            orc.handle("ocd.command.allow_hetdex", {"id": "go", "allowed": True}, when + 2)
            (start,) = [a for a in orc.scheduled("DEX1", "E", "", "builtin", when + 3)
                        if isinstance(a, StartShot)]
            orc.handle("ocd.command.allow_hetdex", {"id": "stop2", "allowed": False}, when + 4)
            orc.handle(HB, {}, when + 4)
            assert orc.confirm_start(start, 7, when + 4)[0] is False  # starting -> idle
        elif end == "timeout":
            orc.tick(when + 41)                                       # scheduling -> idle
            orc.next_schedule_at = 0.0
            orc.handle(HB, {}, when + 42)
            orc.scheduled("DEX1", "E", "", "builtin", when + 42)
            orc.handle(HB, {}, when + 60)
            orc.tick(when + 63)                                       # starting -> idle
        else:
            orc.step_failed(PendingStateName.SCHEDULING, "ZeroDivisionError: x", when + 1)
            orc.next_schedule_at = 0.0
            orc.tick(when + 2)
            orc.scheduled("DEX1", "E", "", "builtin", when + 2)
            orc.start_failed("obsnum", "no database", when + 3)       # starting -> idle
        assert orc.step.state is PendingStateName.IDLE, end
    assert {t for t in taken if t[0] == "pending"} == entries(states.PENDING)


# -- what the table does not allow --------------------------------------------------------
@pytest.mark.parametrize("machine, trigger", [
    (TcsState(5), TcsTrigger.HEARTBEAT_TIMEOUT),
    (RunShotState(100, 50), RunShotTrigger.ERROR_PAUSE_OVER),
    (RunShotState(100, 50), RunShotTrigger.SHOT_SILENT),
    (PendingState(), PendingTrigger.SHOT_CHOSEN),
    (PendingState(), PendingTrigger.TIMEOUT),
])
def test_a_move_not_in_the_table_raises_and_changes_nothing(machine, trigger):
    before = machine.state
    with pytest.raises(ImpossibleTransition) as raised:
        machine.fire(trigger, "why")
    assert (raised.value.machine, raised.value.state, raised.value.trigger) == (
        machine.name, before, trigger)
    assert f"no move for {trigger.value} in state {before.value}" in str(raised.value)
    assert machine.state is before


def test_every_impossible_move_raises():
    for spec in MACHINES:
        for state in spec.states:
            for trigger in spec.triggers:
                machine = Machine(spec)
                machine.state = state
                if (state, trigger) in spec.table:
                    change = machine.fire(trigger)
                    assert machine.state is spec.table[state, trigger].new_state
                    assert (change is None) == (state is machine.state)
                else:
                    with pytest.raises(ImpossibleTransition):
                        machine.fire(trigger)


def test_a_definition_naming_foreign_states_is_refused():
    with pytest.raises(UnknownState, match="initial state"):
        MachineSpec("tcs", TcsStateName, TcsTrigger, RunShotStateName.IDLE, {},
                    states.TCS.meanings)
    with pytest.raises(UnknownState, match="names a state or trigger not its own"):
        MachineSpec("tcs", TcsStateName, TcsTrigger, TcsStateName.DEAD,
                    {(TcsStateName.DEAD, TcsTrigger.HEARTBEAT): Move(RunShotStateName.IDLE,
                                                                    "heartbeat")},
                    states.TCS.meanings)
    with pytest.raises(UnknownState, match="no meaning"):
        MachineSpec("tcs", TcsStateName, TcsTrigger, TcsStateName.DEAD, {}, {})


# -- names on the wire ---------------------------------------------------------------------
def test_names_are_plain_strings_wherever_they_go():
    name = RunShotStateName.RUNNING
    assert name == "running" and {"running": 1}[name] == 1 and hash(name) == hash("running")
    assert (f"{name}", str(name), f"{name:>8}") == ("running", "running", " running")
    assert orjson.dumps({"state": name}) == b'{"state":"running"}'
    assert json.dumps({"state": name}) == '{"state": "running"}'


def test_published_names_are_of_type_str():
    orc, actions = ready()
    payloads = (published(actions, "ocd.states.change") + published(actions, "ocd.states.state")
                + published(actions, "ocd.main_loop.status"))
    for payload in payloads:
        for key in ("old_state", "new_state", "state", "pending"):
            if payload.get(key) is not None:
                assert type(payload[key]) is str, (key, payload)
        for state in payload.get("states", {}).values():
            assert type(state) is str


# -- the pending machine is published ------------------------------------------------------
def test_pending_is_published_as_it_moves_and_with_the_others():
    orc, actions = ready()
    (change,) = [c for c in published(actions, "ocd.states.change")
                 if c["machine_name"] == "pending"]
    assert change == {"machine_name": "pending", "transition": "schedule", "old_state": "idle",
                      "new_state": "scheduling", "msg": "running the scheduler",
                      "traceback": None}
    actions = orc.handle(HB, {}, 1.0)
    assert {"machine_name": "pending", "state": "scheduling"} in published(
        actions, "ocd.states.state")
    status = published(actions, "ocd.main_loop.status")[0]
    assert status["pending"] == "scheduling" and status["states"]["pending"] == "scheduling"
    actions = orc.scheduled("DEX1", "E", "why", "builtin", 2.0)
    (change,) = published(actions, "ocd.states.change")
    assert (change["transition"], change["new_state"]) == ("shot_chosen", "starting")
    actions = orc.tick(30.0)  # no start within 20 s
    (change,) = [c for c in published(actions, "ocd.states.change")
                 if c["machine_name"] == "pending"]
    assert (change["transition"], change["new_state"]) == ("timeout", "idle")
    assert change["msg"] == "shot DEX1 did not start within 20 s"
    status = orc.status(30.0)
    assert status["pending"] is None and status["states"]["pending"] == "idle"
