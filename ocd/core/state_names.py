"""The names of the main loop's state machines and of their states, as the processes that
follow them (monitors, the board, the engine) compare them: taken from the machine definitions
(:mod:`ocd.core.states`), so a name is written in one place. They are plain strings (the
values of the state enums), as the decoded events carry them.
"""

from __future__ import annotations

from ocd.core import states as _machines
from ocd.core.states import (
    HetdexAllowedStateName,
    MetaState,
    MetaStateName,
    MetrologyStateName,
    PendingStateName,
    RunShotStateName,
    RunShotTrigger,
    TcsStateName,
)

TCS = _machines.TCS.name
TCS_DEAD = TcsStateName.DEAD.value
TCS_ALIVE = TcsStateName.ALIVE.value

METROLOGY = _machines.METROLOGY.name
METROLOGY_STALE = MetrologyStateName.STALE.value
METROLOGY_BAD = MetrologyStateName.BAD.value

HETDEX_ALLOWED = _machines.HETDEX_ALLOWED.name
ALLOWED = HetdexAllowedStateName.ALLOWED.value
NOT_ALLOWED = HetdexAllowedStateName.NOT_ALLOWED.value

RUN_SHOT = _machines.RUN_SHOT.name
RUN_SHOT_IDLE = RunShotStateName.IDLE.value
RUN_SHOT_RUNNING = RunShotStateName.RUNNING.value
RUN_SHOT_ERROR = RunShotStateName.ERROR.value

META = _machines.META.name
UNSATISFIED = MetaStateName.UNSATISFIED.value
SATISFIED = MetaStateName.SATISFIED.value

PENDING = _machines.PENDING.name
PENDING_IDLE = PendingStateName.IDLE.value

#: The moves of ``run_shot`` that a shot's own events already tell (its start and end).
SHOT_TRANSITIONS = tuple(trigger.value for trigger in (
    RunShotTrigger.SHOT_STARTED, RunShotTrigger.SHOT_FINISHED, RunShotTrigger.SHOT_FAILED,
    RunShotTrigger.SHOT_ABORTED))

#: Every machine in the state it starts in (as ``ocd run`` starts them).
INITIAL = {spec.name: spec.initial.value for spec in _machines.MACHINES}
#: States that deserve a warning when a machine enters them.
ALARMING = (TCS_DEAD, RUN_SHOT_ERROR, METROLOGY_BAD)


def blocks_shots(machine: str, state: str) -> bool:
    """Whether ``machine`` in ``state`` keeps a new shot from starting (what
    :attr:`MetaState.WANTED` says; a machine it does not name blocks nothing)."""
    return state not in MetaState.WANTED.get(machine, (state,))
