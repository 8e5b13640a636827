"""The main loop's decision core: events and clock readings in, actions out. No I/O.

The shell (``ocd.app.main_loop``) decodes every bus event once (:func:`ocd.core.events.decode`)
and feeds the typed event to :meth:`Orchestrator.take`, calls
:meth:`Orchestrator.tick` periodically, and carries out the returned actions: publish an event,
run the scheduler, start a shot, abort, change the configuration. Results of slow work come back
through :meth:`Orchestrator.scheduled`, :meth:`Orchestrator.start_failed` and
:meth:`Orchestrator.step_failed` (a background step that ended with an exception); every
pending step has a timeout, so none can hang the loop.

The orchestrator learns that a shot started only from the ``ocd.run_shot.run`` event, whoever
published it (its own shot runner or an RA's ``ocd run_shot -e``): one path, no side channel.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ocd.core import topics
from ocd.core.commands import RequestLog, ack_payload
from ocd.core.events import (
    AbortShot,
    AllowHetdex,
    CommandReceived,
    ConfigSend,
    GuiderReading,
    InboundEvent,
    Pointing,
    ShotAck,
    ShotEnded,
    ShotProgress,
    ShotStarted,
    ShotStep,
    TcsHeartbeat,
    decode,
)
from ocd.core.states import (
    HetdexAllowedState,
    Machine,
    MetaState,
    MetaStateName,
    MetrologyLimits,
    MetrologyState,
    PendingState,
    PendingStateName,
    PendingTrigger,
    RunShotState,
    RunShotStateName,
    StateChange,
    TcsState,
)
from ocd.core.topics import TcsTopics
from ocd.errors import MAX_ERROR_CHARS, cut
from ocd.timetext import hms_utc


@dataclass(frozen=True)
class Settings:
    """The orchestrator's knobs, from the configuration (times in OCD-clock seconds)."""

    topics: TcsTopics = field(default_factory=TcsTopics)
    heartbeat_timeout: float = 5.0
    metrology: MetrologyLimits = field(default_factory=MetrologyLimits)
    error_pause: float = 300.0
    shot_silent_after: float = 900.0
    reschedule_after: float = 120.0
    start_timeout: float = 60.0
    #: How long the scheduler may take (OCD-clock seconds; the shell converts the real seconds
    #: of ``[run] schedule_timeout``, since the scheduler runs in real time).
    schedule_timeout: float = 120.0
    #: States and status are published at least this often, TCS heartbeats or not.
    status_interval: float = 10.0


# -- actions -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Publish:
    """Publish ``data`` on ``topic`` on the main loop's publisher."""

    topic: str
    data: dict[str, Any]


@dataclass(frozen=True)
class RequestSchedule:
    """Run the scheduler with these conditions; report with :meth:`Orchestrator.scheduled`
    (or :meth:`Orchestrator.step_failed`), passing ``request`` back."""

    seeing: float | None
    transparency: float | None
    request: int = 0


@dataclass(frozen=True)
class StartShot:
    """Allocate an observation number and run this shot on this track (``E`` or ``W``), once
    :meth:`Orchestrator.confirm_start` agrees; ``scheduler`` chose it."""

    shotid: str
    track: str
    scheduler: str = "builtin"


@dataclass(frozen=True)
class Abort:
    """Abort the shot this process runs, if any, and acknowledge request ``request_id``
    (``user``: `` by USER`` for the acknowledgement when the command names one)."""

    request_id: str
    by: str
    user: str = ""


@dataclass(frozen=True)
class ChangeConfig:
    """Apply ``changes`` (section, option, value) and acknowledge request ``request_id``."""

    request_id: str
    changes: tuple[tuple[str, str, str], ...]
    by: str


Action = Publish | RequestSchedule | StartShot | Abort | ChangeConfig


@dataclass(frozen=True)
class Deadlines:
    """When a tick can next change a decision, by cause, in OCD-clock seconds (infinity:
    never). A tick before all of them changes nothing but the periodic status; one at or
    after a deadline may (the machines compare some strictly: a tick exactly at one may not
    move yet, the next one will). The first two hold only if no input comes before: a TCS
    heartbeat postpones ``heartbeat``, a guider reading ``stale``."""

    #: The TCS declared dead (``[tcs] heartbeat_timeout`` after the last heartbeat).
    heartbeat: float
    #: A fresh guider reading goes stale (``[run] metrology_stale_after``).
    stale: float
    #: Everything that depends on time alone: the end of the error pause, a silent shot, the
    #: start or schedule timeout, the next try of the scheduler.
    own: float

    @property
    def first(self) -> float:
        return min(self.heartbeat, self.stale, self.own)


