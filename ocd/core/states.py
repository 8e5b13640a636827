"""The main loop's state machines: tables of moves, fed with events and clock readings.

Each machine is a table, as in h11: its states and triggers are enums and its table says, for
each (state, trigger) it allows, the new state and the name of the transition published as
``ocd.states.change``. :meth:`Machine.fire` looks the move up; a move not in the table raises
:class:`ImpossibleTransition`. The guards (timeouts, thresholds, which shot ended) live in the
methods that choose the trigger; the table alone decides the state. A move to the same state
is allowed where the table lists it and publishes nothing.

Machines never read a clock: the time ``now`` (Unix seconds of OCD's clock) is passed in, so
tests drive them with plain numbers. ``doc/how-ocd-decides.md`` shows each table as a diagram
(``python -m ocd.dev.docgen machines``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, NamedTuple, TypeVar

from ocd.core.events import ShotEnded, ShotProgress, ShotStarted, ShotStep

#: The events of a shot the ``run_shot`` machine follows.
ShotEvent = ShotStarted | ShotEnded | ShotStep | ShotProgress


class Name(str, Enum):
    """A state or trigger: a plain string wherever it goes (comparisons, dictionary keys,
    f-strings, JSON), so the payloads stay what they were when states were strings."""

    def __str__(self) -> str:
        return str(self._value_)

    def __format__(self, spec: str) -> str:
        return format(str(self._value_), spec)


S = TypeVar("S", bound=Name)
T = TypeVar("T", bound=Name)


class MachineError(Exception):
    """A state machine was asked for something its definition does not allow (a bug)."""


class ImpossibleTransition(MachineError):
    """The table of ``machine`` has no move for ``trigger`` in ``state``."""

    def __init__(self, machine: str, state: str, trigger: str) -> None:
        super().__init__(f"{machine}: no move for {trigger!s} in state {state!s}")
        self.machine, self.state, self.trigger = machine, state, trigger


class UnknownState(MachineError):
    """A machine definition names a state (initial, or in its table) it does not have."""


@dataclass(frozen=True)
class Move(Generic[S]):
    """What a table entry does: the new state, and the transition name published."""

    new_state: S
    transition: str


@dataclass(frozen=True)
class MachineSpec(Generic[S, T]):
    """One machine's definition: its name on the wire, its states (``initial`` first to be
    held), its triggers, its table and what each state means (doc/events.md shows these)."""

    name: str
    states: type[S]
    triggers: type[T]
    initial: S
    table: Mapping[tuple[S, T], Move[S]]
    meanings: Mapping[S, str]

    def __post_init__(self) -> None:
        if not isinstance(self.initial, self.states):
            raise UnknownState(f"{self.name}: initial state {self.initial!r} is not one of "
                               f"{[s.value for s in self.states]}")
        for (state, trigger), move in self.table.items():
            if not (isinstance(state, self.states) and isinstance(move.new_state, self.states)
                    and isinstance(trigger, self.triggers)):
                raise UnknownState(f"{self.name}: table entry ({state!r}, {trigger!r}) -> "
                                   f"{move.new_state!r} names a state or trigger not its own")
        missing = [s.value for s in self.states if s not in self.meanings]
        if missing:
            raise UnknownState(f"{self.name}: no meaning for {missing}")


@dataclass(frozen=True)
class StateChange:
    """One transition, with the payload fields of ``ocd.states.change``."""

    machine_name: str
    transition: str
    old_state: str
    new_state: str
    msg: str = ""
    traceback: str | None = None

    def as_payload(self) -> dict[str, Any]:
        return {"machine_name": self.machine_name, "transition": self.transition,
                "old_state": str(self.old_state), "new_state": str(self.new_state),
                "msg": self.msg, "traceback": self.traceback}


class Machine(Generic[S, T]):
    """A named state holder moved by its table; subclasses choose the triggers."""

    def __init__(self, spec: MachineSpec[S, T]) -> None:
        self.spec = spec
        self.name = spec.name
        self._table = spec.table
        self.state: S = spec.initial

    @property
    def states(self) -> type[S]:
        """This machine's states (iterable, in their order)."""
        return self.spec.states

    @property
    def meanings(self) -> Mapping[S, str]:
        """What each state means, for people (doc/events.md is generated from it)."""
        return self.spec.meanings

    def fire(self, trigger: T, msg: str = "", traceback: str | None = None
             ) -> StateChange | None:
        """Take the table's move for ``trigger``: the change to publish, or None when the
        state stays."""
        move = self._table.get((self.state, trigger))
        if move is None:
            raise ImpossibleTransition(self.name, self.state, trigger)
        if move.new_state is self.state:
            return None
        change = StateChange(self.name, move.transition, self.state, move.new_state, msg,
                             traceback)
        self.state = move.new_state
        return change


