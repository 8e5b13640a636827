"""Alarms: what needs a person, as pure rules over the typed events and the clock. No I/O.

Each rule follows the events it cares about (:meth:`Rule.observe`) and says, at any time
``now`` (Unix seconds of OCD's clock, passed in), whether its condition holds
(:meth:`Rule.check`): a :class:`Condition` with a severity, a one-line reason and the time it
began, or None. The :class:`AlarmBook` runs every rule, keeps one state machine per alarm
(a table, as the main loop's machines in :mod:`ocd.core.states`: normal, raised,
acknowledged, muted) and turns what the rules say into changes to publish: raised, cleared,
acknowledged, muted, and raised again when a critical alarm stays unacknowledged
(escalation). The shell (``ocd alarms watch``) feeds it events and ticks and publishes what it
returns. The design follows Rubin's Watcher (rules over the event stream, severities,
acknowledge, mute, escalation).

Text from outside (an error message, a user name, a shot id) is escaped with
:func:`ocd.errors.printable` and cut before it goes into a reason: a reason is one line.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ocd.core import state_names
from ocd.core.events import (
    Decision,
    MainError,
    MainStarted,
    MainStatus,
    MainStopping,
    NoShot,
    ShotEnded,
    ShotStarted,
    SignIn,
    TcsHeartbeat,
)
from ocd.core.states import Machine, MachineSpec, Name, StateChange, _moves
from ocd.errors import cut, printable

Severity = Literal["warning", "serious", "critical"]
WARNING: Severity = "warning"
SERIOUS: Severity = "serious"
CRITICAL: Severity = "critical"
#: Severities from the least to the most urgent.
SEVERITIES: tuple[Severity, ...] = (WARNING, SERIOUS, CRITICAL)

#: Longest piece of outside text quoted in a reason.
QUOTE_LIMIT = 120


def quote(text: str | None) -> str:
    """Outside text as it may appear in a reason: escaped, one line, cut."""
    return cut(printable(text or ""), QUOTE_LIMIT)


# -- inputs the envelope tells (the shell computes them from each event's metadata) ----------
@dataclass(frozen=True, slots=True)
class ClockSample:
    """An event's clock compared with ours: ``kind`` its ``__clock`` (``real`` or ``mock``),
    ``offset`` its ``__ocd_utc`` minus our OCD time when it was sent, in real seconds (an
    offset on a mock clock divided by its speed), None if unreadable."""

    origin: str
    kind: str
    offset: float | None


@dataclass(frozen=True, slots=True)
class EventsLost:
    """A sequence gap: ``missing`` events of publisher ``origin`` never arrived."""

    origin: str
    missing: int


# -- what a rule says ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Condition:
    """An alarm's condition holds: how urgent, why (one line) and since when (OCD time)."""

    severity: Severity
    reason: str
    since: float


@dataclass(frozen=True)
class Thresholds:
    """``[alarms]``: the limits of the rules (seconds unless named otherwise)."""

    tcs_heartbeat_timeout: float = 10.0
    main_loop_silent: float = 30.0
    metrology_bad: float = 1800.0
    no_shot: float = 1800.0
    error_hold: float = 600.0
    clock_offset: float = 1.0
    clock_forget: float = 120.0
    lost_hold: float = 300.0
    sign_in_failures: int = 5
    sign_in_window: float = 300.0


class Rule(Protocol):
    """One alarm rule: its id (the alarm's, on the wire) and what it means for people."""

    id: str
    summary: str

    def observe(self, event: object, now: float) -> None:
        """Take one event into account (an event the rule does not follow is ignored)."""

    def check(self, now: float) -> Condition | None:
        """The condition at ``now``, or None when all is well."""


class SilenceRule:
    """An alarm when the events of one kind stop for longer than ``timeout``; the silence
    counts from ``start`` (the watcher's start) until the first one comes."""

    def __init__(self, id: str, summary: str, kinds: tuple[type, ...], severity: Severity,
                 what: str, timeout: float, start: float) -> None:
        self.id, self.summary, self.kinds = id, summary, kinds
        self.severity, self.what, self.timeout = severity, what, timeout
        self.last = start

    def observe(self, event: object, now: float) -> None:
        if isinstance(event, self.kinds):
            self.last = now

    def check(self, now: float) -> Condition | None:
        silent = now - self.last
        if silent <= self.timeout:
            return None
        return Condition(self.severity, f"no {self.what} for {silent:.0f} s "
                                        f"(limit {self.timeout:g} s)", self.last + self.timeout)


