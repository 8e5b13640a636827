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

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ocd.core import topics
from ocd.core.commands import sender
from ocd.core.payload import ocd_time

#: Commands remembered while their acknowledgement is awaited (a bounded table: ids come from
#: senders).
_PENDING_COMMANDS = 256
#: Longest reason quoted in a line.
_REASON = 160

INFO, WARNING, ERROR = "info", "warning", "error"
#: run_shot transitions the shot's own lines already tell (started, completed, failed).
_TOLD_BY_SHOT = ("shot_started", "shot_finished", "shot_failed")
#: Reasons to wait that only say a shot is under way.
_BUSY = ("run_shot is running", "starting shot ")


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


def _hhmmss(payload: dict[str, Any]) -> str:
    when = ocd_time(payload)
    return when.strftime("%H:%M:%S") if when else "--:--:--"


def _command(topic: str, payload: dict[str, Any]) -> str:
    """``allow_hetdex start``, ``abort``, ``config send [run] max_seeing=2``."""
    if topic == topics.COMMAND_ALLOW:
        allowed = payload.get("allowed")
        return f"allow_hetdex {'start' if allowed is True else 'stop' if allowed is False else '?'}"
    if topic == topics.COMMAND_CONFIG:
        changes = payload.get("changes")
        shown = ", ".join(f"[{c[0]}] {c[1]}={c[2]}" for c in changes
                          if isinstance(c, list) and len(c) == 3) \
            if isinstance(changes, list) else "?"
        return _clip(f"config send {shown}", 100)
    return topic[len(topics.COMMAND_PREFIX):]


def _shot(payload: dict[str, Any]) -> str:
    track = payload.get("obs_track")
    return f"{payload.get('shotid', '?')}" + (f" {track}" if isinstance(track, str) else "")


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
        """The lines one event deserves (often none)."""
        lines = self._lines(topic, payload)
        stamp = _hhmmss(payload)
        return [Line(line.level, f"{stamp}  {line.text}") for line in lines]

    def _lines(self, topic: str, p: dict[str, Any]) -> list[Line]:
        if topic == topics.STATES_CHANGE:
            if p.get("machine_name") == "meta" or p.get("transition") in _TOLD_BY_SHOT:
                return []  # the decision, waiting and shot lines say it
            line = (f"{p.get('machine_name')}: {p.get('old_state')} -> {p.get('new_state')}"
                    + (f" ({_clip(p.get('msg'))})" if p.get("msg") else ""))
            level = WARNING if p.get("new_state") in ("dead", "error", "bad") else INFO
            return [Line(level, line)]
        if topic == topics.MAIN_WAITING:
            reasons = p.get("reasons")
            text = "; ".join(map(str, reasons)) if isinstance(reasons, list) else "?"
            if not self._once("decision", f"waiting: {text}"):
                return []
            # a shot under way is why OCD waits: the shot's own lines say so
            if isinstance(reasons, list) and reasons and all(
                    str(r).startswith(_BUSY) for r in reasons):
                return []
            return [Line(INFO, f"waiting: {_clip(text, 300)}")]
        if topic == topics.MAIN_DECISION:
            self._last["decision"] = ""
            if p.get("started"):
                return [Line(INFO, f"chose {p.get('shotid')} {p.get('track')} "
                                   f"({p.get('scheduler')}): {_clip(p.get('reason'))}")]
            return [Line(WARNING, f"did not start {p.get('shotid')} {p.get('track')}: "
                                  f"{_clip(p.get('reason'))}")]
        if topic == topics.MAIN_NO_SHOT:
            reason = _clip(p.get("reason"))
            if not self._once("decision", f"no shot: {reason}"):
                return []
            if p.get("scheduler") == "error":
                return [Line(ERROR, f"scheduler failed: {reason}")]
            return [Line(INFO, f"no shot to observe: {reason}")]
        if topic == topics.MAIN_ERROR:
            self._last["decision"] = ""
            return [Line(ERROR, f"could not start shot {p.get('shotid')} ({p.get('stage')}): "
                                f"{_clip(p.get('error'))}")]
        if topic.startswith(topics.RUN_SHOT_PREFIX) and topic != topics.RUN_SHOT_ACK:
            return self._shot_lines(topic, p)
        if topic.startswith(topics.COMMAND_PREFIX):
            return self._command_received(topic, p)
        if topic in topics.ACK_TOPICS:
            return self._acknowledged(p)
        return []

    def _shot_lines(self, topic: str, p: dict[str, Any]) -> list[Line]:
        status, shot = p.get("exec_status"), _shot(p)
        origin = p.get("__origin")
        by = "" if origin == self.main_origin or self.main_origin is None else \
            f", by hand ({_who(origin)})"
        if topic == topics.RUN_SHOT_RUN and status == 0:
            return [Line(INFO, f"shot {shot} started: observation {p.get('observation')}{by}")]
        if topic == topics.RUN_SHOT_RUN and status == 1:
            if not p.get("error"):
                return [Line(INFO, f"shot {shot} completed: observation {p.get('observation')}")]
            return [Line(WARNING, f"shot {shot} failed: {p.get('exc_type')}: "
                                  f"{_clip(p.get('exc_value'))}")]
        if topic == topics.RUN_SHOT_SETUP_TELESCOPE and status == 1:
            return [Line(INFO, f"telescope set up for {p.get('shotid')}")]
        if topic == topics.RUN_SHOT_EXP_HETDEX and status == 0:
            total = p.get("exposures")
            of = f"/{total}" if isinstance(total, int) else ""
            return [Line(INFO, f"exposure {p.get('exposure')}{of} of {p.get('shotid')}: "
                               f"{p.get('seconds')} s, observation {p.get('observation')}")]
        return []

    def _command_received(self, topic: str, p: dict[str, Any]) -> list[Line]:
        request = p.get("id")
        if isinstance(request, str) and request:
            self._commands[request] = f"{_command(topic, p)} from {sender(p)}"
            while len(self._commands) > _PENDING_COMMANDS:
                self._commands.popitem(last=False)
        return []  # told with its answer

    def _acknowledged(self, p: dict[str, Any]) -> list[Line]:
        request = p.get("id")
        command = self._commands.pop(request, None) if isinstance(request, str) else None
        # the command itself may arrive after its answer (they come from two publishers):
        # the answer names the sender too
        what = command or f"{p.get('command')} from {_who(p.get('by'))}"
        if p.get("ok"):
            return [Line(INFO, f"{what}: {_clip(p.get('message'))}")]
        return [Line(WARNING, f"{what}: refused: {_clip(p.get('message'))}")]