def _moves(*entries: tuple[S, T, S]) -> dict[tuple[S, T], Move[S]]:
    """A table whose transitions are named after their triggers."""
    return {(state, trigger): Move(new, str(trigger)) for state, trigger, new in entries}


# -- tcs ---------------------------------------------------------------------------------------
class TcsStateName(Name):
    DEAD = "dead"
    ALIVE = "alive"


class TcsTrigger(Name):
    HEARTBEAT = "heartbeat"
    HEARTBEAT_TIMEOUT = "heartbeat_timeout"


_TS, _TT = TcsStateName, TcsTrigger
# Members read on the paths run at every event and tick are module constants: on Python 3.11
# reading a member from its Enum class goes through the metaclass, several times slower.
_ALIVE, _HEARTBEAT, _HEARTBEAT_TIMEOUT = _TS.ALIVE, _TT.HEARTBEAT, _TT.HEARTBEAT_TIMEOUT
TCS = MachineSpec(
    "tcs", TcsStateName, TcsTrigger, _TS.DEAD,
    _moves((_TS.DEAD, _TT.HEARTBEAT, _TS.ALIVE),
           (_TS.ALIVE, _TT.HEARTBEAT, _TS.ALIVE),
           (_TS.ALIVE, _TT.HEARTBEAT_TIMEOUT, _TS.DEAD)),
    {_TS.DEAD: "no TCS heartbeat for `[tcs] heartbeat_timeout` seconds, or none yet since "
               "`ocd run` started: no shot starts",
     _TS.ALIVE: "TCS heartbeats arrive"})


class TcsState(Machine[TcsStateName, TcsTrigger]):
    """``alive`` while TCS heartbeats arrive within ``timeout`` seconds, else ``dead``."""

    def __init__(self, timeout: float) -> None:
        super().__init__(TCS)
        self.timeout = timeout
        self.last_heartbeat: float | None = None

    def heartbeat(self, now: float) -> StateChange | None:
        self.last_heartbeat = now
        return self.fire(_HEARTBEAT, "TCS heartbeat received")

    def tick(self, now: float) -> StateChange | None:
        if self.state is _ALIVE and self.last_heartbeat is not None \
                and now - self.last_heartbeat > self.timeout:
            return self.fire(_HEARTBEAT_TIMEOUT,
                             f"no TCS heartbeat for {now - self.last_heartbeat:.1f} s "
                             f"(timeout {self.timeout:g} s)")
        return None

    def deadline(self) -> float:
        """When :meth:`tick` would declare the TCS dead if no heartbeat comes before (a tick
        must come strictly after it); infinity when it is not alive."""
        if self.state is _ALIVE and self.last_heartbeat is not None:
            return self.last_heartbeat + self.timeout
        return math.inf


# -- metrology ---------------------------------------------------------------------------------
@dataclass
class GuiderReading:
    """The latest metrology from one guide probe."""

    seeing: float | None
    transparency: float | None
    time: float


@dataclass
class MetrologyLimits:
    """Thresholds of acceptable conditions, and how long a reading stays valid."""

    max_seeing: float = 3.0
    min_transparency: float = 0.5
    stale_after: float = 300.0


def median(values: list[float]) -> float:
    """The median, as :func:`statistics.median` computes it, without its generality: it is
    taken at every heartbeat and tick, of two readings or so."""
    if len(values) == 2:  # two guiders, the usual case
        return (values[0] + values[1]) / 2
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