def ack(request_id: str, command: str, ok: bool, message: str, by: str) -> Publish:
    """The acknowledgement of a one-shot command sent by ``by``, matched by its ``id``."""
    return Publish(topics.MAIN_ACK, ack_payload(request_id, command, ok, message, by))


def error_event(stage: str, error: str, shotid: str | None = None,
                topic: str | None = None) -> Publish:
    """``ocd.main_loop.error``: a step of the main loop failed (``stage``: ``obsnum``,
    ``start``, ``schedule``, ``event``); ``topic`` is the event being handled, if any."""
    data: dict[str, Any] = {"stage": stage, "shotid": shotid,
                            "error": cut(error, MAX_ERROR_CHARS)}
    if topic is not None:
        data["topic"] = topic
    return Publish(topics.MAIN_ERROR, data)


# Members read at every event and tick, as module constants: on Python 3.11 reading a member
# from its Enum class goes through the metaclass, several times slower.
_IDLE, _SCHEDULING, _STARTING = (PendingStateName.IDLE, PendingStateName.SCHEDULING,
                                 PendingStateName.STARTING)
_SATISFIED = MetaStateName.SATISFIED
_RUNNING, _ERROR = RunShotStateName.RUNNING, RunShotStateName.ERROR


#: ``03:00:00 UTC`` of a time of the next try, cached as :func:`_iso`: the waiting reason
#: quotes it at every event while OCD waits for it.
_next_try = lru_cache(maxsize=16)(hms_utc)


@lru_cache(maxsize=16)
def _iso(timestamp: float) -> str:
    # cached: the time of the next try is quoted at every event while OCD waits for it
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat()


