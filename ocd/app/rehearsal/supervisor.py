"""The supervisor of ``ocd rehearse``: the real processes as children, followed and stopped.

It starts, in the rehearsal's private directory, ``ocd run``, a recorder, the alarm watcher
(``ocd alarms watch``), the TCS (``ocd db_replay`` of a recorded night, or ``ocd sim_tcs``) and
``ocd allow_hetdex start``; follows their events to show progress
(:class:`~ocd.monitor.tally.Tally`) and the alarms; ends the night segment on
the main loop's clock; and stops every child in order (SIGTERM, then wait; SIGKILL only if one
hangs).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from ocd.app.rehearsal.layout import Layout
from ocd.app.rehearsal.plan import Plan
from ocd.bus import BusOptions, BusSecurity, Source, Subscriber
from ocd.bus.envelope import Event
from ocd.bus.sequence import SeqKind
from ocd.core.payload import ocd_time
from ocd.core.sources import ALARMS, COMMANDERS, MAIN_LOOP, REPLAY, RUN_SHOT, TCS
from ocd.errors import OcdError, printable, printable_lines
from ocd.monitor.lines import ALARM_TOPICS, format_alarm
from ocd.monitor.tally import Tally
from ocd.shell.children import OcdChild, describe_exit
from ocd.shell.service import Service
from ocd.timetext import hms

log = logging.getLogger(__name__)

#: Real seconds to wait for the main loop's first event before calling the start a failure.
STARTUP_TIMEOUT = 90.0
#: Real seconds of quiet that end the reading of the last events while stopping.
DRAIN_QUIET = 0.3
#: The recording of a rehearsal, in its directory.
RECORDING = "rehearsal.db"


# -- the shell -----------------------------------------------------------------------------------

def _why(child: OcdChild) -> str:
    """``: <its error line>`` when the child said ``ocd: error: ...`` last, else nothing (its
    stderr is shown anyway)."""
    last = child.stderr_tail(1).strip()
    return f": {last[len('ocd: error: '):]}" if last.startswith("ocd: error: ") else ""


class RehearsalFailed(OcdError):
    """A child process failed: the message names it and says why."""


@dataclass
class Outcome:
    tally: Tally
    wall: float
    reached: dt.datetime | None
    interrupted: bool = False
    failure: str | None = None


class Rehearsal(Service):
    """One rehearsal: its plan, directory, children and the configuration arguments they get.
    SIGINT, SIGTERM and SIGHUP interrupt it; every child is stopped in all cases."""

    extra_signals = {signal.SIGHUP: "interrupt"}
    #: Children that are expected to exit by themselves (with status 0).
    one_shot: tuple[str, ...] = ("allow_hetdex",)

    def __init__(self, plan: Plan, layout: Layout, config_args: list[str],
                 options: BusOptions, security: BusSecurity | None = None,
                 out: TextIO | None = None) -> None:
        super().__init__("ocd rehearse")
        self.plan, self.layout, self.config_args, self.options = plan, layout, config_args, options
        self.security = security or BusSecurity()
        self.out = sys.stdout if out is None else out
        self.children: dict[str, OcdChild] = {}
        self.tally = Tally(self.plan.exposures)
        self._t0 = time.monotonic()
        self._clock_base: tuple[dt.datetime, float] | None = None
        self.subscriber: Subscriber | None = None
        self.failure: str | None = None
        self.reached: dt.datetime | None = None

    def interrupt(self) -> None:
        self.request_stop("SIGHUP")

    @property
    def interrupted(self) -> bool:
        return self.stopping.is_set()

    # -- output --------------------------------------------------------------------------------
    def say(self, text: str, when: dt.datetime | None = None) -> None:
        stamp = hms(when) if when else " " * 8
        try:
            print(f"[{time.monotonic() - self._t0:6.1f} s] {stamp}  {printable(text)}",
                  file=self.out, flush=True)
        except BrokenPipeError:  # ocd rehearse | head -1: stop every child, then end quietly
            self.request_stop("output closed")

    # -- children ------------------------------------------------------------------------------
    def start_child(self, name: str, args: list[str]) -> OcdChild:
        child = OcdChild(name, [*args, *self.config_args], self.layout.root)
        self.children[name] = child
        self.say(f"started {child.label}")
        return child

    async def _wait_bound(self, child: OcdChild, names: list[str]) -> str | None:
        """Wait until ``child`` has bound the ipc sockets ``names`` (their files exist), so
        the monitor and the recorder connect at once instead of in a retry interval and miss
        nothing of the night; why not, or None."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        paths = [self.layout.ipc / f"{name}.ipc" for name in names]
        while not all(path.exists() for path in paths):
            if self.stopping.is_set():
                return None
            if child.poll() is not None:
                return self.check_children()
            if time.monotonic() > deadline:
                return f"{child.label} did not bind its addresses within {STARTUP_TIMEOUT:g} s"
            await asyncio.sleep(0.05)
        return None

    async def _start_board(self) -> str | None:
        """``ocd board`` on the rehearsal; its address printed once it serves. Why not, or
        None."""
        board = self.start_child("board", ["board"])
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.stopping.is_set():
            match = re.search(r"ocd board: the night on (\S+) ", board.stdout())
            if match:
                self.say(f"the board of this night: {match.group(1)}")
                return None
            if board.poll() is not None:
                return self.check_children()
            if time.monotonic() > deadline:
                return f"{board.label} did not serve its page within {STARTUP_TIMEOUT:g} s"
            await asyncio.sleep(0.05)
        return None

    def start_rest(self) -> None:
        """After the main loop: the recorder, the alarm watcher, the TCS and the allow
        command."""
        plan, layout = self.plan, self.layout
        self.start_child("record", ["record", str(layout.root / RECORDING)])
        self.start_child("alarms", ["alarms", "watch"])
        # the subscribers of the replay's and the allow command's addresses: the main loop,
        # the recorder, the alarm watcher, this monitor and the board (counting fewer, the
        # others could make up the number before the recorder)
        subscribers = 5 if plan.board else 4
        if plan.tcs == "replay":
            assert plan.night is not None
            topics = [arg for t in plan.replay_topics for arg in ("-t", t)]
            # its first event waits for all of them
            self.start_child("db_replay", ["db_replay", "--loop", "-s", f"{plan.replay_speedup:g}",
                                     "--subscribers", str(subscribers), "--wait",
                                     f"{STARTUP_TIMEOUT:g}", *topics, str(plan.night)])
        else:
            self.start_child("sim_tcs", ["sim_tcs"])
        # sent once they all subscribe: the recording holds the command (and, the recorder
        # being connected to the main loop long before, its acknowledgement and the state
        # change it makes)
        self.start_child("allow_hetdex", ["allow_hetdex", "start", "--timeout",
                                          f"{STARTUP_TIMEOUT:g}", "--subscribers",
                                          str(subscribers)])

    def check_children(self) -> str | None:
        """Why the rehearsal must stop because of a child, or None."""
        for name, child in self.children.items():
            code = child.poll()
            if code is None or (name in self.one_shot and code == 0):
                continue
            return f"{child.label} stopped unexpectedly: {describe_exit(code)}{_why(child)}"
        return None

    def stop_order(self) -> list[str]:
        """The main loop first (it aborts a running shot and says so), then the alarm watcher
        (before the TCS, whose end is no alarm), then the TCS, then the one-shot commands, the
        recorder last so it keeps every end."""
        names = ["run", "alarms", "db_replay", "sim_tcs", "allow_hetdex", "board", "record"]
        return [n for n in names if n in self.children]

    # -- clock ---------------------------------------------------------------------------------
    def main_clock(self) -> dt.datetime | None:
        """The main loop's clock now, from its events (None before its first one)."""
        if self._clock_base is None:
            return None
        when, seen = self._clock_base
        return when + dt.timedelta(seconds=(time.monotonic() - seen) * self.plan.speed)

    def _learn_clock(self, payload: dict[str, Any]) -> None:
        if self._clock_base is None and str(payload.get("__origin", "")).startswith(
                "ocd_main_loop@"):
            when = ocd_time(payload)
            if when is not None:
                self._clock_base = (when, time.monotonic())

    # -- the night -----------------------------------------------------------------------------
    def _handle(self, subscriber: Subscriber, event: Event) -> None:
        with self.guard("event", event.topic):
            self._follow_event(subscriber, event)

    def _follow_event(self, subscriber: Subscriber, event: Event) -> None:
        check = subscriber.last_check
        if check is not None and check.kind is SeqKind.GAP:
            self.say(self.tally.gap(check.origin, check.expected, check.seq, check.missing))
        self._learn_clock(event.payload)
        if event.topic in ALARM_TOPICS:
            self.say(format_alarm(event))  # the line has its time
        for line in self.tally.feed(event.topic, event.payload):
            self.say(line, ocd_time(event.payload))

    async def _follow(self, subscriber: Subscriber) -> tuple[str | None, dt.datetime | None]:
        """Until the night segment is over, a child fails, or the user interrupts."""
        plan = self.plan
        started = time.monotonic()
        next_check = 0.0
        while not self.stopping.is_set():
            try:
                event = await subscriber.recv(timeout=0.2)
            except TimeoutError:
                event = None
            if event is not None:
                self._handle(subscriber, event)
            now = time.monotonic()
            if now >= next_check:
                next_check = now + 0.2
                failure = self.check_children()
                if failure is not None:
                    return failure, self.main_clock()
                clock = self.main_clock()
                if clock is None and now - started > STARTUP_TIMEOUT:
                    run = self.children["run"]
                    return (f"{run.label} published nothing within {STARTUP_TIMEOUT:g} s"
                            f"{_why(run)}"), None
                if clock is not None and clock >= plan.end:
                    self.say(f"end of the night segment ({plan.duration / 60:g} min of OCD "
                             "time): stopping", clock)
                    return None, clock
        return None, self.main_clock()

    async def _drain(self, subscriber: Subscriber) -> None:
        """Read what is still on its way (the ends of shots) until quiet."""
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            try:
                event = await subscriber.recv(timeout=DRAIN_QUIET)
            except TimeoutError:
                return
            self._handle(subscriber, event)

    async def _stop_children(self, subscriber: Subscriber | None) -> list[str]:
        """Stop every child in order; the problems met (a child that failed or hung)."""
        problems = []
        loop = asyncio.get_running_loop()
        self.tally.stopping = True
        for name in self.stop_order():
            child = self.children[name]
            if name == "record" and subscriber is not None:
                await self._drain(subscriber)  # every publisher has stopped: their last events
            running = child.poll() is None
            began = time.monotonic()
            code, killed = await loop.run_in_executor(None, child.stop, self.plan.stop_timeout)
            log.debug("%s stopped in %.2f s: %s", child.label, time.monotonic() - began,
                      describe_exit(code))
            if killed:
                problems.append(f"{child.label} did not stop within "
                                f"{self.plan.stop_timeout:g} s of SIGTERM: killed")
            elif running and code != 0:
                problems.append(f"{child.label} stopped with {describe_exit(code)}"
                                f"{_why(child)}")
        return problems

    async def main(self) -> int:
        run = self.start_child("run", ["run", "--yes"])
        failure = await self._wait_bound(run, ["main", "shot"])
        if failure is None and not self.stopping.is_set():
            layout = self.layout
            tcs = Source(REPLAY, (layout.replay_url,)) if self.plan.tcs == "replay" \
                else Source(TCS, (layout.tcs_url,))
            self.subscriber = self.closing(Subscriber(
                self.ctx, topics=[""], sources=[
                    Source(MAIN_LOOP, (layout.url("main"),)),
                    Source(RUN_SHOT, (layout.url("shot"),)),
                    Source(COMMANDERS, (layout.url("allow"),)),
                    Source(ALARMS, (layout.url("alarms"),)), tcs],
                options=self.options, log_gaps=False, security=self.security))
            if self.plan.board:
                failure = await self._start_board()
            if failure is None:
                self.start_rest()
                failure, self.reached = await self._follow(self.subscriber)
        if failure is not None:
            self.failure = failure
            self._show_failure(failure)
        return 0

    async def before_close(self) -> None:
        problems = await self._stop_children(self.subscriber)
        if self.failure is None and problems and not self.stopping.is_set():
            self.failure = problems[0]
            self._show_failure(self.failure)
        for problem in problems:
            if problem != self.failure:
                print(printable_lines(f"ocd rehearse: {problem}"), file=sys.stderr)
        self.tally.finish()

    def outcome(self) -> Outcome:
        return Outcome(self.tally, time.monotonic() - self._t0, self.reached,
                       self.stopping.is_set(), self.failure)

    def _show_failure(self, failure: str) -> None:
        print(printable_lines(f"ocd rehearse: {failure}"), file=sys.stderr)
        for child in self.children.values():
            if failure.startswith(child.label):
                tail = child.stderr_tail(15)
                if tail:
                    print(printable_lines(f"--- last lines of {child.label}'s stderr ---\n"
                                          f"{tail}\n---"), file=sys.stderr)
