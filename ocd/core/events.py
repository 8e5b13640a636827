"""Every event OCD reads, decoded once into a typed, frozen value. Pure, no I/O.

A payload comes from an untrusted publisher; what its fields mean (``exec_status`` 0 is a
start, 1 an end; ``allowed`` must be a boolean; a number must be finite) is decided here and
nowhere else. The main loop, the state machines and every monitor read the types below, each
process decoding an event once, where it comes in (:func:`decode`).

Decoding never raises: a field of the wrong kind is read as ``None`` (or its neutral value), and
an event whose meaning cannot be told (an ``exec_status`` that is neither 0 nor 1) decodes to
:class:`Unreadable`. Topics OCD does not interpret decode to ``None``.

The payloads OCD itself publishes for a shot are built here too (:func:`shot_started_payload`
and the others), so the words of the wire stay in this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from ocd.core import topics
from ocd.core.commands import (
    by_user,
    command_created,
    command_nonce,
    parse_changes,
    request_id,
    requested_by,
    sender,
)
from ocd.core.payload import finite_number

#: The field of a shot's events that tells a start (0) from an end (1), on the wire.
EXEC_STATUS = "exec_status"
_STARTED, _FINISHED = 0, 1
#: ``exc_type`` of a shot stopped on purpose (``ocd abort``, a stop of ``ocd run``).
ABORTED = "ShotAborted"
#: ``exc_value`` of a shot aborted because ``ocd run`` stopped.
SHUTDOWN = "shutdown"

#: What became of a shot, as the monitors tell it.
ShotState = Literal["running", "completed", "failed", "aborted", "interrupted"]
RUNNING: ShotState = "running"
COMPLETED: ShotState = "completed"
FAILED: ShotState = "failed"
ABORTED_SHOT: ShotState = "aborted"
INTERRUPTED: ShotState = "interrupted"

#: The two steps of a shot, by their topic's last word.
Step = Literal["setup_telescope", "exp_hetdex"]
SETUP_TELESCOPE: Step = "setup_telescope"
EXP_HETDEX: Step = "exp_hetdex"
Phase = Literal["started", "finished"]


# -- readers of untrusted fields ------------------------------------------------------------
def _text(value: Any) -> str | None:
    """A text field: a string as it is, a finite number as its text, anything else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and finite_number(value) is not None:
        return f"{value}"
    return None


def _int(value: Any) -> int | None:
    """An integer field (not a boolean), else None."""
    return value if type(value) is int else None


def _number(value: Any) -> float | None:
    """A finite number as it was sent (an integer stays one, so it prints as sent)."""
    return value if finite_number(value) is not None else None


def _origin(payload: Mapping[str, Any]) -> str:
    value = payload.get("__origin")
    return value if isinstance(value, str) else ""


def _texts(value: Any) -> tuple[str, ...] | None:
    """A list field as its texts, items of other kinds left out (``None``: not a list)."""
    if not isinstance(value, list):
        return None
    return tuple(text for text in map(_text, value) if text is not None)


# -- the TCS --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TcsHeartbeat:
    """The TCS is alive (``tcs.receiver.heartbeat``)."""


#: The pointing fields kept from ``tcs.root.ra_dec``, as sent (the status republishes them).
POINTING_KEYS = ("ra", "dec", "track", "tracking", "dx", "dy")


@dataclass(frozen=True, slots=True)
class Pointing:
    """Where the telescope points (``tcs.root.ra_dec``); ``fields``: the pointing fields as
    sent, for the status."""

    fields: Mapping[str, Any]

    # read on demand: a pointing comes every second and the main loop only keeps its fields
    @property
    def ra(self) -> float | None:
        return finite_number(self.fields.get("ra"))

    @property
    def dec(self) -> float | None:
        return finite_number(self.fields.get("dec"))

    @property
    def tracking(self) -> bool:
        return self.fields.get("tracking") is True


@dataclass(frozen=True, slots=True)
class GuiderReading:
    """One guide probe's metrology; ``guider`` is its topic, ``number`` its 1-based place in
    ``[topics] metrology``."""

    guider: str
    number: int
    seeing: float | None
    transparency: float | None