class _Conditions(NamedTuple):
    """The conditions computed at ``since``: they hold until the fresh reading taken at
    ``oldest`` goes stale (a stale reading stays stale as time goes on), unless a reading
    comes or the limits change."""

    values: tuple[float | None, float | None]
    since: float
    oldest: float | None
    limits: MetrologyLimits


class MetrologyStateName(Name):
    STALE = "stale"
    GOOD = "good"
    BAD = "bad"


class MetrologyTrigger(Name):
    #: No fresh reading.
    STALE = "stale"
    #: The fresh readings are within the limits (published as ``conditions``).
    CONDITIONS_GOOD = "conditions_good"
    #: Seeing or transparency outside the limits (published as ``conditions``).
    CONDITIONS_BAD = "conditions_bad"


_MS, _MT = MetrologyStateName, MetrologyTrigger
_NO_READING, _BAD_READINGS, _GOOD_READINGS = _MT.STALE, _MT.CONDITIONS_BAD, _MT.CONDITIONS_GOOD
METROLOGY = MachineSpec(
    "metrology", MetrologyStateName, MetrologyTrigger, _MS.STALE,
    {(state, trigger): Move(new, "stale" if trigger is _MT.STALE else "conditions")
     for state in MetrologyStateName
     for trigger, new in ((_MT.STALE, _MS.STALE), (_MT.CONDITIONS_GOOD, _MS.GOOD),
                          (_MT.CONDITIONS_BAD, _MS.BAD))},
    {_MS.STALE: "no guider reading younger than `[run] metrology_stale_after` (usual between "
                "shots: the guiders measure while tracking); shots may start",
     _MS.GOOD: "the fresh readings are within `[run] max_seeing` and `min_transparency`",
     _MS.BAD: "seeing too wide or transparency too low: no shot starts"})


def judgement(seeing: float | None, transparency: float | None,
              limits: MetrologyLimits) -> MetrologyTrigger:
    """What the median ``seeing`` and ``transparency`` of the fresh readings say: no reading,
    good or bad. Monotone: a better seeing or transparency never turns good into bad (a
    simulation relies on it to skip readings that cannot change the state)."""
    if seeing is None and transparency is None:
        return _NO_READING
    if (seeing is not None and seeing > limits.max_seeing) or (
            transparency is not None and transparency < limits.min_transparency):
        return _BAD_READINGS
    return _GOOD_READINGS


class MetrologyState(Machine[MetrologyStateName, MetrologyTrigger]):
    """``good`` or ``bad`` conditions from the guiders' fresh readings, or ``stale`` without any.

    Conditions are the median of the fresh readings of the guiders (with two, their mean), so
    one probe on a poor star does not alone decide the night.
    """

    def __init__(self, limits: MetrologyLimits) -> None:
        super().__init__(METROLOGY)
        self.limits = limits
        self._readings: dict[str, GuiderReading] = {}
        self._conditions: _Conditions | None = None

    @property
    def readings(self) -> Mapping[str, GuiderReading]:
        """The latest reading of each guider (read-only: :meth:`reading` records one)."""
        return self._readings

    def conditions(self, now: float) -> tuple[float | None, float | None]:
        """Median seeing and transparency of the fresh readings (None when unknown).

        Asked at every heartbeat, tick and decision, but the answer only changes with a new
        reading or when the oldest fresh one goes stale: it is kept until then."""
        kept = self._conditions
        limits = self.limits
        if kept is not None and kept.limits is limits and kept.since <= now and (
                kept.oldest is None or now - kept.oldest <= limits.stale_after):
            return kept.values
        stale_after = limits.stale_after
        seeing: list[float] = []
        transparency: list[float] = []
        oldest: float | None = None
        for reading in self._readings.values():
            if now - reading.time <= stale_after:
                if oldest is None or reading.time < oldest:
                    oldest = reading.time
                if reading.seeing is not None:
                    seeing.append(reading.seeing)
                if reading.transparency is not None:
                    transparency.append(reading.transparency)
        values = (median(seeing) if seeing else None,
                  median(transparency) if transparency else None)
        self._conditions = _Conditions(values, now, oldest, limits)
        return values

    def reading(self, guider: str, seeing: float | None, transparency: float | None,
                now: float) -> StateChange | None:
        self._readings[guider] = GuiderReading(seeing, transparency, now)
        self._conditions = None
        return self.tick(now)

    def deadline(self, now: float) -> float:
        """When a fresh reading goes stale (the conditions, and maybe the state, change then)
        if no reading comes before; infinity when none is fresh."""
        stale_after = self.limits.stale_after
        fresh = [r.time for r in self._readings.values() if now - r.time <= stale_after]
        return min(fresh) + stale_after if fresh else math.inf

    def tick(self, now: float) -> StateChange | None:
        seeing, transparency = self.conditions(now)
        limits = self.limits
        trigger = judgement(seeing, transparency, limits)
        move = self._table.get((self.state, trigger))
        if move is not None and move.new_state is self.state:
            return None  # the message is only written for a move (this runs at every tick)
        return self.fire(trigger, self._describe(trigger, seeing, transparency))

    def _describe(self, trigger: MetrologyTrigger, seeing: float | None,
                  transparency: float | None) -> str:
        limits = self.limits
        if trigger is _NO_READING:
            return f"no guider metrology for {limits.stale_after:g} s"
        if trigger is _BAD_READINGS:
            problems = []
            if seeing is not None and seeing > limits.max_seeing:
                problems.append(f"seeing {seeing:.2f}\" > {limits.max_seeing:g}\"")
            if transparency is not None and transparency < limits.min_transparency:
                problems.append(f"transparency {transparency:.2f} < "
                                f"{limits.min_transparency:g}")
            return ", ".join(problems)
        return ", ".join(filter(None, [
            f"seeing {seeing:.2f}\"" if seeing is not None else "",
            f"transparency {transparency:.2f}" if transparency is not None else ""]))