class TcsHeartbeatLost(SilenceRule):
    def __init__(self, timeout: float, start: float) -> None:
        super().__init__("tcs_heartbeat", "the TCS heartbeat stopped", (TcsHeartbeat,),
                         CRITICAL, "TCS heartbeat", timeout, start)


class MainLoopSilent(SilenceRule):
    """No ``ocd.main_loop.status``; a main loop that said it stops is not silent until it
    starts again (nobody runs it on purpose)."""

    def __init__(self, timeout: float, start: float) -> None:
        super().__init__("main_loop_silent", "the main loop stopped answering",
                         (MainStatus, MainStarted), SERIOUS, "main loop status", timeout, start)
        self.stopped = False

    def observe(self, event: object, now: float) -> None:
        super().observe(event, now)
        if isinstance(event, MainStopping):
            self.stopped = True
        elif isinstance(event, self.kinds):
            self.stopped = False

    def check(self, now: float) -> Condition | None:
        return None if self.stopped else super().check(now)


class ShotFailed:
    """A shot failed (serious) or was aborted (warning); cleared when the next shot starts.
    A shot cut short because ``ocd run`` stopped is not an alarm (that stop is its own)."""

    id, summary = "shot_failed", "the last shot failed or was aborted"

    def __init__(self) -> None:
        self.condition: Condition | None = None

    def observe(self, event: object, now: float) -> None:
        if isinstance(event, ShotStarted):
            self.condition = None
        elif isinstance(event, ShotEnded) and event.failed and not event.shut_down:
            what = "aborted" if event.aborted else "failed"
            detail = quote(event.exc_value or event.exc_type)
            self.condition = Condition(
                WARNING if event.aborted else SERIOUS,
                f"shot {quote(event.shotid)} {what}" + (f": {detail}" if detail else ""), now)
        elif isinstance(event, ShotEnded):
            self.condition = None

    def check(self, now: float) -> Condition | None:
        return self.condition


class MainLoopError:
    """``ocd.main_loop.error`` (the observation-number stage has its own rule): serious when it
    pauses the main loop's decisions, else a warning; cleared ``hold`` s after the last one,
    or when a shot starts."""

    id, summary = "main_loop_error", "a step of the main loop failed"

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.condition: Condition | None = None
        self.last = 0.0

    def observe(self, event: object, now: float) -> None:
        if isinstance(event, MainError) and event.stage != "obsnum":
            since = self.condition.since if self.condition else now
            severity = SERIOUS if event.pauses else WARNING
            if self.condition and self.condition.severity == SERIOUS:
                severity = SERIOUS
            self.condition = Condition(severity, f"main loop error at stage "
                                                 f"{quote(event.stage)}: {quote(event.error)}",
                                       since)
            self.last = now
        elif isinstance(event, ShotStarted):
            self.condition = None

    def check(self, now: float) -> Condition | None:
        if self.condition is not None and now - self.last > self.hold:
            self.condition = None
        return self.condition


class ObsnumUnreachable:
    """The observation-number database failed a start (``stage`` obsnum): critical, a shot
    cannot be numbered; cleared when a shot starts with a number."""

    id, summary = "obsnum_unreachable", "the observation-number database is unreachable"

    def __init__(self) -> None:
        self.condition: Condition | None = None

    def observe(self, event: object, now: float) -> None:
        if isinstance(event, MainError) and event.stage == "obsnum":
            since = self.condition.since if self.condition else now
            self.condition = Condition(CRITICAL, "observation numbers unavailable: "
                                                 f"{quote(event.error)}", since)
        elif isinstance(event, ShotStarted) and event.observation is not None:
            self.condition = None

    def check(self, now: float) -> Condition | None:
        return self.condition


class _StatusRule:
    """A rule on the main loop's status: its condition begins with the first status where it
    holds and ends with the first where it does not."""

    severity: Severity = SERIOUS

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.began: float | None = None

    def holds(self, event: MainStatus) -> bool:
        raise NotImplementedError

    def reason(self, lasted: float) -> str:
        raise NotImplementedError

    def observe(self, event: object, now: float) -> None:
        if isinstance(event, MainStatus):
            if not self.holds(event):
                self.began = None
            elif self.began is None:
                self.began = now

    def check(self, now: float) -> Condition | None:
        if self.began is None or now - self.began <= self.limit:
            return None
        return Condition(self.severity, self.reason(now - self.began), self.began + self.limit)


def _allowed(status: MainStatus) -> bool:
    return (status.states or {}).get(state_names.HETDEX_ALLOWED) == state_names.ALLOWED