# -- a shot ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ShotStarted:
    """``ocd.run_shot.run`` with ``exec_status`` 0: a shot began (``origin``: its publisher)."""

    origin: str
    shotid: str | None
    track: str | None
    observation: int | None
    ra: float | None
    dec: float | None


@dataclass(frozen=True, slots=True)
class ShotEnded:
    """``ocd.run_shot.run`` with ``exec_status`` 1: a shot ended, well or not.
    ``shot_origin``: the publisher of the shot closed, when another process closes it (a
    restarted ``ocd run`` closing its killed predecessor's shot)."""

    origin: str
    shotid: str | None
    track: str | None
    observation: int | None
    failed: bool
    exc_type: str | None
    exc_value: str | None
    traceback: str | None
    shot_origin: str | None

    @property
    def aborted(self) -> bool:
        """Stopped on purpose (``ocd abort``, a stop of ``ocd run``), not a fault."""
        return self.failed and self.exc_type == ABORTED

    @property
    def shut_down(self) -> bool:
        """Cut short because ``ocd run`` stopped."""
        return self.failed and self.exc_value == SHUTDOWN

    @property
    def outcome(self) -> ShotState:
        """How the shot ended: completed, interrupted (``ocd run`` stopped), aborted or
        failed (the timeline and the archive's visits say the same)."""
        if not self.failed:
            return COMPLETED
        return INTERRUPTED if self.shut_down else ABORTED_SHOT if self.aborted else FAILED


@dataclass(frozen=True, slots=True)
class ShotStep:
    """A step of a shot began or finished: the telescope's set-up or one exposure
    (``exposure`` of ``exposures``, ``seconds`` long)."""

    origin: str
    step: Step
    phase: Phase
    shotid: str | None
    observation: int | None
    exposure: int | None = None
    exposures: int | None = None
    seconds: float | None = None

    @property
    def finished(self) -> bool:
        return self.phase == "finished"


@dataclass(frozen=True, slots=True)
class ShotProgress:
    """``ocd.run_shot.progress``: a shot waits on a subsystem."""

    origin: str
    shotid: str | None
    observation: int | None
    step: str | None
    exposure: int | None
    pending: str | None
    waited: float | None


# -- commands and their answers --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CommandReceived:
    """A one-shot command (``ocd.command.*``). ``request_id`` is None without a usable id (the
    command is then ignored); ``sender`` is its publisher after the user it names; ``user``
    is `` by USER`` for an acknowledgement, or empty; ``created`` and ``nonce`` are what the
    freshness rule reads (:class:`ocd.core.commands.Freshness`)."""

    request_id: str | None
    sender: str
    user: str
    requested_by: str | None
    #: Its creation time (real Unix s) and nonce, None when missing or malformed.
    created: float | None = field(default=None, kw_only=True)
    nonce: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class AllowHetdex(CommandReceived):
    """``ocd allow_hetdex start|stop``; ``allowed`` is None when it is not a boolean."""

    allowed: bool | None


@dataclass(frozen=True, slots=True)
class AbortShot(CommandReceived):
    """``ocd abort``."""


@dataclass(frozen=True, slots=True)
class ConfigSend(CommandReceived):
    """``ocd config send``: ``changes`` as (section, option, value), None when malformed;
    ``shown`` the well-formed ones as sent, for people."""

    changes: tuple[tuple[str, str, str], ...] | None
    shown: tuple[tuple[str, str, str], ...] | None


@dataclass(frozen=True, slots=True)
class AlarmCommand:
    """``ocd alarms ack|mute``: ``action`` (``ack`` or ``mute``), ``alarm`` (an alarm id,
    None when not a text) and, for a mute, ``minutes`` (None when not a finite number). The
    fields of :class:`CommandReceived`, not one of them: only the alarm watcher acts on it,
    the main loop lets it pass."""

    request_id: str | None
    sender: str
    user: str
    requested_by: str | None
    action: Literal["ack", "mute"]
    alarm: str | None
    minutes: float | None = None
    created: float | None = field(default=None, kw_only=True)
    nonce: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class AlarmNotice:
    """``ocd.alarm.raised|cleared|acknowledged|muted`` (``kind``), or one alarm of
    ``ocd.alarm.list`` (``kind`` ``listed``): what the alarm watcher says of one alarm."""

    kind: str
    alarm: str | None
    state: str | None
    severity: str | None
    reason: str | None
    since: float | None
    by: str | None
    muted_until: float | None
    escalated: bool = False