class Situation:
    """What a status line shows: TCS, HETDEX allowed, the shot under way, the last decision."""

    def __init__(self) -> None:
        self.tcs = "?"
        self.hetdex = "?"
        self.shot = "none"
        self.decision = ""

    def feed(self, topic: str, p: dict[str, Any]) -> bool:
        """Take one event into account; True when the status line changed."""
        before = self.line()
        if topic == topics.STATES_CHANGE or topic == topics.STATES_STATE:
            state = p.get("new_state") if topic == topics.STATES_CHANGE else p.get("state")
            if p.get("machine_name") == "tcs":
                self.tcs = str(state)
            elif p.get("machine_name") == "hetdex_allowed":
                self.hetdex = str(state)
        elif topic == topics.MAIN_STATUS and isinstance(p.get("states"), dict):
            states = p["states"]
            self.tcs = str(states.get("tcs", self.tcs))
            self.hetdex = str(states.get("hetdex_allowed", self.hetdex))
        elif topic == topics.RUN_SHOT_RUN:
            self.shot = f"{_shot(p)} starting" if p.get("exec_status") == 0 else "none"
        elif topic == topics.RUN_SHOT_EXP_HETDEX and p.get("exec_status") == 0:
            total = p.get("exposures")
            self.shot = (f"{p.get('shotid')} exposure {p.get('exposure')}"
                         + (f"/{total}" if isinstance(total, int) else ""))
        elif topic == topics.MAIN_DECISION:
            self.decision = f"chose {p.get('shotid')} {p.get('track')}"
        elif topic == topics.MAIN_NO_SHOT:
            self.decision = f"no shot: {p.get('reason')}"
        elif topic == topics.MAIN_WAITING and isinstance(p.get("reasons"), list):
            self.decision = "waiting: " + "; ".join(map(str, p["reasons"]))
        return self.line() != before

    def line(self, width: int = 200) -> str:
        """``TCS alive | HETDEX allowed | shot DEX00009 exposure 2/3 | chose DEX00009 W``,
        cut to ``width`` characters."""
        allowed = {"allowed": "allowed", "not_allowed": "not allowed"}.get(self.hetdex,
                                                                          self.hetdex)
        text = f"TCS {self.tcs} | HETDEX {allowed} | shot {self.shot}"
        if self.decision:
            text += f" | {self.decision}"
        text = " ".join(text.split())
        return text if len(text) <= width else text[:max(0, width - 1)] + "…"