class MetrologyBad(_StatusRule):
    """Metrology bad for more than ``limit`` s while HETDEX is allowed."""

    id, summary = "metrology_bad", "bad metrology while HETDEX is allowed"

    def holds(self, event: MainStatus) -> bool:
        return _allowed(event) and \
            (event.states or {}).get(state_names.METROLOGY) == state_names.METROLOGY_BAD

    def reason(self, lasted: float) -> str:
        return (f"metrology bad for {lasted / 60:.0f} min while HETDEX is allowed "
                f"(limit {self.limit / 60:g} min)")


class NoShotTaken(_StatusRule):
    """HETDEX allowed, every condition met (dark, TCS alive, metrology good: the main loop's
    ``meta`` machine satisfied), no shot running, and the scheduler did not say there is none
    to observe: yet no shot started for more than ``limit`` s. A scheduler that fails counts
    as one that should have found a shot."""

    id, summary = "no_shot", "HETDEX allowed and observable, yet no shot"

    def __init__(self, limit: float) -> None:
        super().__init__(limit)
        self.nothing_to_observe = False

    def observe(self, event: object, now: float) -> None:
        if isinstance(event, NoShot):
            self.nothing_to_observe = not event.scheduler_failed
        elif isinstance(event, (Decision, ShotStarted)):
            self.nothing_to_observe = False
        if isinstance(event, ShotStarted):
            self.began = None
        super().observe(event, now)

    def holds(self, event: MainStatus) -> bool:
        return _allowed(event) and not self.nothing_to_observe \
            and event.running_shot is None \
            and (event.states or {}).get(state_names.META) == state_names.SATISFIED

    def reason(self, lasted: float) -> str:
        return (f"HETDEX allowed and conditions met, yet no shot for {lasted / 60:.0f} min "
                f"(limit {self.limit / 60:g} min)")


class ClocksDisagree:
    """Processes on different clocks: an origin's clock of another kind (mock and real), or
    its time off ours by more than ``limit`` s. An origin not heard for ``forget`` s is
    forgotten (at most ``MAX_ORIGINS`` are kept)."""

    id, summary = "clocks_disagree", "processes on different clocks"
    MAX_ORIGINS = 256

    def __init__(self, kind: str, limit: float, forget: float) -> None:
        self.kind, self.limit, self.forget = kind, limit, forget
        self.off: dict[str, tuple[str, float]] = {}  # origin -> (what is wrong, since)
        self.heard: dict[str, float] = {}

    def observe(self, event: object, now: float) -> None:
        if not isinstance(event, ClockSample):
            return
        wrong = None
        if event.kind != self.kind:
            wrong = f"{quote(event.origin)} runs a {quote(event.kind)} clock, not {self.kind}"
        elif event.offset is not None and abs(event.offset) > self.limit:
            wrong = f"{quote(event.origin)} is {event.offset:+.1f} s off"
        self.heard.pop(event.origin, None)
        self.heard[event.origin] = now
        if wrong is None:
            self.off.pop(event.origin, None)
        else:
            self.off[event.origin] = (wrong, self.off.get(event.origin, ("", now))[1])
        while len(self.heard) > self.MAX_ORIGINS:
            oldest = next(iter(self.heard))
            del self.heard[oldest]
            self.off.pop(oldest, None)

    def check(self, now: float) -> Condition | None:
        for origin in [o for o, at in self.heard.items() if now - at > self.forget]:
            del self.heard[origin]
            self.off.pop(origin, None)
        if not self.off:
            return None
        first = min(since for _, since in self.off.values())
        wrongs = "; ".join(wrong for wrong, _ in list(self.off.values())[:3])
        more = f" and {len(self.off) - 3} more" if len(self.off) > 3 else ""
        return Condition(SERIOUS, wrongs + more, first)


class EventsLostOnBus:
    """Events lost on the bus (sequence gaps): a warning, cleared ``hold`` s after the last
    gap."""

    id, summary = "events_lost", "events lost on the bus"

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.since: float | None = None
        self.last = 0.0
        self.lost = 0
        self.origin = ""

    def observe(self, event: object, now: float) -> None:
        if isinstance(event, EventsLost) and event.missing > 0:
            if self.since is None:
                self.since, self.lost = now, 0
            self.lost += event.missing
            self.last = now
            self.origin = quote(event.origin)

    def check(self, now: float) -> Condition | None:
        if self.since is not None and now - self.last > self.hold:
            self.since = None
        if self.since is None:
            return None
        return Condition(WARNING, f"{self.lost} event(s) lost on the bus, last from "
                                  f"{self.origin}", self.since)