class Orchestrator:
    """Vaults, state machines and the decision when to start a shot."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tcs = TcsState(settings.heartbeat_timeout)
        self.metrology = MetrologyState(settings.metrology)
        self.hetdex = HetdexAllowedState()
        self.run_shot = RunShotState(settings.error_pause, settings.shot_silent_after)
        self.meta = MetaState([self.run_shot, self.hetdex, self.tcs, self.metrology])
        #: Vault of the latest pointing (``tcs.root.ra_dec``): the fields its schema names,
        #: nothing else (it is published in every status, so a sender cannot make it grow).
        self.pointing: Mapping[str, Any] | None = None
        #: The main loop's own step toward a new shot (published as ``pending``).
        self.step = PendingState()
        self._machines: tuple[Machine[Any, Any], ...] = (*self.meta.machines, self.meta,
                                                         self.step)
        #: Number of the last schedule requested: a late answer to an older one is ignored.
        self.schedule_request = 0
        self.last_status: float | None = None
        self.next_schedule_at = 0.0
        self.last_no_shot: str | None = None
        self.waiting: list[str] | None = None
        self.seen_requests = RequestLog()

    def configure(self, settings: Settings) -> None:
        """New settings at run time (``ocd config send``); states and vaults are kept."""
        self.settings = settings
        self.tcs.timeout = settings.heartbeat_timeout
        self.metrology.limits = settings.metrology
        self.run_shot.error_pause = settings.error_pause
        self.run_shot.silent_after = settings.shot_silent_after

    @property
    def machines(self) -> tuple[Machine[Any, Any], ...]:
        """Every machine, in the order they are published."""
        return self._machines

    @property
    def pending(self) -> PendingStateName | None:
        """The step under way toward a new shot, None when none (``pending`` in the status)."""
        state = self.step.state
        return None if state is _IDLE else state

    # -- inputs --------------------------------------------------------------------------
    def take(self, event: InboundEvent | None, now: float) -> list[Action]:
        """React to one decoded bus event received at OCD-clock time ``now`` (None: a topic
        the orchestrator does not interpret; the decision is still taken)."""
        actions: list[Action] = []
        if isinstance(event, TcsHeartbeat):
            self._changed(actions, self.tcs.heartbeat(now))
            self._tick_machines(actions, now)
            actions.extend(self._publish_states(now))
        elif isinstance(event, Pointing):
            self.pointing = event.fields
        elif isinstance(event, GuiderReading):
            self._changed(actions, self.metrology.reading(
                event.guider, event.seeing, event.transparency, now))
        elif isinstance(event, (ShotStarted, ShotEnded, ShotStep, ShotProgress)):
            self._shot_event(actions, event, now)
        elif isinstance(event, CommandReceived):
            actions.extend(self._command(event))
        elif isinstance(event, ShotAck):
            self.run_shot.heard_from(event.origin, now)
        return self._decide(actions, now)

    def handle(self, topic: str, payload: Mapping[str, Any], now: float) -> list[Action]:
        """:meth:`take` for a caller holding the raw payload (a test, a bench): decoded here
        by :mod:`ocd.core.events` with this orchestrator's TCS topic names."""
        return self.take(decode(topic, payload, self.settings.topics), now)

    def tick(self, now: float) -> list[Action]:
        """Time passes: heartbeat and staleness timeouts, retries."""
        s = self.settings
        actions: list[Action] = []
        self._tick_machines(actions, now)
        step = self.step
        if step.state is _STARTING and now - step.since > s.start_timeout:
            error = f"shot {step.shot} did not start within {s.start_timeout:g} s"
            actions.append(error_event("start", error, step.shot))
            self._clear_pending(actions, PendingTrigger.TIMEOUT, error, now,
                                now + s.error_pause)
        elif step.state is _SCHEDULING \
                and now - step.since > s.schedule_timeout:
            error = f"the scheduler did not answer within {s.schedule_timeout:g} s"
            actions.append(error_event("schedule", error))
            self._clear_pending(actions, PendingTrigger.TIMEOUT, error, now,
                                now + s.error_pause)
        if self.last_status is None or now - self.last_status >= s.status_interval:
            actions.extend(self._publish_states(now))  # for monitors that joined late
        return self._decide(actions, now)

    def deadlines(self, now: float) -> Deadlines:
        """When :meth:`tick` can next change anything but the periodic status, asked after
        the inputs of ``now`` are taken: a simulation jumps from one such moment (or input)
        to the next instead of ticking every second. The timeouts are those :meth:`tick`
        applies, read from the same machines."""
        s = self.settings
        step = self.step.state
        own = self.run_shot.deadline()
        if step is _STARTING:
            own = min(own, self.step.since + s.start_timeout)
        elif step is _SCHEDULING:
            own = min(own, self.step.since + s.schedule_timeout)
        elif self.next_schedule_at > now:
            own = min(own, self.next_schedule_at)  # the next try (when the conditions allow)
        return Deadlines(self.tcs.deadline(), self.metrology.deadline(now), own)

    def scheduled(self, shotid: str | None, track: str | None, reason: str, scheduler: str,
                  now: float, request: int | None = None) -> list[Action]:
        """The scheduler answered request ``request`` (None: the last one): a shot and track,
        or no shot and why. An answer that comes too late (timed out, or superseded) is
        ignored."""
        actions: list[Action] = []
        if self.step.state is not _SCHEDULING \
                or request not in (None, self.schedule_request):
            return actions
        self.meta.update()
        if shotid is None or track is None:
            self.last_no_shot = reason
            retry = now + self.settings.reschedule_after
            actions.append(Publish(topics.MAIN_NO_SHOT, {
                "reason": reason, "scheduler": scheduler, "retry_at": _iso(retry)}))
            self._clear_pending(actions, PendingTrigger.NO_SHOT, reason, now, retry)
        elif self.meta.state is not _SATISFIED:
            why = "conditions changed while scheduling: " + "; ".join(self.meta.reasons())
            actions.append(Publish(topics.MAIN_DECISION, {
                "shotid": shotid, "track": track, "scheduler": scheduler, "started": False,
                "reason": why}))
            self._clear_pending(actions, PendingTrigger.CONDITIONS_CHANGED, why, now, now)
        else:
            self.last_no_shot = None
            actions.append(Publish(topics.MAIN_DECISION, {
                "shotid": shotid, "track": track, "scheduler": scheduler, "started": True,
                "reason": reason}))
            self._changed(actions, self.step.move(
                PendingTrigger.SHOT_CHOSEN, f"shot {shotid} chosen ({scheduler}): starting it",
                now, shotid))
            actions.append(StartShot(shotid, track, scheduler))
        return self._decide(actions, now)

    def start_time_left(self, now: float) -> float:
        """OCD-clock seconds before the shot being started is given up (``[run]
        start_timeout``); 0 when no start is pending. An observation number not written by
        then is no longer wanted."""
        if self.step.state is not _STARTING:
            return 0.0
        return max(0.0, self.settings.start_timeout - (now - self.step.since))

    def confirm_start(self, start: StartShot, observation: int, now: float
                      ) -> tuple[bool, list[Action]]:
        """The shot chosen (:class:`StartShot`) has its observation number and is about to
        publish its start: whether it still may, and what to publish. Time has passed since
        the decision (the database may be slow): the timeouts are applied first, then the
        conditions checked again, so no shot starts while HETDEX shots are forbidden, the TCS
        is dead, metrology is bad or another shot runs. A refused start publishes
        ``ocd.main_loop.decision`` with ``started: false`` (the observation number stays
        unused) and the main loop decides again as soon as the conditions allow."""
        actions: list[Action] = []
        self._tick_machines(actions, now)
        refused = {"shotid": start.shotid, "track": start.track, "scheduler": start.scheduler,
                   "started": False}
        if self.step.state is not _STARTING or self.step.shot != start.shotid:
            actions.append(Publish(topics.MAIN_DECISION, {
                **refused, "reason": f"the start was given up (start timeout) before "
                                     f"observation {observation} came: not started"}))
            return False, self._decide(actions, now)
        self._changed(actions, self.meta.update())
        if self.meta.state is not _SATISFIED:
            why = ("conditions changed before the start: " + "; ".join(self.meta.last_reasons)
                   + f" (observation {observation} not used)")
            actions.append(Publish(topics.MAIN_DECISION, {**refused, "reason": why}))
            self._clear_pending(actions, PendingTrigger.CONDITIONS_CHANGED, why, now, now)
            return False, self._decide(actions, now)
        return True, self._decide(actions, now)

    def competitor(self, who: str, now: float, new: bool = True) -> list[Action]:
        """Another main loop drives this telescope (``who``: one line naming it; ``new``: not
        said before): automatic shots are forbidden, again if the RA allowed them while it
        lasts, and the bus is told why (``ocd.main_loop.error``, stage ``guard``) when it is
        new or they were allowed again. The RA allows them once one of the two is stopped."""
        by = "the one-main-loop guard"
        actions: list[Action] = []
        change = self.hetdex.set(False, by)
        if change is not None or new:
            actions.append(error_event(
                "guard", f"{who}; automatic shots forbidden (one main loop per telescope)"))
        if change is not None:
            self._changed(actions, change)
            actions.append(Publish(topics.STATES_HETDEX_ALLOWED, {"allowed": False, "by": by}))
        return self._decide(actions, now)

    def start_failed(self, stage: str, error: str, now: float) -> list[Action]:
        """Starting the chosen shot failed before it published anything (e.g. no obsnum)."""
        actions: list[Action] = [error_event(stage, error, self.step.shot)]
        if self.step.state is _STARTING:
            self._clear_pending(actions, PendingTrigger.FAILED, f"{stage}: {error}", now,
                                now + self.settings.error_pause)
        return self._decide(actions, now)

    def step_failed(self, step: PendingStateName, error: str, now: float,
                    request: int | None = None) -> list[Action]:
        """A background step (``scheduling`` or ``starting``) ended with an exception: say so
        and pause, unless that step is no longer the pending one (it timed out already)."""
        scheduling = step == _SCHEDULING
        if self.step.state != step or (scheduling
                                           and request not in (None, self.schedule_request)):
            return self._decide([], now)
        stage = "schedule" if scheduling else "start"
        actions: list[Action] = [error_event(stage, error, self.step.shot)]
        self._clear_pending(actions, PendingTrigger.FAILED, f"{stage}: {error}", now,
                            now + self.settings.error_pause)
        return self._decide(actions, now)

    def event_failed(self, topic: str, error: str, now: float) -> list[Action]:
        """Handling an event failed (a bug, since the payload was valid): say so; states and
        vaults are as the failed handling left them."""
        return [error_event("event", error, topic=topic)]

    # -- internals -----------------------------------------------------------------------
    def _clear_pending(self, actions: list[Action], trigger: PendingTrigger, why: str,
                       now: float, next_schedule_at: float) -> None:
        """The step under way ends without a shot started; the next try is at
        ``next_schedule_at``."""
        self._changed(actions, self.step.move(trigger, why, now))
        self.next_schedule_at = next_schedule_at

    def _shot_event(self, actions: list[Action],
                    event: ShotStarted | ShotEnded | ShotStep | ShotProgress, now: float) -> None:
        was = self.run_shot.state
        self._changed(actions, self.run_shot.event(event, now))
        if isinstance(event, ShotStarted) and self.step.state is _STARTING:
            # our (or someone's) shot is now followed by run_shot
            self._changed(actions, self.step.move(
                PendingTrigger.SHOT_STARTED, f"shot {event.shotid} started", now))
        if was is _RUNNING and self.run_shot.state is _ERROR:
            self.next_schedule_at = now + self.settings.error_pause

    def _tick_machines(self, actions: list[Action], now: float) -> None:
        for machine in (self.tcs, self.metrology, self.run_shot):
            self._changed(actions, machine.tick(now))

    @staticmethod
    def _changed(actions: list[Action], change: StateChange | None) -> None:
        if change is not None:
            actions.append(Publish(topics.STATES_CHANGE, change.as_payload()))

    def _publish_states(self, now: float) -> list[Action]:
        self.last_status = now
        # the plain strings of the states (``_value_``: an attribute, no call; this runs at
        # every heartbeat)
        states: list[Action] = [
            Publish(topics.STATES_STATE, {"machine_name": m.name, "state": m.state._value_})
            for m in self._machines]
        states.append(Publish(topics.MAIN_STATUS, self.status(now)))
        return states

    def status(self, now: float) -> dict[str, Any]:
        """What a monitor needs to say what OCD is doing and why."""
        seeing, transparency = self.metrology.conditions(now)
        running = self.run_shot.shot
        return {
            "states": {m.name: m.state._value_ for m in self._machines},
            "waiting": self.waiting or [],
            "pending": None if (step := self.step.state) is _IDLE else step._value_,
            "running_shot": running.shotid if running else None,
            "seeing": seeing, "transparency": transparency,
            "pointing": self.pointing,
        }

    def _command(self, command: CommandReceived) -> list[Action]:
        request, by = command.request_id, command.sender
        if request is None or not self.seen_requests.first_time(request):
            return []
        if isinstance(command, AllowHetdex):
            allowed = command.allowed
            if allowed is None:
                return [ack(request, "allow_hetdex", False, "'allowed' must be true/false", by)]
            actions: list[Action] = []
            self._changed(actions, self.hetdex.set(allowed, by))
            if allowed:
                self.next_schedule_at = 0.0  # an explicit start retries at once
            actions.append(Publish(topics.STATES_HETDEX_ALLOWED, {"allowed": allowed, "by": by}))
            actions.append(ack(request, "allow_hetdex", True,
                               f"HETDEX shots {'allowed' if allowed else 'forbidden'}"
                               f"{command.user}", by))
            return actions
        if isinstance(command, AbortShot):
            return [Abort(request, by, command.user)]
        if isinstance(command, ConfigSend):
            if command.changes is None:
                return [ack(request, "config_send", False,
                            "'changes' must be a list of [section, option, value]", by)]
            return [ChangeConfig(request, command.changes, by)]
        return []

    def _decide(self, actions: list[Action], now: float) -> list[Action]:
        self._changed(actions, self.meta.update())
        reasons = self.meta.last_reasons  # never changed in place: kept as it is
        step = self.step.state
        if not reasons and step is _IDLE and now < self.next_schedule_at:
            why = self.last_no_shot or "pausing after an error"
            reasons = [f"{why}; next try at {_next_try(self.next_schedule_at)}"]
        if not reasons and step is _SCHEDULING:
            reasons = ["running the scheduler"]
        if not reasons and step is _STARTING:
            reasons = [f"starting shot {self.step.shot}"]
        if reasons != self.waiting:
            self.waiting = reasons
            if reasons:
                actions.append(Publish(topics.MAIN_WAITING, {"reasons": reasons}))
        if self.meta.state is _SATISFIED and step is _IDLE \
                and now >= self.next_schedule_at:
            self._changed(actions, self.step.move(PendingTrigger.SCHEDULE,
                                                  "running the scheduler", now))
            self.schedule_request += 1
            self.waiting = ["running the scheduler"]
            seeing, transparency = self.metrology.conditions(now)
            actions.append(RequestSchedule(seeing, transparency, self.schedule_request))
        return actions