# -- hetdex_allowed ----------------------------------------------------------------------------
class HetdexAllowedStateName(Name):
    NOT_ALLOWED = "not_allowed"
    ALLOWED = "allowed"


class HetdexAllowedTrigger(Name):
    ALLOW = "allow"
    FORBID = "forbid"


_HS, _HT = HetdexAllowedStateName, HetdexAllowedTrigger
HETDEX_ALLOWED = MachineSpec(
    "hetdex_allowed", HetdexAllowedStateName, HetdexAllowedTrigger, _HS.NOT_ALLOWED,
    _moves(*((state, _HT.ALLOW, _HS.ALLOWED) for state in _HS),
           *((state, _HT.FORBID, _HS.NOT_ALLOWED) for state in _HS)),
    {_HS.NOT_ALLOWED: "automatic shots forbidden: the state at start, and after "
                      "`ocd allow_hetdex stop`",
     _HS.ALLOWED: "automatic shots allowed by `ocd allow_hetdex start`"})


class HetdexAllowedState(Machine[HetdexAllowedStateName, HetdexAllowedTrigger]):
    """Whether automatic shots may run; starts ``not_allowed`` (the RA must allow them)."""

    def __init__(self) -> None:
        super().__init__(HETDEX_ALLOWED)

    def set(self, allowed: bool, by: str = "") -> StateChange | None:
        who = f" by {by}" if by else ""
        if allowed:
            return self.fire(HetdexAllowedTrigger.ALLOW, f"HETDEX shots allowed{who}")
        return self.fire(HetdexAllowedTrigger.FORBID, f"HETDEX shots forbidden{who}")


# -- run_shot ----------------------------------------------------------------------------------
@dataclass
class RunningShot:
    """What the main loop knows about a shot in progress, from its events."""

    shotid: str
    origin: str
    started: float
    last_event: float


class RunShotStateName(Name):
    IDLE = "idle"
    RUNNING = "running"
    ERROR = "error"


class RunShotTrigger(Name):
    #: A shot's ``run`` start.
    SHOT_STARTED = "shot_started"
    #: The last running shot finished well (or an unfollowed shot's finish while none runs).
    SHOT_FINISHED = "shot_finished"
    #: The last running shot failed, or another failed less than ``error_pause`` before.
    SHOT_FAILED = "shot_failed"
    #: The last running shot was aborted on purpose (``ocd abort``, a stop): no error pause.
    SHOT_ABORTED = "shot_aborted"
    #: ``error_pause`` seconds after the failure.
    ERROR_PAUSE_OVER = "error_pause_over"
    #: The last running shot's publisher fell silent for ``silent_after`` seconds.
    SHOT_SILENT = "shot_silent"