class SignInFailures:
    """At least ``count`` failed sign-ins on the board within ``window`` s: someone guesses
    passwords, or a user has forgotten theirs."""

    id, summary = "sign_in_failures", "repeated sign-in failures on the board"

    def __init__(self, count: int, window: float) -> None:
        self.count, self.window = count, window
        self.failures: deque[tuple[float, str]] = deque(maxlen=max(count, 1))

    def observe(self, event: object, now: float) -> None:
        if isinstance(event, SignIn) and not event.ok:
            self.failures.append((now, quote(event.user)))

    def check(self, now: float) -> Condition | None:
        while self.failures and now - self.failures[0][0] > self.window:
            self.failures.popleft()
        if len(self.failures) < self.count:
            return None
        users = ", ".join(dict.fromkeys(user for _, user in self.failures))
        return Condition(WARNING, f"{len(self.failures)} failed sign-ins within "
                                  f"{self.window:g} s (users: {users})", self.failures[0][0])


def default_rules(thresholds: Thresholds, start: float, clock_kind: str = "real"
                  ) -> list[Rule]:
    """Every rule, with ``thresholds``, for a watcher started at ``start`` on a ``clock_kind``
    clock."""
    t = thresholds
    return [TcsHeartbeatLost(t.tcs_heartbeat_timeout, start),
            MainLoopSilent(t.main_loop_silent, start),
            ShotFailed(), MainLoopError(t.error_hold), ObsnumUnreachable(),
            MetrologyBad(t.metrology_bad), NoShotTaken(t.no_shot),
            ClocksDisagree(clock_kind, t.clock_offset, t.clock_forget),
            EventsLostOnBus(t.lost_hold), SignInFailures(t.sign_in_failures, t.sign_in_window)]


# -- one alarm's state machine ---------------------------------------------------------------
class AlarmStateName(Name):
    NORMAL = "normal"
    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    MUTED = "muted"


class AlarmTrigger(Name):
    RAISE = "raise"
    ESCALATE = "escalate"
    ACKNOWLEDGE = "acknowledge"
    MUTE = "mute"
    UNMUTE = "unmute"
    CLEAR = "clear"


_AS, _AT = AlarmStateName, AlarmTrigger
ALARM = MachineSpec(
    "alarm", AlarmStateName, AlarmTrigger, _AS.NORMAL,
    _moves((_AS.NORMAL, _AT.RAISE, _AS.RAISED),
           (_AS.RAISED, _AT.ESCALATE, _AS.RAISED),
           (_AS.RAISED, _AT.ACKNOWLEDGE, _AS.ACKNOWLEDGED),
           (_AS.ACKNOWLEDGED, _AT.ACKNOWLEDGE, _AS.ACKNOWLEDGED),
           (_AS.RAISED, _AT.MUTE, _AS.MUTED),
           (_AS.ACKNOWLEDGED, _AT.MUTE, _AS.MUTED),
           (_AS.MUTED, _AT.MUTE, _AS.MUTED),
           (_AS.MUTED, _AT.UNMUTE, _AS.RAISED),
           (_AS.RAISED, _AT.CLEAR, _AS.NORMAL),
           (_AS.ACKNOWLEDGED, _AT.CLEAR, _AS.NORMAL),
           (_AS.MUTED, _AT.CLEAR, _AS.NORMAL)),
    {_AS.NORMAL: "the rule's condition does not hold",
     _AS.RAISED: "the condition holds and nobody has acknowledged it yet (a critical alarm "
                 "is raised again every `[alarms] escalate_after` minutes)",
     _AS.ACKNOWLEDGED: "a person has seen it; it stays until the condition ends",
     _AS.MUTED: "silenced until a given time; raised again then if the condition holds"})


class AlarmError(Exception):
    """An alarm operation that cannot be done (unknown alarm, nothing to acknowledge)."""


@dataclass
class Alarm:
    """One rule's alarm: its machine, condition, and who acknowledged or muted it."""

    id: str
    summary: str
    machine: Machine[AlarmStateName, AlarmTrigger]
    condition: Condition | None = None
    by: str | None = None
    muted_until: float | None = None
    raised_at: float | None = None  # last (re-)raise, for escalation
    raises: int = 0

    @property
    def state(self) -> str:
        return str(self.machine.state)

    def as_payload(self) -> dict[str, Any]:
        """The fields of every ``ocd.alarm.*`` event and of a line of ``ocd.alarm.list``."""
        c = self.condition
        return {"alarm": self.id, "state": self.state, "summary": self.summary,
                "severity": c.severity if c else None, "reason": c.reason if c else None,
                "since": c.since if c else None, "by": self.by,
                "muted_until": self.muted_until}


Kind = Literal["raised", "cleared", "acknowledged", "muted", "escalated"]