@dataclass(frozen=True, slots=True)
class AlarmList:
    """``ocd.alarm.list``: every alarm not normal (items that are not objects left out)."""

    alarms: tuple[AlarmNotice, ...]


@dataclass(frozen=True, slots=True)
class Ack:
    """A process's answer to a command (``ocd.main_loop.ack``, ``ocd.run_shot.ack``)."""

    request_id: str | None
    command: str | None
    ok: bool
    message: str | None
    by: str | None


@dataclass(frozen=True, slots=True)
class ShotAck(Ack):
    """``ocd.run_shot.ack``: a shot publisher's answer (to an abort), also a sign of its life
    while its shot runs."""

    origin: str = ""


@dataclass(frozen=True, slots=True)
class SignIn:
    """``ocd.board.sign_in``: a password checked by the board's sign-in (never the password)."""

    user: str | None
    address: str | None
    ok: bool


# -- the main loop and its machines ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StateChanged:
    """``ocd.states.change``: machine ``machine`` moved from ``old_state`` to ``new_state``."""

    machine: str | None
    transition: str | None
    old_state: str | None
    new_state: str | None
    msg: str | None
    traceback: str | None


@dataclass(frozen=True, slots=True)
class StateReported:
    """``ocd.states.state``: machine ``machine`` is in ``state`` (re-published periodically)."""

    machine: str | None
    state: str | None


@dataclass(frozen=True, slots=True)
class HetdexAllowedSet:
    """``ocd.states.hetdex_allowed``: whether automatic shots are allowed, and by whom."""

    allowed: bool | None
    by: str | None


@dataclass(frozen=True, slots=True)
class MainStatus:
    """``ocd.main_loop.status``: every machine's state (texts only), why OCD waits, the work
    pending, the shot running, the conditions and the pointing."""

    states: Mapping[str, str] | None
    waiting: tuple[str, ...] | None
    pending: str | None
    running_shot: str | None
    seeing: float | None
    transparency: float | None
    pointing: Mapping[str, Any] | None
    #: Observation numbers of tonight written and not used (None from an older main loop).
    obsnum_skipped: int | None = None


@dataclass(frozen=True, slots=True)
class Waiting:
    """``ocd.main_loop.waiting``: why no shot starts now (None when not a list)."""

    reasons: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Decision:
    """``ocd.main_loop.decision``: a shot chosen, started or not, and why."""

    shotid: str | None
    track: str | None
    scheduler: str | None
    started: bool
    reason: str | None


@dataclass(frozen=True, slots=True)
class NoShot:
    """``ocd.main_loop.no_shot``: the scheduler found nothing (``scheduler`` ``error``: it
    failed)."""

    reason: str | None
    scheduler: str | None
    retry_at: str | None

    @property
    def scheduler_failed(self) -> bool:
        return self.scheduler == "error"


#: The main loop's error stages that pause its decisions (an ``event`` error does not).
PAUSING_STAGES = ("obsnum", "start", "schedule")


@dataclass(frozen=True, slots=True)
class MainError:
    """``ocd.main_loop.error``: a step of the main loop failed."""

    stage: str | None
    shotid: str | None
    error: str | None
    topic: str | None

    @property
    def pauses(self) -> bool:
        """The failure pauses the main loop's decisions (a failed start or schedule)."""
        return self.stage in PAUSING_STAGES


@dataclass(frozen=True, slots=True)
class MainStarted:
    """``ocd.main_loop.started``: what the main loop runs with."""

    clock: str | None
    input: str | None
    scheduler: str | None
    obsnum_source: str | None


@dataclass(frozen=True, slots=True)
class MainStopping:
    """``ocd.main_loop.stopping``."""

    reason: str | None
    running_shot: str | None


@dataclass(frozen=True, slots=True)
class ConfigChanged:
    """``ocd.main_loop.config_changed``: ``changes`` as sent (a list, else None)."""

    changes: tuple[Any, ...] | None
    by: str | None