_RS, _RT = RunShotStateName, RunShotTrigger
_RUNNING, _ERROR = _RS.RUNNING, _RS.ERROR
RUN_SHOT = MachineSpec(
    "run_shot", RunShotStateName, RunShotTrigger, _RS.IDLE,
    _moves(*((state, _RT.SHOT_STARTED, _RS.RUNNING) for state in _RS),
           *((state, _RT.SHOT_FINISHED, _RS.IDLE) for state in _RS),
           *((state, _RT.SHOT_FAILED, _RS.ERROR) for state in _RS),
           *((state, _RT.SHOT_ABORTED, _RS.IDLE) for state in _RS),
           (_RS.ERROR, _RT.ERROR_PAUSE_OVER, _RS.IDLE),
           (_RS.RUNNING, _RT.SHOT_SILENT, _RS.ERROR)),
    {_RS.IDLE: "no shot runs",
     _RS.RUNNING: "a shot runs, the main loop's own or one run by hand (`ocd run_shot -e`): "
                  "no other starts",
     _RS.ERROR: "the last shot failed or fell silent for `[run] shot_silent_after`: no shot "
                "starts for `[run] error_pause` seconds"})


class RunShotState(Machine[RunShotStateName, RunShotTrigger]):
    """``idle``, ``running`` (a shot's ``run`` start seen), ``error`` after a failed shot.

    ``error`` lasts ``error_pause`` seconds so a failing shot does not loop at full speed; a
    running shot whose publisher falls silent for ``silent_after`` seconds is declared failed,
    so a crashed ``ocd run_shot`` cannot block the night.

    Shots are followed per publisher (``__origin``): an RA may run a shot by hand
    (``ocd run_shot -e``) while the main loop's own runs, and the end of one must not count
    as the end of the other. The machine is ``running`` while any of them runs; when the last
    one ends it goes ``idle``, or ``error`` if that one failed or another failed less than
    ``error_pause`` seconds before.
    """

    def __init__(self, error_pause: float, silent_after: float) -> None:
        super().__init__(RUN_SHOT)
        self.error_pause = error_pause
        self.silent_after = silent_after
        #: The running shots, by publisher, in the order they started.
        self.shots: dict[str, RunningShot] = {}
        self.error_since: float | None = None
        #: A shot that failed while another ran: (when, message, traceback).
        self._failure: tuple[float, str, str | None] | None = None

    @property
    def shot(self) -> RunningShot | None:
        """The running shot started last (None when none runs)."""
        return next(reversed(self.shots.values()), None)

    def event(self, event: ShotEvent, now: float) -> StateChange | None:
        """Follow one event of a shot: any of them is a sign of its publisher's life."""
        self.heard_from(event.origin, now)
        if isinstance(event, ShotStarted):
            return self._started(event, now)
        if isinstance(event, ShotEnded):
            return self._ended(event, now)
        return None

    def heard_from(self, origin: str, now: float) -> None:
        """The publisher ``origin`` said something (an event of its shot, an answer to a
        command): its shot, if one runs, is not silent."""
        running = self.shots.get(origin)
        if running is not None:
            running.last_event = now

    def _started(self, event: ShotStarted, now: float) -> StateChange | None:
        origin, shotid = event.origin, event.shotid or ""
        self.shots.pop(origin, None)  # (a lost finish: its next shot replaces it)
        self.shots[origin] = RunningShot(shotid, origin, now, now)
        self.error_since = None
        self._failure = None
        return self.fire(RunShotTrigger.SHOT_STARTED, f"shot {shotid} started ({origin})")

    def _ended(self, event: ShotEnded, now: float) -> StateChange | None:
        aborted, shotid = event.aborted, event.shotid or ""
        failed = event.failed and not aborted  # an abort is asked for: no error pause
        reason = event.exc_value or event.exc_type or "error"
        message = f"shot {shotid} failed: {reason}" if failed else \
            f"shot {shotid} {reason}" if aborted else f"shot {shotid} finished"
        traceback = event.traceback if failed else None
        if self.shots:
            # a restarted ``ocd run`` closing the shot its killed predecessor ran names that
            # publisher in ``shot_origin``
            origin, named = event.origin, event.shot_origin
            ended = origin if origin in self.shots else named if named in self.shots else None
            if ended is None:
                return None  # the end of a shot we do not follow
            del self.shots[ended]
            if self.shots:  # another shot still runs
                if failed:
                    self._failure = (now, message, traceback)
                return None
        return self._last_ended(now, failed, message, traceback, aborted)

    def _last_ended(self, now: float, failed: bool, message: str,
                    traceback: str | None, aborted: bool = False) -> StateChange | None:
        failure, self._failure = self._failure, None
        if failed:
            self.error_since = now
            return self.fire(RunShotTrigger.SHOT_FAILED, message, traceback)
        if failure is not None and now - failure[0] < self.error_pause:
            self.error_since = failure[0]
            return self.fire(RunShotTrigger.SHOT_FAILED, failure[1], failure[2])
        if aborted:
            return self.fire(RunShotTrigger.SHOT_ABORTED, message)
        return self.fire(RunShotTrigger.SHOT_FINISHED, message)

    def tick(self, now: float) -> StateChange | None:
        if self.state is _ERROR and self.error_since is not None \
                and now - self.error_since >= self.error_pause:
            self.error_since = None
            return self.fire(RunShotTrigger.ERROR_PAUSE_OVER,
                             f"{self.error_pause:g} s after the failed shot")
        if self.state is not _RUNNING:
            return None
        silent = [s for s in self.shots.values() if now - s.last_event > self.silent_after]
        for shot in silent:
            del self.shots[shot.origin]
        if not silent:
            return None
        shot = silent[0]
        message = (f"no event from shot {shot.shotid} ({shot.origin}) for "
                   f"{now - shot.last_event:.0f} s: considered failed")
        if self.shots:
            self._failure = (now, message, None)
            return None
        self._failure = None
        self.error_since = now
        return self.fire(RunShotTrigger.SHOT_SILENT, message)

    def deadline(self) -> float:
        """When :meth:`tick` can next move: the end of the error pause (a tick at or after
        it), or a running shot declared silent (strictly after it) if it says nothing before;
        infinity otherwise."""
        if self.state is _ERROR and self.error_since is not None:
            return self.error_since + self.error_pause
        if self.state is _RUNNING and self.shots:
            return min(s.last_event for s in self.shots.values()) + self.silent_after
        return math.inf


