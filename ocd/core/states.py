"""The main loop's state machines: plain objects fed with events and clock readings.

Each machine has a name, a current state and a ``transition`` method that returns a
:class:`StateChange` (published as ``ocd.states.change``) or ``None`` when nothing changed. They
never read a clock themselves: the time ``now`` (Unix seconds of OCD's clock) is passed in, so
tests drive them with plain numbers.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any


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
                "old_state": self.old_state, "new_state": self.new_state, "msg": self.msg,
                "traceback": self.traceback}


class Machine:
    """A named state holder; subclasses define their states and when they move."""

    name = "machine"
    states: tuple[str, ...] = ()
    #: What each state means, for people (doc/events.md is generated from it).
    meanings: dict[str, str] = {}

    def __init__(self, initial: str) -> None:
        assert initial in self.states, initial
        self.state = initial

    def move(self, new_state: str, transition: str, msg: str = "",
             traceback: str | None = None) -> StateChange | None:
        assert new_state in self.states, new_state
        if new_state == self.state:
            return None
        change = StateChange(self.name, transition, self.state, new_state, msg, traceback)
        self.state = new_state
        return change


class TcsState(Machine):
    """``alive`` while TCS heartbeats arrive within ``timeout`` seconds, else ``dead``."""

    name = "tcs"
    states = ("dead", "alive")
    meanings = {
        "dead": "no TCS heartbeat for `[tcs] heartbeat_timeout` seconds, or none yet since "
                "`ocd run` started: no shot starts",
        "alive": "TCS heartbeats arrive",
    }

    def __init__(self, timeout: float) -> None:
        super().__init__("dead")
        self.timeout = timeout
        self.last_heartbeat: float | None = None

    def heartbeat(self, now: float) -> StateChange | None:
        self.last_heartbeat = now
        return self.move("alive", "heartbeat", "TCS heartbeat received")

    def tick(self, now: float) -> StateChange | None:
        if self.state == "alive" and self.last_heartbeat is not None \
                and now - self.last_heartbeat > self.timeout:
            return self.move("dead", "heartbeat_timeout",
                             f"no TCS heartbeat for {now - self.last_heartbeat:.1f} s "
                             f"(timeout {self.timeout:g} s)")
        return None


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


class MetrologyState(Machine):
    """``good`` or ``bad`` conditions from the guiders' fresh readings, or ``stale`` without any.

    Conditions are the median of the fresh readings of the guiders (with two, their mean), so
    one probe on a poor star does not alone decide the night.
    """

    name = "metrology"
    states = ("stale", "good", "bad")
    meanings = {
        "stale": "no guider reading younger than `[run] metrology_stale_after` (usual between "
                 "shots: the guiders measure while tracking); shots may start",
        "good": "the fresh readings are within `[run] max_seeing` and `min_transparency`",
        "bad": "seeing too wide or transparency too low: no shot starts",
    }

    def __init__(self, limits: MetrologyLimits) -> None:
        super().__init__("stale")
        self.limits = limits
        self.readings: dict[str, GuiderReading] = {}

    def conditions(self, now: float) -> tuple[float | None, float | None]:
        """Median seeing and transparency of the fresh readings (None when unknown)."""
        fresh = [r for r in self.readings.values() if now - r.time <= self.limits.stale_after]
        seeing = [r.seeing for r in fresh if r.seeing is not None]
        transparency = [r.transparency for r in fresh if r.transparency is not None]
        return (statistics.median(seeing) if seeing else None,
                statistics.median(transparency) if transparency else None)

    def reading(self, guider: str, seeing: float | None, transparency: float | None,
                now: float) -> StateChange | None:
        self.readings[guider] = GuiderReading(seeing, transparency, now)
        return self.tick(now)

    def tick(self, now: float) -> StateChange | None:
        seeing, transparency = self.conditions(now)
        if seeing is None and transparency is None:
            return self.move("stale", "stale",
                             f"no guider metrology for {self.limits.stale_after:g} s")
        problems = []
        if seeing is not None and seeing > self.limits.max_seeing:
            problems.append(f"seeing {seeing:.2f}\" > {self.limits.max_seeing:g}\"")
        if transparency is not None and transparency < self.limits.min_transparency:
            problems.append(f"transparency {transparency:.2f} < {self.limits.min_transparency:g}")
        if problems:
            return self.move("bad", "conditions", ", ".join(problems))
        described = ", ".join(filter(None, [
            f"seeing {seeing:.2f}\"" if seeing is not None else "",
            f"transparency {transparency:.2f}" if transparency is not None else ""]))
        return self.move("good", "conditions", described)


class HetdexAllowedState(Machine):
    """Whether automatic shots may run; starts ``not_allowed`` (the RA must allow them)."""

    name = "hetdex_allowed"
    states = ("not_allowed", "allowed")
    meanings = {
        "not_allowed": "automatic shots forbidden: the state at start, and after "
                       "`ocd allow_hetdex stop`",
        "allowed": "automatic shots allowed by `ocd allow_hetdex start`",
    }

    def __init__(self) -> None:
        super().__init__("not_allowed")

    def set(self, allowed: bool, by: str = "") -> StateChange | None:
        who = f" by {by}" if by else ""
        if allowed:
            return self.move("allowed", "allow", f"HETDEX shots allowed{who}")
        return self.move("not_allowed", "forbid", f"HETDEX shots forbidden{who}")


@dataclass
class RunningShot:
    """What the main loop knows about a shot in progress, from its events."""

    shotid: str
    origin: str
    started: float
    last_event: float


class RunShotState(Machine):
    """``idle``, ``running`` (a shot's ``run`` start seen), ``error`` after a failed shot.

    ``error`` lasts ``error_pause`` seconds so a failing shot does not loop at full speed; a
    running shot whose publisher falls silent for ``silent_after`` seconds is declared failed,
    so a crashed ``ocd run_shot`` cannot block the night.
    """

    name = "run_shot"
    states = ("idle", "running", "error")
    meanings = {
        "idle": "no shot runs",
        "running": "a shot runs, the main loop's own or one run by hand (`ocd run_shot -e`): "
                   "no other starts",
        "error": "the last shot failed or fell silent for `[run] shot_silent_after`: no shot "
                 "starts for `[run] error_pause` seconds",
    }

    def __init__(self, error_pause: float, silent_after: float) -> None:
        super().__init__("idle")
        self.error_pause = error_pause
        self.silent_after = silent_after
        self.shot: RunningShot | None = None
        self.error_since: float | None = None

    def event(self, key: str, payload: dict[str, Any], now: float) -> StateChange | None:
        """Feed an ``ocd.run_shot.<key>`` event."""
        origin = str(payload.get("__origin") or "")
        shotid = str(payload.get("shotid") or "")
        if self.shot is not None and origin == self.shot.origin:
            self.shot.last_event = now
        if key != "run":
            return None
        status = payload.get("exec_status")
        if status == 0:
            self.shot = RunningShot(shotid, origin, now, now)
            self.error_since = None
            return self.move("running", "shot_started", f"shot {shotid} started ({origin})")
        if status == 1:
            if self.shot is not None and self.shot.origin != origin \
                    and payload.get("shot_origin") != self.shot.origin:
                # the end of another publisher's shot: not the one we follow (a restarted
                # ``ocd run`` closing the shot its killed predecessor ran names that one in
                # ``shot_origin``)
                return None
            self.shot = None
            if payload.get("error"):
                self.error_since = now
                reason = payload.get("exc_value") or payload.get("exc_type") or "error"
                return self.move("error", "shot_failed", f"shot {shotid} failed: {reason}",
                                 payload.get("traceback"))
            return self.move("idle", "shot_finished", f"shot {shotid} finished")
        return None

    def tick(self, now: float) -> StateChange | None:
        if self.state == "error" and self.error_since is not None \
                and now - self.error_since >= self.error_pause:
            self.error_since = None
            return self.move("idle", "error_pause_over",
                             f"{self.error_pause:g} s after the failed shot")
        if self.state == "running" and self.shot is not None \
                and now - self.shot.last_event > self.silent_after:
            shot, self.shot = self.shot, None
            self.error_since = now
            return self.move("error", "shot_silent",
                             f"no event from shot {shot.shotid} ({shot.origin}) for "
                             f"{now - shot.last_event:.0f} s: considered failed")
        return None


class MetaState(Machine):
    """``satisfied`` when every other machine is in a wanted state, else ``unsatisfied``."""

    name = "meta"
    states = ("unsatisfied", "satisfied")
    meanings = {
        "unsatisfied": "some machine is not in a state that allows a shot: "
                       "`ocd.main_loop.waiting` says which",
        "satisfied": "run_shot idle, hetdex_allowed allowed, tcs alive, metrology good or "
                     "stale: the scheduler is asked for a shot",
    }
    #: For each machine, the states that allow a new shot. Stale metrology is accepted: the
    #: guiders only measure while the telescope tracks, so between shots it is usually stale.
    WANTED = {"run_shot": ("idle",), "hetdex_allowed": ("allowed",), "tcs": ("alive",),
              "metrology": ("good", "stale")}

    def __init__(self, machines: list[Machine]) -> None:
        super().__init__("unsatisfied")
        self.machines = machines

    def reasons(self) -> list[str]:
        """Why a shot cannot start now, one phrase per unsatisfied machine."""
        return [f"{m.name} is {m.state} (needs {' or '.join(self.WANTED[m.name])})"
                for m in self.machines if m.state not in self.WANTED.get(m.name, (m.state,))]

    def update(self) -> StateChange | None:
        reasons = self.reasons()
        if reasons:
            return self.move("unsatisfied", "unsatisfied", "; ".join(reasons))
        return self.move("satisfied", "satisfied", "all conditions met")
