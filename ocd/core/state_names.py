"""The names of the main loop's state machines and of their states, as the processes that
follow them (monitors, the board, the engine) compare them: taken from the machine definitions
(:mod:`ocd.core.states`), so a name is written in one place and a renamed state fails here, at
import, not silently in a monitor.
"""

from __future__ import annotations

from ocd.core.states import (
    HetdexAllowedState,
    Machine,
    MetaState,
    MetrologyState,
    RunShotState,
    TcsState,
)


def _state(machine: type[Machine], state: str) -> str:
    if state not in machine.states:
        raise ValueError(f"{machine.name} has no state {state!r}")
    return state


TCS = TcsState.name
TCS_DEAD = _state(TcsState, "dead")
TCS_ALIVE = _state(TcsState, "alive")

METROLOGY = MetrologyState.name
METROLOGY_STALE = _state(MetrologyState, "stale")
METROLOGY_BAD = _state(MetrologyState, "bad")

HETDEX_ALLOWED = HetdexAllowedState.name
ALLOWED = _state(HetdexAllowedState, "allowed")
NOT_ALLOWED = _state(HetdexAllowedState, "not_allowed")

RUN_SHOT = RunShotState.name
RUN_SHOT_IDLE = _state(RunShotState, "idle")
RUN_SHOT_RUNNING = _state(RunShotState, "running")
RUN_SHOT_ERROR = _state(RunShotState, "error")

META = MetaState.name
UNSATISFIED = _state(MetaState, "unsatisfied")
SATISFIED = _state(MetaState, "satisfied")

#: The moves of ``run_shot`` that a shot's own events already tell (its start and end).
SHOT_TRANSITIONS = ("shot_started", "shot_finished", "shot_failed")

#: Every machine in the state it starts in (as ``ocd run`` starts them).
INITIAL = {TCS: TCS_DEAD, HETDEX_ALLOWED: NOT_ALLOWED, METROLOGY: METROLOGY_STALE,
           RUN_SHOT: RUN_SHOT_IDLE, META: UNSATISFIED}
#: States that deserve a warning when a machine enters them.
ALARMING = (TCS_DEAD, RUN_SHOT_ERROR, METROLOGY_BAD)


def blocks_shots(machine: str, state: str) -> bool:
    """Whether ``machine`` in ``state`` keeps a new shot from starting (what
    :attr:`MetaState.WANTED` says; a machine it does not name blocks nothing)."""
    return state not in MetaState.WANTED.get(machine, (state,))