@dataclass(frozen=True)
class AlarmChange:
    """Something to publish: ``kind`` (``ocd.alarm.<kind>``; an escalation is published as
    ``raised`` with ``escalated`` true) and the alarm's fields then."""

    kind: Kind
    payload: Mapping[str, Any]
    change: StateChange | None = field(default=None, compare=False)


class AlarmBook:
    """Every alarm of ``rules``: feed events with :meth:`observe`, ask :meth:`evaluate` at each
    tick, apply operators' :meth:`acknowledge` and :meth:`mute`."""

    def __init__(self, rules: Iterable[Rule], escalate_after: float) -> None:
        self.rules = list(rules)
        self.escalate_after = escalate_after
        self.alarms = {rule.id: Alarm(rule.id, rule.summary, Machine(ALARM))
                       for rule in self.rules}

    def observe(self, event: object, now: float) -> None:
        for rule in self.rules:
            rule.observe(event, now)

    def _change(self, alarm: Alarm, kind: Kind, change: StateChange | None,
                **extra: Any) -> AlarmChange:
        return AlarmChange(kind, {**alarm.as_payload(), **extra}, change)

    def evaluate(self, now: float) -> list[AlarmChange]:
        """The changes since the last evaluation: alarms raised or cleared by their rules,
        mutes ended, critical alarms raised again for want of an acknowledgement."""
        changes: list[AlarmChange] = []
        for rule in self.rules:
            alarm = self.alarms[rule.id]
            condition = rule.check(now)
            state = alarm.machine.state
            if condition is None:
                if state is not _AS.NORMAL:
                    change = alarm.machine.fire(_AT.CLEAR, "condition ended")
                    changes.append(self._change(alarm, "cleared", change))
                    alarm.condition, alarm.by, alarm.muted_until = None, None, None
                continue
            alarm.condition = condition
            if state is _AS.NORMAL:
                changes.append(self._raise(alarm, _AT.RAISE, now, "raised"))
            elif state is _AS.MUTED and alarm.muted_until is not None \
                    and now >= alarm.muted_until:
                alarm.muted_until = None
                changes.append(self._raise(alarm, _AT.UNMUTE, now, "raised"))
            elif state is _AS.RAISED and condition.severity == CRITICAL \
                    and alarm.raised_at is not None \
                    and now - alarm.raised_at >= self.escalate_after:
                changes.append(self._raise(alarm, _AT.ESCALATE, now, "escalated"))
        return changes

    def _raise(self, alarm: Alarm, trigger: AlarmTrigger, now: float, kind: Kind
               ) -> AlarmChange:
        change = alarm.machine.fire(trigger, alarm.condition.reason if alarm.condition else "")
        alarm.raised_at, alarm.by = now, None
        alarm.raises = 1 if trigger is _AT.RAISE else alarm.raises + 1
        return self._change(alarm, kind, change, escalated=kind == "escalated",
                            times=alarm.raises)

    def _alarm(self, alarm_id: str) -> Alarm:
        alarm = self.alarms.get(alarm_id)
        if alarm is None:
            raise AlarmError(f"no alarm {quote(alarm_id)} (known: {', '.join(self.alarms)})")
        if alarm.machine.state is _AS.NORMAL:
            raise AlarmError(f"alarm {alarm_id} is not raised")
        return alarm

    def acknowledge(self, alarm_id: str, by: str) -> AlarmChange:
        """``by`` has seen alarm ``alarm_id``; AlarmError if there is no such alarm raised."""
        alarm = self._alarm(alarm_id)
        if alarm.machine.state is _AS.MUTED:
            raise AlarmError(f"alarm {alarm_id} is muted")
        change = alarm.machine.fire(_AT.ACKNOWLEDGE, f"acknowledged by {quote(by)}")
        alarm.by = quote(by)
        return self._change(alarm, "acknowledged", change)

    def mute(self, alarm_id: str, by: str, until: float) -> AlarmChange:
        """Silence alarm ``alarm_id`` until ``until`` (OCD time)."""
        alarm = self._alarm(alarm_id)
        change = alarm.machine.fire(_AT.MUTE, f"muted by {quote(by)}")
        alarm.by, alarm.muted_until = quote(by), until
        return self._change(alarm, "muted", change)

    def listing(self) -> list[dict[str, Any]]:
        """Every alarm not normal, the most urgent first (``ocd.alarm.list``)."""
        active = [a for a in self.alarms.values() if a.condition is not None
                  and a.machine.state is not _AS.NORMAL]
        active.sort(key=lambda a: (-SEVERITIES.index(a.condition.severity)
                                   if a.condition else 0, a.id))
        return [a.as_payload() for a in active]