# -- pending -----------------------------------------------------------------------------------
class PendingStateName(Name):
    IDLE = "idle"
    SCHEDULING = "scheduling"
    STARTING = "starting"


class PendingTrigger(Name):
    #: Conditions met, no pause: the scheduler is asked.
    SCHEDULE = "schedule"
    #: The scheduler chose a shot, conditions still met: it takes its number and starts.
    SHOT_CHOSEN = "shot_chosen"
    #: The scheduler found nothing to do.
    NO_SHOT = "no_shot"
    #: Conditions changed while scheduling or before the start: the shot does not start.
    CONDITIONS_CHANGED = "conditions_changed"
    #: The chosen shot's ``ocd.run_shot.run`` start arrived: ``run_shot`` follows it now.
    SHOT_STARTED = "shot_started"
    #: The scheduler or the start took longer than its timeout.
    TIMEOUT = "timeout"
    #: The scheduler or the start raised.
    FAILED = "failed"


_PS, _PT = PendingStateName, PendingTrigger
PENDING = MachineSpec(
    "pending", PendingStateName, PendingTrigger, _PS.IDLE,
    _moves((_PS.IDLE, _PT.SCHEDULE, _PS.SCHEDULING),
           (_PS.SCHEDULING, _PT.SHOT_CHOSEN, _PS.STARTING),
           (_PS.SCHEDULING, _PT.NO_SHOT, _PS.IDLE),
           (_PS.STARTING, _PT.SHOT_STARTED, _PS.IDLE),
           *((state, trigger, _PS.IDLE)
             for state in (_PS.SCHEDULING, _PS.STARTING)
             for trigger in (_PT.CONDITIONS_CHANGED, _PT.TIMEOUT, _PT.FAILED))),
    {_PS.IDLE: "no step toward a shot under way",
     _PS.SCHEDULING: "the scheduler runs (in the background, within `[run] schedule_timeout` "
                     "real seconds): shown as `pending` in `ocd.main_loop.status`",
     _PS.STARTING: "a chosen shot takes its observation number and starts; its "
                   "`ocd.run_shot.run` start is awaited for `[run] start_timeout` seconds"})


