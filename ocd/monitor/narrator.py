"""The night told for a person: events in, readable lines out. Pure.

:class:`Narrator` gives one line per thing worth reading, each once: a decision (which shot and
track and why, or why OCD waits: on change only), a shot's start, each exposure, its end, a
state change, a command received (from whom) with its answer, an error. ``ocd run`` logs them
in its window; any monitor can print them. :class:`Situation` keeps the little a status line
shows: the TCS, whether HETDEX shots are allowed, the shot under way and the last decision
(``ocd listen``'s footer). Periodic re-publications (states, status, TCS heartbeats) say
nothing new and give no line.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ocd.core import events as ev
from ocd.core import state_names as sn
from ocd.core.events import InboundEvent, decode
from ocd.core.payload import ocd_time
from ocd.timetext import hms

#: Commands remembered while their acknowledgement is awaited (a bounded table: ids come from
#: senders).
_PENDING_COMMANDS = 256
#: Longest reason quoted in a line.
_REASON = 160
#: Longest narrated line naming another main loop (its origin, process and addresses).
_NAMING = 600

INFO, WARNING, ERROR = "info", "warning", "error"
#: Reasons to wait that only say a shot is under way.
_BUSY = (f"{sn.RUN_SHOT} is {sn.RUN_SHOT_RUNNING}", "starting shot ")


@dataclass(frozen=True)
class Line:
    """One line for a person: its level (``info``, ``warning``, ``error``) and its text."""

    level: str
    text: str


def _clip(value: Any, width: int = _REASON) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _who(origin: Any) -> str:
    """``ocd_allow_hetdex@host:42`` as it is; a missing origin as ``unknown``."""
    return str(origin) if isinstance(origin, str) and origin else "unknown"


def _command(command: ev.CommandReceived) -> str:
    """``allow_hetdex start``, ``abort``, ``config send [run] max_seeing=2``."""
    if isinstance(command, ev.AllowHetdex):
        allowed = command.allowed
        return f"allow_hetdex {'start' if allowed is True else 'stop' if allowed is False else '?'}"
    if isinstance(command, ev.ConfigSend):
        shown = ", ".join(f"[{c[0]}] {c[1]}={c[2]}" for c in command.shown) \
            if command.shown is not None else "?"
        return _clip(f"config send {shown}", 100)
    return "abort"


def _shot(shotid: str | None, track: str | None) -> str:
    return f"{'?' if shotid is None else shotid}" + (f" {track}" if track is not None else "")


_Teller = Callable[["Narrator", Any], list[Line]]


class Narrator:
    """Lines for the events of a night, each told once (see the module's docstring)."""

    def __init__(self, main_origin: str | None = None) -> None:
        #: The origin of the shots of ``ocd run`` itself (its shot publisher), so that a shot
        #: run by hand is called so.
        self.main_origin = main_origin
        self._last: dict[str, str] = {}
        self._commands: OrderedDict[str, str] = OrderedDict()

    def _once(self, key: str, text: str) -> bool:
        """True the first time ``text`` is said under ``key`` since it last changed."""
        if self._last.get(key) == text:
            return False
        self._last[key] = text
        return True

    def feed(self, topic: str, payload: dict[str, Any]) -> list[Line]:
        """The lines one event deserves (often none), from its topic and payload."""
        return self.tell(decode(topic, payload), ocd_time(payload))

    def tell(self, event: InboundEvent | None, when: dt.datetime | None) -> list[Line]:
        """The lines one decoded event deserves (often none); ``when``: its OCD time."""
        teller = _TELLERS.get(type(event))
        if teller is None:
            return []
        stamp = hms(when) if when else "--:--:--"
        return [Line(line.level, f"{stamp}  {line.text}") for line in teller(self, event)]

    def _state_changed(self, e: ev.StateChanged) -> list[Line]:
        if e.machine in (sn.META, sn.PENDING) or e.transition in sn.SHOT_TRANSITIONS:
            return []  # the decision, no-shot, error, waiting and shot lines say it
        line = (f"{e.machine}: {e.old_state} -> {e.new_state}"
                + (f" ({_clip(e.msg)})" if e.msg else ""))
        return [Line(WARNING if e.new_state in sn.ALARMING else INFO, line)]

    def _waiting(self, e: ev.Waiting) -> list[Line]:
        reasons = e.reasons
        text = "; ".join(reasons) if reasons is not None else "?"
        if not self._once("decision", f"waiting: {text}"):
            return []
        # a shot under way is why OCD waits: the shot's own lines say so
        if reasons and all(r.startswith(_BUSY) for r in reasons):
            return []
        return [Line(INFO, f"waiting: {_clip(text, 300)}")]

    def _decision(self, e: ev.Decision) -> list[Line]:
        self._last["decision"] = ""
        if e.started:
            return [Line(INFO, f"chose {e.shotid} {e.track} ({e.scheduler}): "
                               f"{_clip(e.reason)}")]
        return [Line(WARNING, f"did not start {e.shotid} {e.track}: {_clip(e.reason)}")]

    def _no_shot(self, e: ev.NoShot) -> list[Line]:
        reason = _clip(e.reason)
        if not self._once("decision", f"no shot: {reason}"):
            return []
        if e.scheduler_failed:
            return [Line(ERROR, f"scheduler failed: {reason}")]
        return [Line(INFO, f"no shot to observe: {reason}")]

    def _error(self, e: ev.MainError) -> list[Line]:
        self._last["decision"] = ""
        if e.stage == "n_obs":  # the shot is done: its bookkeeping is not
            return [Line(ERROR, _clip(e.error))]
        if e.stage == "guard":  # another main loop drives the telescope: named in full
            return [Line(ERROR, _clip(e.error, _NAMING))]
        return [Line(ERROR, f"could not start shot {e.shotid} ({e.stage}): {_clip(e.error)}")]

    def _by(self, origin: str) -> str:
        return "" if origin == self.main_origin or self.main_origin is None else \
            f", by hand ({_who(origin)})"

    def _shot_started(self, e: ev.ShotStarted) -> list[Line]:
        return [Line(INFO, f"shot {_shot(e.shotid, e.track)} started: observation "
                           f"{e.observation}{self._by(e.origin)}")]

    def _shot_ended(self, e: ev.ShotEnded) -> list[Line]:
        shot = _shot(e.shotid, e.track)
        if not e.failed:
            return [Line(INFO, f"shot {shot} completed: observation {e.observation}")]
        if e.aborted:
            return [Line(INFO, f"shot {shot} {_clip(e.exc_value)}: observation {e.observation}")]
        return [Line(WARNING, f"shot {shot} failed: {e.exc_type}: {_clip(e.exc_value)}")]

    def _shot_step(self, e: ev.ShotStep) -> list[Line]:
        if e.step == ev.SETUP_TELESCOPE:
            return [Line(INFO, f"telescope set up for {e.shotid}")] if e.finished else []
        if e.finished:
            return []
        of = f"/{e.exposures}" if e.exposures is not None else ""
        return [Line(INFO, f"exposure {e.exposure}{of} of {e.shotid}: {e.seconds} s, "
                           f"observation {e.observation}")]

    def _command_received(self, e: ev.CommandReceived) -> list[Line]:
        if e.request_id is not None:
            self._commands[e.request_id] = f"{_command(e)} from {e.sender}"
            while len(self._commands) > _PENDING_COMMANDS:
                self._commands.popitem(last=False)
        return []  # told with its answer

    def _acknowledged(self, e: ev.Ack) -> list[Line]:
        command = self._commands.pop(e.request_id, None) if e.request_id is not None else None
        # the command itself may arrive after its answer (they come from two publishers):
        # the answer names the sender too
        what = command or f"{e.command} from {_who(e.by)}"
        if e.ok:
            return [Line(INFO, f"{what}: {_clip(e.message)}")]
        return [Line(WARNING, f"{what}: refused: {_clip(e.message)}")]


#: What each kind of event tells (the others tell nothing).
_TELLERS: dict[type, _Teller] = {
    ev.StateChanged: Narrator._state_changed,
    ev.Waiting: Narrator._waiting,
    ev.Decision: Narrator._decision,
    ev.NoShot: Narrator._no_shot,
    ev.MainError: Narrator._error,
    ev.ShotStarted: Narrator._shot_started,
    ev.ShotEnded: Narrator._shot_ended,
    ev.ShotStep: Narrator._shot_step,
    ev.AllowHetdex: Narrator._command_received,
    ev.AbortShot: Narrator._command_received,
    ev.ConfigSend: Narrator._command_received,
    ev.Ack: Narrator._acknowledged,
    ev.ShotAck: Narrator._acknowledged,
}


class Situation:
    """What a status line shows: TCS, HETDEX allowed, the shot under way, the last decision."""

    def __init__(self) -> None:
        self.tcs = "?"
        self.hetdex = "?"
        self.shot = "none"
        self.decision = ""

    def feed(self, topic: str, payload: dict[str, Any]) -> bool:
        """Take one event into account; True when the status line changed."""
        return self.take(decode(topic, payload))

    def take(self, event: InboundEvent | None) -> bool:
        """Take one decoded event into account; True when the status line changed."""
        taker = _SITUATION.get(type(event))
        if taker is None:
            return False
        before = self.line()
        taker(self, event)
        return self.line() != before

    def _machine(self, machine: str | None, state: str | None) -> None:
        if machine == sn.TCS:
            self.tcs = str(state)
        elif machine == sn.HETDEX_ALLOWED:
            self.hetdex = str(state)

    def _state_changed(self, e: ev.StateChanged) -> None:
        self._machine(e.machine, e.new_state)

    def _state_reported(self, e: ev.StateReported) -> None:
        self._machine(e.machine, e.state)

    def _status(self, e: ev.MainStatus) -> None:
        if e.states is not None:
            self.tcs = e.states.get(sn.TCS, self.tcs)
            self.hetdex = e.states.get(sn.HETDEX_ALLOWED, self.hetdex)

    def _shot_started(self, e: ev.ShotStarted) -> None:
        self.shot = f"{_shot(e.shotid, e.track)} starting"

    def _shot_ended(self, e: ev.ShotEnded) -> None:
        self.shot = "none"

    def _shot_step(self, e: ev.ShotStep) -> None:
        if e.step == ev.EXP_HETDEX and not e.finished:
            self.shot = (f"{e.shotid} exposure {e.exposure}"
                         + (f"/{e.exposures}" if e.exposures is not None else ""))

    def _decision(self, e: ev.Decision) -> None:
        self.decision = f"chose {e.shotid} {e.track}"

    def _no_shot(self, e: ev.NoShot) -> None:
        self.decision = f"no shot: {e.reason}"

    def _waiting(self, e: ev.Waiting) -> None:
        if e.reasons is not None:
            self.decision = "waiting: " + "; ".join(e.reasons)

    def line(self, width: int = 200) -> str:
        """``TCS alive | HETDEX allowed | shot DEX00009 exposure 2/3 | chose DEX00009 W``,
        cut to ``width`` characters."""
        allowed = {sn.ALLOWED: "allowed", sn.NOT_ALLOWED: "not allowed"}.get(self.hetdex,
                                                                            self.hetdex)
        text = f"TCS {self.tcs} | HETDEX {allowed} | shot {self.shot}"
        if self.decision:
            text += f" | {self.decision}"
        text = " ".join(text.split())
        return text if len(text) <= width else text[:max(0, width - 1)] + "…"


_SITUATION: dict[type, Callable[[Situation, Any], None]] = {
    ev.StateChanged: Situation._state_changed,
    ev.StateReported: Situation._state_reported,
    ev.MainStatus: Situation._status,
    ev.ShotStarted: Situation._shot_started,
    ev.ShotEnded: Situation._shot_ended,
    ev.ShotStep: Situation._shot_step,
    ev.Decision: Situation._decision,
    ev.NoShot: Situation._no_shot,
    ev.Waiting: Situation._waiting,
}
