"""Carrying out the orchestrator's actions: the one copy ``ocd run`` and ``ocd simulate`` share.

The pure :class:`~ocd.core.orchestrator.Orchestrator` decides; the :class:`Engine` does what it
decides (publish an event, run the scheduler, start a shot with a new observation number,
abort, change the configuration) and reports every result back to it: the scheduler's answer,
a start that failed, a background step that raised, a handler that failed. A night simulated
in virtual time and a night at the telescope differ only in their :class:`Edges` (where the
main loop's events go, how the scheduler and the database are called, how background work is
started and a failure guarded) and in their :class:`~ocd.shots.book.ShotBook` (the shot file
itself, or a copy): no decision and no step of a shot's life cycle is written twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

from ocd.clock import Clock, real_seconds
from ocd.config import Config, Origin, literal, master_specs, parse_type, shown_value
from ocd.core import topics
from ocd.core.commands import abort_reason, refused_changes
from ocd.core.events import InboundEvent
from ocd.core.orchestrator import (
    Abort,
    Action,
    ChangeConfig,
    Orchestrator,
    Publish,
    RequestSchedule,
    StartShot,
    ack,
    error_event,
)
from ocd.core.state_names import RUN_SHOT_RUNNING
from ocd.core.states import PendingStateName
from ocd.errors import OcdError
from ocd.shell.settings import orchestrator_settings
from ocd.shots.book import ShotBook
from ocd.shots.journal import JournalEntry
from ocd.shots.runner import ShotRunner, locator_from_config, plan_from_config
from ocd.shots.store import ShotStore
from ocd.sky.scheduler import Conditions, ScheduleResult

log = logging.getLogger(__name__)
#: Real seconds between two tries of an owed decrement of ``n_obs`` (a full disk, say), and
#: between two ``ocd.main_loop.error`` events saying it is still owed.
_OWED_RETRY = 10.0
_OWED_REPEAT = 60.0


def sent_paths(changes: tuple[tuple[str, str, str], ...]) -> list[tuple[str, str, Path]]:
    """The (section, option, path) of each sent change naming a file (kind ``path`` or
    ``file``), relative paths from the current directory as for any sent value; a value
    that is no path is left to the configuration to refuse."""
    specs, found = master_specs(), []
    for section, option, value in changes:
        spec = specs.get((section, option))
        if spec is None or spec.kind not in _FILE_KINDS or not value:
            continue
        with contextlib.suppress(ValueError):
            path = parse_type("path").convert(value, Path.cwd())  # no I/O: joined, not checked
            if path is not None:
                found.append((section, option, path))
    return found


_FILE_KINDS = frozenset({"path", "file"})


class UnknownAction(TypeError):
    """The core returned an action the engine has no handler for (a programming error,
    reported on the bus like any failed handling)."""


class Edges(Protocol):
    """What differs between a real main loop and a simulated one: capabilities, not actions
    (an action is carried out by the engine with these, so a new one needs no new edge)."""

    def publish(self, topic: str, data: dict[str, Any]) -> None:
        """Publish ``data`` on the main loop's address (``ocd run``: its publisher; the window
        tells what it means)."""

    async def schedule(self, store: ShotStore, conditions: Conditions) -> ScheduleResult:
        """Run the configured scheduler now (``ocd run``: in a thread, so events keep
        flowing)."""

    async def allocate(self, within: float) -> int:
        """One new observation number (``ocd run``: in the database's own thread), cancelled
        before it is written if that cannot be done within ``within`` real seconds (the start
        is given up then)."""

    def spawn_step(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run ``work`` in the background; its failure is the engine's to report."""

    def failed(self, stage: str, subject: str, exc: Exception) -> None:
        """The handling of one input (``stage``: event, tick, step; ``subject``: its topic or
        step) raised ``exc``: count it, and pass it to :meth:`Engine.report_failure`; the loop
        goes on."""

    def config_applied(self) -> None:
        """The process's own part of a configuration change (logging, the shot file's lock)."""

    async def read_sent_files(self, paths: list[tuple[str, str, Path]]) -> None:
        """Read, off the loop and within a deadline, the files that sent changes name
        ((section, option, path) each), before the changes apply (``ocd run``: a new shot
        file, kept for :meth:`config_applied`); an OcdError refuses them in one line that
        does not say what is at the path."""


class Engine:
    """Feeds events and ticks to the orchestrator and carries out the actions it returns."""

    def __init__(self, cfg: Config, clock: Clock, orchestrator: Orchestrator,
                 runner: ShotRunner, shots: ShotBook, edges: Edges, shot_origin: str) -> None:
        self.cfg, self.clock, self.orchestrator = cfg, clock, orchestrator
        self.runner, self.shots, self.edges = runner, shots, edges
        #: ``__origin`` of the publisher of this main loop's shots (journaled with each shot).
        self.shot_origin = shot_origin
        #: When an owed decrement was last tried, and last said on the bus (monotonic s).
        self._owed_tried = self._owed_said = -_OWED_REPEAT
        #: ``config send`` changes waiting for a file to be read, applied in their order.
        self._config_turn = asyncio.Lock()
        self._config_waiting = 0
        #: Observation numbers written but not used, by observing date (UTC, as the numbers):
        #: a start given up or refused after its number came.
        self.skipped: dict[str, int] = {}

    def skipped_tonight(self) -> int:
        """How many observation numbers of tonight's date were written and not used."""
        return self.skipped.get(self.clock.utc().date().isoformat(), 0)

    # -- inputs ---------------------------------------------------------------------------
    def handle(self, topic: str, event: InboundEvent | None) -> None:
        """One event from the bus on ``topic``, decoded once where it came in: what the
        orchestrator makes of it, carried out."""
        try:
            actions = self.orchestrator.take(event, self.clock.timestamp())
        except Exception as exc:
            self.edges.failed("event", topic, exc)
            return
        self.execute(actions, "event", topic)

    def tick(self) -> None:
        """Time passes: the orchestrator's timeouts and retries, carried out; an owed
        decrement retried."""
        try:
            actions = self.orchestrator.tick(self.clock.timestamp())
        except Exception as exc:
            self.edges.failed("tick", "", exc)
            return
        self.execute(actions, "tick")
        self.retry_owed_now_and_then()

    def report_failure(self, stage: str, subject: str, exc: Exception) -> None:
        """A guarded handling failed: the orchestrator says so on the bus."""
        error = f"{type(exc).__name__}: {exc}"[:2000]
        for action in self.orchestrator.event_failed(subject or stage, error,
                                                     self.clock.timestamp()):
            if isinstance(action, Publish):
                self.edges.publish(action.topic, action.data)

    # -- actions --------------------------------------------------------------------------
    def execute(self, actions: list[Action], stage: str, subject: str = "") -> None:
        """Carry out ``actions`` in order; one that fails is reported, the next one runs."""
        for action in actions:
            try:
                self._act(action)
            except Exception as exc:
                self.edges.failed(stage, subject, exc)

    def _act(self, action: Action) -> None:
        handler = self.HANDLERS.get(type(action))
        if handler is None:  # an action of the core this engine does not know: said, not lost
            raise UnknownAction(f"no handler for the action {type(action).__name__}")
        handler(self, action)

    def _publish(self, action: Publish) -> None:
        self.edges.publish(action.topic, action.data)

    def _request_schedule(self, action: RequestSchedule) -> None:
        self._step(self._schedule(action), PendingStateName.SCHEDULING, action.request)

    def _start(self, action: StartShot) -> None:
        self._step(self._start_shot(action), PendingStateName.STARTING)

    def _step(self, work: Coroutine[Any, Any, None], step: PendingStateName,
              request: int | None = None) -> None:
        """Run a step toward a shot in the background; if it raises, the orchestrator hears
        it (and says so on the bus) instead of waiting for an answer that never comes."""
        task = self.edges.spawn_step(work, step)

        def done(task: asyncio.Task[None]) -> None:
            if task.cancelled() or task.exception() is None:
                return
            exc = task.exception()
            actions = self.orchestrator.step_failed(
                step, f"{type(exc).__name__}: {exc}"[:2000], self.clock.timestamp(), request)
            self.execute(actions, "step", step)

        task.add_done_callback(done)

    async def _schedule(self, request: RequestSchedule) -> None:
        conditions = Conditions(seeing=request.seeing, transparency=request.transparency)
        with contextlib.suppress(OcdError):  # said by settle_owed; its shot is left out
            self.settle_owed()
        try:
            self.shots.reload_if_changed()
            result = await self.edges.schedule(self.shots.schedulable(), conditions)
        except OcdError as exc:
            actions = self.orchestrator.scheduled(None, None, f"scheduler failed: {exc}",
                                                  "error", self.clock.timestamp(),
                                                  request.request)
            self.execute(actions, "step", "scheduling")
            return
        choice = result.choice
        actions = self.orchestrator.scheduled(
            choice.shot.shotid if choice else None, choice.track if choice else None,
            result.reason, result.scheduler, self.clock.timestamp(), request.request)
        self.execute(actions, "step", "scheduling")

    async def _start_shot(self, start: StartShot) -> None:
        shot = self.shots.store.get(start.shotid)
        try:
            # the journal keeps an owed decrement until written: no shot may replace it
            self.settle_owed()
            if shot is None:
                raise OcdError(f"shot {start.shotid} is no longer in {self.shots.name}")
            # the shot's star file and ACAM image, before a number is taken: a shot that cannot
            # start must not use up an observation number of HET's
            self.runner.inputs.load(shot.shotid, shot.qifu, start.track)
        except OcdError as exc:
            self.execute(self.orchestrator.start_failed("start", str(exc),
                                                        self.clock.timestamp()),
                         "step", "starting")
            return
        left = self.orchestrator.start_time_left(self.clock.timestamp())
        try:
            observation = await self.edges.allocate(real_seconds(self.clock, left))
        except OcdError as exc:
            self.execute(self.orchestrator.start_failed("obsnum", str(exc),
                                                        self.clock.timestamp()),
                         "step", "starting")
            return
        # the number may have taken a while: the conditions are checked again, last thing
        go, actions = self.orchestrator.confirm_start(start, observation,
                                                      self.clock.timestamp())
        self.execute(actions, "step", "starting")
        if not go:
            self._skip(observation)
            return
        entry = JournalEntry(shot.as_dict(), start.track, observation, self.shot_origin,
                             self.clock.utc().isoformat())
        self.shots.began(entry)  # before the start event: a kill -9 from now on is noticed

        def on_success() -> None:
            try:
                self.shots.completed(entry)
            except OcdError as exc:  # said before the finish; retried between shots
                self.edges.publish(*self._n_obs_error(exc, shot.shotid))
                raise

        try:
            await self.runner.run(shot.as_dict(), start.track, observation, on_success)
        finally:  # the finish is published (the runner does so even when cancelled)
            self.shots.ended()

    def _skip(self, observation: int) -> None:
        night = self.clock.utc().date().isoformat()
        self.skipped = {night: self.skipped.get(night, 0) + 1}  # tonight's only: bounded
        log.warning("observation number %d skipped (written, not used): %d tonight",
                    observation, self.skipped[night])

    def settle_owed(self) -> None:
        """Write a completed shot's owed decrement of ``n_obs`` (between shots);
        :class:`OcdError`, said once a minute on the bus, while it still cannot be."""
        try:
            self.shots.retry_owed()
        except OcdError as exc:
            shotid, now = self.shots.owed()[0], time.monotonic()
            if now - self._owed_said >= _OWED_REPEAT:
                self._owed_said = now
                self.edges.publish(*self._n_obs_error(exc, shotid))
            raise OcdError(f"the n_obs of shot {shotid} is not written yet (no shot starts "
                           f"before it is): {exc}") from None

    def retry_owed_now_and_then(self) -> None:
        """From the clock tick: retry an owed decrement every ``_OWED_RETRY`` real seconds
        while no shot of this loop runs."""
        now = time.monotonic()
        if not self.shots.owed() or self.runner.current is not None \
                or now - self._owed_tried < _OWED_RETRY:
            return
        self._owed_tried = now
        with contextlib.suppress(OcdError):
            self.settle_owed()

    @staticmethod
    def _n_obs_error(exc: OcdError, shotid: str) -> tuple[str, dict[str, Any]]:
        action = error_event("n_obs", f"shot {shotid} done, but its n_obs is not written "
                                      f"(retried until it is): {exc}"[:2000], shotid)
        return action.topic, action.data

    def _abort(self, action: Abort) -> None:
        if self.runner.abort(abort_reason(action.by, self.clock.utc())):
            self._ack(action, "abort", True, f"aborting shot {self.runner.current}{action.user}")
        elif self.orchestrator.run_shot.state != RUN_SHOT_RUNNING:
            self._ack(action, "abort", False, "no shot is running")
        # else: the shot runs in another process (ocd run_shot -e), which acknowledges it

    def _change_config(self, action: ChangeConfig) -> None:
        """Apply all changes or none; only ``{conf modifiable}`` options, each value taken as
        written (never interpolated) and quoted back cut short. A change naming a file (the
        shot list) waits until the file is read off the loop, and any change sent after it
        waits its turn."""
        refused = refused_changes(action.changes, master_specs())
        if refused:
            self._ack(action, "config_send", False, "; ".join(refused))
            return
        paths = sent_paths(action.changes)
        if paths or self._config_waiting:
            self._config_waiting += 1
            self.edges.spawn_step(self._change_config_in_turn(action, paths), "config send")
            return
        self._apply_changes(action)

    async def _change_config_in_turn(self, action: ChangeConfig,
                                     paths: list[tuple[str, str, Path]]) -> None:
        try:
            async with self._config_turn:
                if paths:
                    try:
                        await self.edges.read_sent_files(paths)
                    except OcdError as exc:
                        self._ack(action, "config_send", False, str(exc))
                        return
                self._apply_changes(action)
        finally:
            self._config_waiting -= 1

    def _apply_changes(self, action: ChangeConfig) -> None:
        origin = Origin(f"config send by {action.by}", Path.cwd())
        try:
            undo = self.cfg.apply([(s, o, literal(v)) for s, o, v in action.changes], origin)
        except OcdError as exc:
            self._ack(action, "config_send", False, str(exc))
            return
        try:
            self.apply_config()
        except OcdError as exc:  # a value fine alone but not in use (bad dithers, say)
            undo()
            self.apply_config()
            self._ack(action, "config_send", False, str(exc))
            return
        message = ", ".join(f"[{s}] {o} = {shown_value(v)}" for s, o, v in action.changes)
        log.info("configuration changed by %s: %s", action.by, message)
        self.edges.publish(topics.MAIN_CONFIG_CHANGED, {
            "changes": [list(change) for change in action.changes], "by": action.by})
        self._ack(action, "config_send", True, message)

    def apply_config(self) -> None:
        """Push modifiable options into the live objects."""
        cfg = self.cfg
        self.orchestrator.configure(orchestrator_settings(cfg, self.clock))
        self.runner.plan = plan_from_config(cfg)
        self.runner.inputs = locator_from_config(cfg)
        self.edges.config_applied()

    def _ack(self, request: Abort | ChangeConfig, command: str, ok: bool,
             message: str) -> None:
        action = ack(request.request_id, command, ok, message, request.by)
        self.edges.publish(action.topic, action.data)

    def stop_shot(self) -> bool:
        """Stopping: abort this main loop's shot at its next safe point; False when none
        runs. Its finish is published as for any abort."""
        return self.runner.abort("shutdown")

    #: The method that carries out each action type of the core. A new action is its frozen
    #: dataclass in :mod:`ocd.core.orchestrator` (and in its ``Action`` union) and its method
    #: here, on the edges' capabilities; a test fails while an action has none.
    HANDLERS: ClassVar[Mapping[type[Any], Callable[[Engine, Any], None]]] = {
        Publish: _publish,
        RequestSchedule: _request_schedule,
        StartShot: _start,
        Abort: _abort,
        ChangeConfig: _change_config,
    }