class PendingState(Machine[PendingStateName, PendingTrigger]):
    """The main loop's own step toward a shot: ``idle``, ``scheduling`` or ``starting``.

    The orchestrator fires its triggers as the scheduler and the start answer or time out;
    ``since`` is when the current step began and ``shot`` the shot being started.
    """

    def __init__(self) -> None:
        super().__init__(PENDING)
        self.since = 0.0
        self.shot: str | None = None

    def move(self, trigger: PendingTrigger, msg: str, now: float, shot: str | None = None
             ) -> StateChange | None:
        """Fire ``trigger``; the step now under way began at ``now`` (for ``shot``)."""
        change = self.fire(trigger, msg)
        self.since, self.shot = now, shot
        return change


# -- meta --------------------------------------------------------------------------------------
class MetaStateName(Name):
    UNSATISFIED = "unsatisfied"
    SATISFIED = "satisfied"


class MetaTrigger(Name):
    UNSATISFIED = "unsatisfied"
    SATISFIED = "satisfied"


_ES, _ET = MetaStateName, MetaTrigger
_UNSATISFIED, _SATISFIED = _ET.UNSATISFIED, _ET.SATISFIED
META = MachineSpec(
    "meta", MetaStateName, MetaTrigger, _ES.UNSATISFIED,
    _moves(*((state, _ET.UNSATISFIED, _ES.UNSATISFIED) for state in _ES),
           *((state, _ET.SATISFIED, _ES.SATISFIED) for state in _ES)),
    {_ES.UNSATISFIED: "some machine is not in a state that allows a shot: "
                      "`ocd.main_loop.waiting` says which",
     _ES.SATISFIED: "run_shot idle, hetdex_allowed allowed, tcs alive, metrology good or "
                    "stale: the scheduler is asked for a shot"})


class MetaState(Machine[MetaStateName, MetaTrigger]):
    """``satisfied`` when every other machine is in a wanted state, else ``unsatisfied``."""

    #: For each machine, the states that allow a new shot. Stale metrology is accepted: the
    #: guiders only measure while the telescope tracks, so between shots it is usually stale.
    WANTED: Mapping[str, tuple[Name, ...]] = {
        "run_shot": (RunShotStateName.IDLE,),
        "hetdex_allowed": (HetdexAllowedStateName.ALLOWED,),
        "tcs": (TcsStateName.ALIVE,),
        "metrology": (MetrologyStateName.GOOD, MetrologyStateName.STALE)}

    def __init__(self, machines: list[Machine[Any, Any]]) -> None:
        super().__init__(META)
        self.machines = tuple(machines)
        #: The reasons found by the last :meth:`update`.
        self.last_reasons: list[str] = self.reasons()
        self._updated_for: tuple[Name, ...] | None = None

    def reasons(self) -> list[str]:
        """Why a shot cannot start now, one phrase per unsatisfied machine."""
        return [f"{m.name} is {m.state} (needs {' or '.join(self.WANTED[m.name])})"
                for m in self.machines if m.state not in self.WANTED.get(m.name, (m.state,))]

    def update(self) -> StateChange | None:
        """Follow the other machines. Called at every input; when none of their states has
        moved since the last call, the same trigger fires again (the reasons are kept)."""
        states = tuple([m.state for m in self.machines])
        if states == self._updated_for:
            return self.fire(_UNSATISFIED if self.last_reasons else _SATISFIED)  # stays
        self._updated_for = states
        reasons = self.last_reasons = self.reasons()
        if reasons:
            return self.fire(_UNSATISFIED, "; ".join(reasons))
        return self.fire(_SATISFIED, "all conditions met")


#: Every machine, in the order they are published.
MACHINES: tuple[MachineSpec[Any, Any], ...] = (RUN_SHOT, HETDEX_ALLOWED, TCS, METROLOGY, META,
                                               PENDING)