@dataclass(frozen=True, slots=True)
class HeartbeatEnquiry:
    """``ocd.heartbeat.enquiry``: who is there?"""

    id: Any


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    """``ocd.heartbeat.reply``: a service answering an enquiry."""

    service: str | None
    in_reply_to: str | None


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An event of a topic OCD interprets whose meaning cannot be told (e.g. an
    ``exec_status`` that is neither 0 nor 1): counted and shown, never acted on."""

    topic: str
    why: str


InboundEvent = (TcsHeartbeat | Pointing | GuiderReading | ShotStarted | ShotEnded | ShotStep
                | ShotProgress | AllowHetdex | AbortShot | ConfigSend | Ack | StateChanged
                | StateReported | HetdexAllowedSet | MainStatus | Waiting | Decision | NoShot
                | MainError | MainStarted | MainStopping | ConfigChanged | HeartbeatEnquiry
                | HeartbeatReply | SignIn | AlarmCommand | AlarmNotice | AlarmList
                | Unreadable)


# -- decoders, one per topic ----------------------------------------------------------------
def _run(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    status = p.get(EXEC_STATUS)
    if type(status) is not int or status not in (_STARTED, _FINISHED):
        return Unreadable(topic, f"{EXEC_STATUS} is neither {_STARTED} nor {_FINISHED}")
    origin, shotid = _origin(p), _text(p.get("shotid"))
    track, observation = _text(p.get("obs_track")), _int(p.get("observation"))
    if status == _STARTED:
        return ShotStarted(origin, shotid, track, observation, finite_number(p.get("ra")),
                           finite_number(p.get("dec")))
    shot_origin = p.get("shot_origin")
    return ShotEnded(origin, shotid, track, observation, bool(p.get("error")),
                     _text(p.get("exc_type")), _text(p.get("exc_value")),
                     _text(p.get("traceback")),
                     shot_origin if isinstance(shot_origin, str) else None)


def _step(step: Step) -> Callable[[str, Mapping[str, Any]], InboundEvent]:
    def decode_step(topic: str, p: Mapping[str, Any]) -> InboundEvent:
        status = p.get(EXEC_STATUS)
        if type(status) is not int or status not in (_STARTED, _FINISHED):
            return Unreadable(topic, f"{EXEC_STATUS} is neither {_STARTED} nor {_FINISHED}")
        return ShotStep(_origin(p), step, "started" if status == _STARTED else "finished",
                        _text(p.get("shotid")), _int(p.get("observation")),
                        _int(p.get("exposure")), _int(p.get("exposures")),
                        _number(p.get("seconds")))
    return decode_step


def _progress(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    return ShotProgress(_origin(p), _text(p.get("shotid")), _int(p.get("observation")),
                        _text(p.get("step")), _int(p.get("exposure")), _text(p.get("pending")),
                        finite_number(p.get("waited")))


def _command_fields(p: Mapping[str, Any]) -> tuple[str | None, str, str, str | None]:
    return request_id(p), sender(p), by_user(p), requested_by(p)


def _freshness(p: Mapping[str, Any]) -> dict[str, Any]:
    return {"created": command_created(p), "nonce": command_nonce(p)}


def _allow(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    allowed = p.get("allowed")
    return AllowHetdex(*_command_fields(p), allowed if isinstance(allowed, bool) else None,
                       **_freshness(p))


def _abort(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    return AbortShot(*_command_fields(p), **_freshness(p))


def _config_send(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    changes = p.get("changes")
    shown = tuple((str(c[0]), str(c[1]), str(c[2])) for c in changes
                  if isinstance(c, list) and len(c) == 3) if isinstance(changes, list) else None
    return ConfigSend(*_command_fields(p), parse_changes(changes), shown, **_freshness(p))


def _alarm_command(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    mute = topic == topics.COMMAND_ALARM_MUTE
    return AlarmCommand(*_command_fields(p), "mute" if mute else "ack", _text(p.get("alarm")),
                        finite_number(p.get("minutes")) if mute else None, **_freshness(p))


def _notice(kind: str, p: Mapping[str, Any]) -> AlarmNotice:
    return AlarmNotice(kind, _text(p.get("alarm")), _text(p.get("state")),
                       _text(p.get("severity")), _text(p.get("reason")),
                       finite_number(p.get("since")), _text(p.get("by")),
                       finite_number(p.get("muted_until")), p.get("escalated") is True)


def _alarm_notice(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    return _notice(topic.rpartition(".")[2], p)


def _alarm_list(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    items = p.get("alarms")
    return AlarmList(tuple(_notice("listed", item) for item in items if isinstance(item, dict))
                     if isinstance(items, list) else ())


def _sign_in(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    return SignIn(_text(p.get("user")), _text(p.get("address")), p.get("ok") is True)


def _ack(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    request = p.get("id")
    return Ack(request if isinstance(request, str) else None, _text(p.get("command")),
               p.get("ok") is True, _text(p.get("message")), _text(p.get("by")))


def _shot_ack(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    request = p.get("id")
    return ShotAck(request if isinstance(request, str) else None, _text(p.get("command")),
                   p.get("ok") is True, _text(p.get("message")), _text(p.get("by")),
                   _text(p.get("__origin")) or "")


def _state_change(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    return StateChanged(_text(p.get("machine_name")), _text(p.get("transition")),
                        _text(p.get("old_state")), _text(p.get("new_state")),
                        _text(p.get("msg")), _text(p.get("traceback")))


def _state(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    return StateReported(_text(p.get("machine_name")), _text(p.get("state")))


def _hetdex_allowed(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    allowed = p.get("allowed")
    return HetdexAllowedSet(allowed if isinstance(allowed, bool) else None, _text(p.get("by")))


def _status(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    states, pointing = p.get("states"), p.get("pointing")
    return MainStatus(
        {k: v for k, v in ((k, _text(v)) for k, v in states.items())
         if isinstance(k, str) and v is not None} if isinstance(states, dict) else None,
        _texts(p.get("waiting")), _text(p.get("pending")), _text(p.get("running_shot")),
        finite_number(p.get("seeing")), finite_number(p.get("transparency")),
        pointing if isinstance(pointing, dict) else None, _int(p.get("obsnum_skipped")))


def _waiting(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    return Waiting(_texts(p.get("reasons")))


def _decision(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    return Decision(_text(p.get("shotid")), _text(p.get("track")), _text(p.get("scheduler")),
                    p.get("started") is True, _text(p.get("reason")))


def _no_shot(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    return NoShot(_text(p.get("reason")), _text(p.get("scheduler")), _text(p.get("retry_at")))


def _error(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    return MainError(_text(p.get("stage")), _text(p.get("shotid")), _text(p.get("error")),
                     _text(p.get("topic")))


def _started(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    return MainStarted(_text(p.get("clock")), _text(p.get("input")),
                       _text(p.get("scheduler")), _text(p.get("obsnum_source")))


def _stopping(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    return MainStopping(_text(p.get("reason")), _text(p.get("running_shot")))


def _config_changed(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    changes = p.get("changes")
    return ConfigChanged(tuple(changes) if isinstance(changes, list) else None,
                         _text(p.get("by")))


def _enquiry(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    return HeartbeatEnquiry(p.get("id"))


def _reply(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    return HeartbeatReply(_text(p.get("service")), _text(p.get("in_reply_to")))


def _heartbeat(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    return _HEARTBEAT


_HEARTBEAT = TcsHeartbeat()


def _pointing(topic: str, p: Mapping[str, Any]) -> InboundEvent:
    return Pointing({k: p[k] for k in POINTING_KEYS if k in p})


Decoder = Callable[[str, Mapping[str, Any]], InboundEvent]

#: OCD's own topics (fixed, with their schemas in ``ocd/schemas``).
_OCD_DECODERS: dict[str, Decoder] = {
    topics.RUN_SHOT_RUN: _run,
    topics.RUN_SHOT_SETUP_TELESCOPE: _step(SETUP_TELESCOPE),
    topics.RUN_SHOT_EXP_HETDEX: _step(EXP_HETDEX),
    topics.RUN_SHOT_PROGRESS: _progress,
    topics.RUN_SHOT_ACK: _shot_ack,
    topics.MAIN_ACK: _ack,
    topics.COMMAND_ALLOW: _allow,
    topics.COMMAND_ABORT: _abort,
    topics.COMMAND_CONFIG: _config_send,
    topics.COMMAND_ALARM_ACK: _alarm_command,
    topics.COMMAND_ALARM_MUTE: _alarm_command,
    topics.ALARM_RAISED: _alarm_notice,
    topics.ALARM_CLEARED: _alarm_notice,
    topics.ALARM_ACKNOWLEDGED: _alarm_notice,
    topics.ALARM_MUTED: _alarm_notice,
    topics.ALARM_LIST: _alarm_list,
    topics.ALARM_ACK: _ack,
    topics.STATES_CHANGE: _state_change,
    topics.STATES_STATE: _state,
    topics.STATES_HETDEX_ALLOWED: _hetdex_allowed,
    topics.MAIN_STATUS: _status,
    topics.MAIN_WAITING: _waiting,
    topics.MAIN_DECISION: _decision,
    topics.MAIN_NO_SHOT: _no_shot,
    topics.MAIN_ERROR: _error,
    topics.MAIN_STARTED: _started,
    topics.MAIN_STOPPING: _stopping,
    topics.MAIN_CONFIG_CHANGED: _config_changed,
    topics.HEARTBEAT_ENQUIRY: _enquiry,
    topics.HEARTBEAT_REPLY: _reply,
    topics.BOARD_SIGN_IN: _sign_in,
}

#: The TCS topics as OCD names them by default (``[topics]`` may rename them).
DEFAULT_TCS = topics.TcsTopics()


def _guider(number: int) -> Decoder:
    def decode_guider(topic: str, p: Mapping[str, Any]) -> InboundEvent:
        return GuiderReading(topic, number, finite_number(p.get("seeing")),
                             finite_number(p.get("transparency")))
    return decode_guider


@lru_cache(maxsize=8)
def decoders(tcs: topics.TcsTopics = DEFAULT_TCS) -> dict[str, Decoder]:
    """The decoder of each topic OCD interprets, the TCS's named as ``tcs`` says (built once
    per naming: a topic's decoder is then one dictionary look-up away)."""
    table: dict[str, Decoder] = {tcs.heartbeat: _heartbeat, tcs.ra_dec: _pointing}
    for number, topic in enumerate(tcs.metrology, start=1):
        table[topic] = _guider(number)
    table.update(_OCD_DECODERS)  # OCD's own topics cannot be renamed into TCS ones
    return table


