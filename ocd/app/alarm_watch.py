"""``ocd alarms watch``: the alarm rules (:mod:`ocd.core.alarms`) run on the live bus.

Subscribes to every OCD address and to the TCS, feeds each decoded event to the alarm book,
evaluates the rules at every tick, and publishes on ``[urls] ocd_alarms``: ``ocd.alarm.raised``,
``cleared``, ``acknowledged``, ``muted`` and a periodic ``ocd.alarm.list``. It obeys
``ocd.command.alarm_ack`` and ``alarm_mute`` from the commanders' addresses (fresh commands
only, as ``ocd run``: :class:`ocd.core.commands.Freshness`) and answers on ``ocd.alarm.ack``.
A critical alarm nobody acknowledges is raised again every ``[alarms] escalate_after`` minutes
and the escalation command (static, from the configuration only) runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ocd.bus import (
    SERVICES,
    Event,
    HeartbeatResponder,
    Publisher,
    Subscriber,
    security_from_config,
    sources_of,
)
from ocd.bus.sequence import SeqKind
from ocd.clock import Clock
from ocd.config import Config, fill_template
from ocd.core import events as ev
from ocd.core import topics
from ocd.core.alarms import (
    AlarmBook,
    AlarmChange,
    AlarmError,
    ClockSample,
    EventsLost,
    Thresholds,
    default_rules,
)
from ocd.core.commands import REPEATED, Freshness, ack_payload
from ocd.core.payload import finite_number, ocd_time
from ocd.errors import ConfigError, OcdError, printable
from ocd.shell.clock_source import choose_clock, log_choice
from ocd.shell.service import Service, run_service
from ocd.shell.settings import TCS_TIMEOUT_REAL_FLOOR, tcs_topics

log = logging.getLogger("ocd.alarms")

#: The service this process publishes for, and its index option's section.
SERVICE, SECTION = "ocd_alarms", "alarms"
#: Most ticks per second (the rules are evaluated at least this often while events flow).
TICK = 0.5
#: Longest mute accepted, in minutes (a night).
MAX_MUTE_MINUTES = 1440.0
#: Escalation commands running at once at most (a stuck pager must not pile up processes).
MAX_HOOKS = 2
#: Real seconds without a main loop status before ``main_loop_silent`` at least, whatever the
#: mock clock's speed (at 120x the default 60 s of OCD time are half a real second).
MAIN_LOOP_SILENT_REAL_FLOOR = 3.0
#: The fields an escalation command's arguments may name.
HOOK_FIELDS = ("alarm", "severity", "reason")


@dataclass(frozen=True)
class Escalation:
    """``[alarms] escalation_command``, its arguments and timeout (static: no message may
    change what OCD runs)."""

    program: str
    arguments: tuple[str, ...]
    timeout: float

    def command(self, payload: Mapping[str, Any]) -> list[str]:
        """The command line for one escalated alarm: each field one argument, as data."""
        fields = {name: str(payload.get(name) or "") for name in HOOK_FIELDS}
        return [self.program, *(fill_template(word, fields, 4096) for word in self.arguments)]


def thresholds_from_config(cfg: Config) -> Thresholds:
    """``[alarms]`` (each option's range is checked by the configuration)."""
    get = cfg.get_float
    hold = get(SECTION, "hold_minutes") * 60
    return Thresholds(tcs_heartbeat_timeout=get(SECTION, "tcs_heartbeat_timeout"),
                      main_loop_silent=get(SECTION, "main_loop_silent"),
                      metrology_bad=get(SECTION, "metrology_bad_minutes") * 60,
                      no_shot=get(SECTION, "no_shot_minutes") * 60,
                      error_hold=hold, lost_hold=hold,
                      clock_offset=get(SECTION, "clock_offset"),
                      sign_in_failures=cfg.get_int(SECTION, "sign_in_failures"),
                      sign_in_window=get(SECTION, "sign_in_window"))


def escalation_from_config(cfg: Config) -> Escalation | None:
    """The escalation command, checked at start (one line when its arguments are wrong)."""
    program = cfg.get_str(SECTION, "escalation_command")
    if not program:
        return None
    template = cfg.get_str(SECTION, "escalation_arguments")
    origin = cfg.origin(SECTION, "escalation_arguments")
    try:
        words = tuple(shlex.split(template))
        for word in words:
            fill_template(word, dict.fromkeys(HOOK_FIELDS, ""))
    except ValueError as exc:
        raise ConfigError(f"{origin}: [alarms] escalation_arguments = {template!r}: {exc} "
                          f"(fields: {', '.join(HOOK_FIELDS)})") from None
    return Escalation(program, words, cfg.get_float(SECTION, "escalation_timeout"))


class AlarmWatch(Service):
    """One ``ocd alarms watch`` process."""

    def __init__(self, cfg: Config) -> None:
        super().__init__("ocd alarms watch")
        self.cfg = cfg
        self.security = security_from_config(cfg)
        self.thresholds = thresholds_from_config(cfg)
        self.escalate_after = cfg.get_float(SECTION, "escalate_after") * 60
        self.list_interval = cfg.get_float(SECTION, "list_interval")
        self.escalation = escalation_from_config(cfg)
        self.freshness = Freshness(cfg.get_float("security", "command_max_age"), time.time())
        self.hooks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        choice = await choose_clock(self.cfg, self.ctx)
        log_choice(choice)
        self.clock: Clock = choice.clock
        self.pub = self.closing(Publisher.for_service(self.ctx, self.cfg, SERVICE, SECTION,
                                                      clock=self.clock))
        self.responder = HeartbeatResponder(self.pub, SERVICE, {SERVICE: self.pub.url})
        self.spawn(self.responder.greet(), name="greetings", daemon=True)
        self.tcs = tcs_topics(self.cfg)
        followed = [s for s in SERVICES if s != SERVICE]
        # all of ``ocd.``: a publisher's sequence is then complete, and a gap is a loss
        self.subscriber = self.closing(Subscriber.from_config(
            self.ctx, self.cfg, sources_of(self.cfg, followed, tcs=True),
            [topics.OCD_PREFIX, *self.tcs.all()], log_gaps=False))
        speed = self._speed()
        if speed > 1:  # heartbeats and statuses come in real time: never wait less than
            # real seconds (a loaded machine stalls a process for a fraction of one)
            self.thresholds = replace(
                self.thresholds,
                tcs_heartbeat_timeout=max(self.thresholds.tcs_heartbeat_timeout,
                                          TCS_TIMEOUT_REAL_FLOOR * speed),
                main_loop_silent=max(self.thresholds.main_loop_silent,
                                     MAIN_LOOP_SILENT_REAL_FLOOR * speed))
        now = self.clock.timestamp()
        self.book = AlarmBook(default_rules(self.thresholds, now,
                                            "mock" if self.clock.is_mock else "real"),
                              self.escalate_after)

    async def main(self) -> int:
        log.info("watching %d alarm rule(s); publishing on %s", len(self.book.rules),
                 self.pub.url)
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        next_list = loop.time() + min(self.list_interval, 1.0)
        while not self.stopping.is_set():
            try:
                event = await self.receive(self.subscriber,
                                           timeout=max(0.0, next_tick - loop.time()))
            except TimeoutError:
                event = None
            if event is not None:
                self._handle(event)
            if loop.time() < next_tick:
                continue
            next_tick = loop.time() + min(TICK, self.list_interval)
            with self.guard("tick"):
                for change in self.book.evaluate(self.clock.timestamp()):
                    self._publish(change)
                if loop.time() >= next_list:
                    next_list = loop.time() + self.list_interval
                    self.pub.publish_nowait(topics.ALARM_LIST, {"alarms": self.book.listing()})
        return 0

    # -- one event ---------------------------------------------------------------------------
    def _handle(self, event: Event) -> None:
        if self.responder.handle_nowait(event):
            return
        with self.guard("event", event.topic):
            now = self.clock.timestamp()
            check = self.subscriber.last_check
            if check is not None and check.kind is SeqKind.GAP:
                self.book.observe(EventsLost(check.origin, check.missing), now)
            sample = self._clock_sample(event, now)
            if sample is not None:
                self.book.observe(sample, now)
            decoded = ev.decode(event.topic, event.payload, self.tcs)
            if isinstance(decoded, ev.AlarmCommand):
                self._command(decoded, now)
            elif decoded is not None:
                self.book.observe(decoded, now)

    def _clock_sample(self, event: Event, now: float) -> ClockSample | None:
        """How far the event's OCD clock was from ours when it was sent (OCD events only: a
        replayed TCS event carries the recorded night's stamps, which are not a clock)."""
        if not event.topic.startswith(topics.OCD_PREFIX):
            return None
        origin, kind = event.origin, event.payload.get("__clock")
        sent, wire = ocd_time(event.payload), finite_number(event.payload.get("__wire_time"))
        if origin is None or not isinstance(kind, str) or sent is None or wire is None:
            return None
        speed = self._speed()
        ours_then = now - max(0.0, time.time() - wire) * speed
        # in real seconds: on a fast mock clock, a real hiccup is not a clock apart
        return ClockSample(origin, kind, (sent.timestamp() - ours_then) / speed)

    def _speed(self) -> float:
        """OCD-clock seconds per real second (1 on the real clock)."""
        speed = getattr(self.clock, "speed", 1.0) if self.clock.is_mock else 1.0
        return speed if isinstance(speed, (int, float)) and speed > 0 else 1.0

    def _command(self, command: ev.AlarmCommand, now: float) -> None:
        request = command.request_id
        if request is None:
            return
        why = self.freshness.refusal(command.created, command.nonce, request, time.time())
        if why == REPEATED:
            return
        name = f"alarm_{command.action}"
        if why is not None:
            self._ack(request, name, False, why, command.sender)
            return
        who = command.requested_by or command.sender
        try:
            if command.action == "ack":
                change = self.book.acknowledge(command.alarm or "", who)
                message = f"alarm {change.payload['alarm']} acknowledged{command.user}"
            else:
                minutes = command.minutes
                if minutes is None or not 0 < minutes <= MAX_MUTE_MINUTES:
                    raise AlarmError(f"'minutes' must be a number above 0 and at most "
                                     f"{MAX_MUTE_MINUTES:g}")
                change = self.book.mute(command.alarm or "", who, now + minutes * 60)
                message = (f"alarm {change.payload['alarm']} muted for {minutes:g} min"
                           f"{command.user}")
        except AlarmError as exc:
            self._ack(request, name, False, str(exc), command.sender)
            return
        self._publish(change)
        self._ack(request, name, True, message, command.sender)

    def _ack(self, request: str, command: str, ok: bool, message: str, by: str) -> None:
        self.pub.publish_nowait(topics.ALARM_ACK, ack_payload(request, command, ok,
                                                              printable(message), by))

    # -- publishing ----------------------------------------------------------------------------
    def _publish(self, change: AlarmChange) -> None:
        kind = "raised" if change.kind == "escalated" else change.kind
        payload = dict(change.payload)
        self.pub.publish_nowait(f"{topics.ALARM_PREFIX}{kind}", payload)
        line = f"alarm {kind}: {payload['alarm']} ({payload.get('severity')}): " \
               f"{payload.get('reason') or payload.get('summary')}"
        log.warning("%s", line) if kind == "raised" else log.info("%s", line)
        if change.kind == "escalated":
            self._escalate(payload)

    def _escalate(self, payload: Mapping[str, Any]) -> None:
        if self.escalation is None:
            return
        if len(self.hooks) >= MAX_HOOKS:
            log.error("escalation command not run for %s: %d still running", payload["alarm"],
                      len(self.hooks))
            return
        task = asyncio.ensure_future(self._run_hook(self.escalation.command(payload)))
        self.hooks.add(task)
        task.add_done_callback(self.hooks.discard)

    async def _run_hook(self, command: list[str]) -> None:
        """Run the escalation command in a session of its own, killed after its timeout."""
        assert self.escalation is not None
        try:
            process = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            log.error("escalation command %s cannot run: %s", printable(command[0]),
                      exc.strerror)
            return
        try:
            status = await asyncio.wait_for(process.wait(), self.escalation.timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):  # the whole group, children too
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            log.error("escalation command killed after %g s", self.escalation.timeout)
            return
        if status != 0:
            log.error("escalation command exited with status %d", status)


def run_watch(cfg: Config) -> int:
    """``ocd alarms watch``: until SIGINT or SIGTERM."""
    try:
        return run_service(AlarmWatch(cfg))
    except ValueError as exc:  # a template that cannot be filled: a configuration error
        raise OcdError(str(exc)) from None