_last: tuple[topics.TcsTopics, dict[str, Decoder]] = (DEFAULT_TCS, decoders(DEFAULT_TCS))


def decode(topic: str, payload: Mapping[str, Any],
           tcs: topics.TcsTopics = DEFAULT_TCS) -> InboundEvent | None:
    """The typed event of ``topic`` with ``payload``; None for a topic OCD does not interpret
    (an unknown ``ocd.*`` topic, a TCS topic OCD does not follow). Never raises."""
    global _last
    if tcs is not _last[0]:  # a process names its TCS topics once: one look-up, no hashing
        _last = (tcs, decoders(tcs))
    decoder = _last[1].get(topic)
    return None if decoder is None else decoder(topic, payload)


# -- the shot payloads OCD publishes ---------------------------------------------------------
def shot_started_payload(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``ocd.run_shot.run`` at a shot's start: ``fields`` (the shot, its observation number
    and track) marked as a start."""
    return {**fields, EXEC_STATUS: _STARTED}


def shot_ended_payload(fields: Mapping[str, Any], *, error: bool, exc_type: str | None = None,
                       exc_value: str | None = None, traceback: str | None = None,
                       shot_origin: str | None = None) -> dict[str, Any]:
    """``ocd.run_shot.run`` at a shot's end, with its outcome; ``shot_origin`` names the
    publisher of the shot closed when it is not the one publishing this end."""
    payload = {**fields, EXEC_STATUS: _FINISHED, "error": error, "exc_type": exc_type,
               "exc_value": exc_value, "traceback": traceback}
    if shot_origin is not None:
        payload["shot_origin"] = shot_origin
    return payload


def step_payload(fields: Mapping[str, Any], phase: Phase) -> dict[str, Any]:
    """``ocd.run_shot.setup_telescope`` or ``ocd.run_shot.exp_hetdex`` at the start or end of
    the step."""
    return {**fields, EXEC_STATUS: _STARTED if phase == "started" else _FINISHED}
