"""``ocd run``: the shell around the orchestrator.

It owns the sockets, the observation-number allocator, the shot list, the scheduler and the shot
runner, feeds every event and clock tick to the pure :class:`~ocd.core.orchestrator.Orchestrator`,
and carries out the actions it returns. Slow work (the scheduler, the database, a shot) runs in
background tasks so the loop keeps reading events and answering heartbeats meanwhile.

No input can stop it: the subscriber drops (and counts) what is not a valid event of a topic
the loop acts on; the handling of each event, tick and action runs inside a guard that reports
a failure as ``ocd.main_loop.error`` and goes on; a background step that raises is reported to
the orchestrator. The shot it runs is journaled beside the shot file, so that after a
``kill -9`` the next ``ocd run`` publishes that shot's finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ocd.app.mock_guard import confirm_mock_time
from ocd.app.service import Service, run_service
from ocd.app.settings import orchestrator_settings, tcs_source, tcs_topics
from ocd.bus import Event, HeartbeatResponder, Publisher, Subscriber, bus_options, connect_urls
from ocd.bus.addresses import Source, sources_of
from ocd.bus.curve import security_from_config
from ocd.bus.presence import find
from ocd.bus.subscriptions import extra_topics, subscription_topics
from ocd.bus.validation import main_loop_rules
from ocd.clock import Clock, MockClock, clock_from_config
from ocd.config import Config, Origin, master_specs
from ocd.core import topics
from ocd.core.commands import refused_changes
from ocd.core.orchestrator import (
    Abort,
    Action,
    ChangeConfig,
    Orchestrator,
    Publish,
    RequestSchedule,
    StartShot,
    ack,
)
from ocd.errors import OcdError
from ocd.monitor.narrator import ERROR, INFO, WARNING, Narrator
from ocd.obsnum import allocator_from_config, choose_backend, local_numbers_warning, source_line
from ocd.shots.journal import JournalEntry, ShotJournal, interrupted_finish
from ocd.shots.locks import OwnerLock
from ocd.shots.runner import ShotRunner, locator_from_config, plan_from_config
from ocd.shots.store import ShotStore, decrement_file, load_shots
from ocd.shots.store import file_stamp as _stamp
from ocd.sky.autoschedule import schedule_with_config
from ocd.sky.scheduler import Conditions
from ocd.tcs.factory import subsystems_from_config

log = logging.getLogger(__name__)
#: The narration of the night in the window of ``ocd run`` (``--quiet``: warnings only).
night = logging.getLogger("ocd.run")
_LEVELS = {INFO: logging.INFO, WARNING: logging.WARNING, ERROR: logging.ERROR}
#: What a stop signal is, for the RA.
_SIGNALS = {"SIGINT": "Ctrl+C (SIGINT)", "SIGTERM": "SIGTERM"}

T = TypeVar("T")

#: Events handled at most in one go before the clock tick is checked (a flood must not delay
#: the timeouts; a queue of ordinary size is read whole first, so a tick never judges a shot
#: silent while its progress event waits in the queue).
_DRAIN = 1000
#: Real seconds of ``[run] stop_timeout`` kept for closing the sockets (their linger) and the
#: database after the running shot was given up.
_CLOSING_MARGIN = 1.5


@dataclass
class Inputs:
    """Where events come from, after ``-u``, ``-t`` and ``-a`` are applied: one source per
    kind of publisher, so that each topic is accepted only from its own."""

    sources: list[Source]
    topics: list[str]
    source: str  # "tcs" or "replay"

    @property
    def urls(self) -> list[str]:
        return list(dict.fromkeys(url for source in self.sources for url in source.urls))


def resolve_inputs(cfg: Config, cli_topics: list[str], all_topics: bool) -> Inputs:
    """The URLs and topic prefixes to subscribe to. The TCS events come from ``event_urls``
    or ``ocd_db_replay`` as ``[run] input`` says, never both (a replayed night must never mix
    with a live TCS)."""
    source = tcs_source(cfg)
    services = ["ocd_main_loop", "ocd_run_shot", "ocd_allow_hetdex"]
    if source == "replay":
        services.append("ocd_db_replay")
    found = sources_of(cfg, services, tcs=source == "tcs")
    needed = [*tcs_topics(cfg).all(), *topics.MAIN_LOOP_INPUTS]
    return Inputs(found, subscription_topics(needed, extra_topics(cfg, cli_topics), all_topics),
                  source)


class MainLoop(Service):
    """One ``ocd run`` process."""

    def __init__(self, cfg: Config, clock: Clock, inputs: Inputs) -> None:
        super().__init__("ocd run")
        self.cfg, self.clock, self.inputs = cfg, clock, inputs
        self.security = security_from_config(cfg)
        self.orchestrator = Orchestrator(orchestrator_settings(cfg, clock))
        self.stop_timeout = cfg.get_float("run", "stop_timeout")
        if self.stop_timeout <= 0:
            raise cfg.error("run", "stop_timeout", str(self.stop_timeout), "must be positive")
        shot_file = cfg.get_path("shots", "shot_file")
        if shot_file is None:
            raise cfg.error("shots", "shot_file", "", "a shot file is needed")
        self.shot_file: Path = shot_file
        self.store: ShotStore = load_shots(self.shot_file)
        self.shot_file_stamp = _stamp(self.shot_file)
        self.journal = ShotJournal(self.shot_file)
        self.log_events = cfg.get_bool("general", "log_events")

    async def start(self) -> None:
        cfg, ctx = self.cfg, self.ctx
        await self._refuse_a_second_main_loop()
        # one main loop per shot file, whatever the addresses
        self.owner = self.closing(OwnerLock(self.shot_file))
        self.obsnum_choice = choose_backend(cfg)
        self.allocator = allocator_from_config(cfg, self.clock)
        # the allocator is not thread-safe (SQLite connections belong to their thread): all
        # its calls go to this one thread, which closes it last of all
        self.db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="obsnum")
        self.on_close(self.db_thread.shutdown)
        self.on_close(lambda: self._in_db_thread(self.allocator.close))
        self.main_pub = self.closing(Publisher.for_service(ctx, cfg, "ocd_main_loop", "run",
                                                          clock=self.clock))
        self.shot_pub = self.closing(Publisher.for_service(ctx, cfg, "ocd_run_shot", "run",
                                                          clock=self.clock))
        addresses = {"ocd_main_loop": self.main_pub.url, "ocd_run_shot": self.shot_pub.url}
        self.responder = HeartbeatResponder(self.main_pub, "ocd_main_loop", addresses)
        # greet new subscribers on both publishers: whoever connects to either address
        # learns that a main loop runs, where, and on which clock
        self.spawn(self.responder.greet(), name="greetings", daemon=True)
        self.spawn(HeartbeatResponder(self.shot_pub, "ocd_main_loop", addresses).greet(),
                   name="greetings on the shot address", daemon=True)
        self.owner.describe(self._owner_line())
        self.subscriber = self.closing(Subscriber.from_config(
            ctx, cfg, self.inputs.sources, self.inputs.topics,
            rules=main_loop_rules(tcs_topics(cfg))))
        self.subsystems = subsystems_from_config(cfg, ctx, self.clock)
        self.on_close(self.subsystems.close)
        self.runner = ShotRunner(self.shot_pub.publish, self.subsystems,
                                 plan_from_config(cfg), locator_from_config(cfg), self.clock)
        self.narrator = Narrator(main_origin=self.shot_pub.origin)

    # -- start-up ------------------------------------------------------------------------
    async def _refuse_a_second_main_loop(self) -> None:
        """Stop with one line naming the main loop already on this bus: it greets whoever
        connects to its main or its shot address (any of the configured lists)."""
        urls = connect_urls(self.cfg, ["ocd_main_loop", "ocd_run_shot"])
        found = await find(self.ctx, urls, "ocd_main_loop", options=bus_options(self.cfg),
                           security=self.security)
        if found is not None:
            raise OcdError(f"another ocd run is already running on this bus: "
                           f"{found.describe()}; stop it first (one main loop at a time)")

    def summary(self) -> dict[str, Any]:
        """What the RA checks first: files, addresses, clock, scheduler, obsnum backend."""
        return {
            "config_files": [str(p) for p in self.cfg.files],
            "bound": {"ocd_main_loop": self.main_pub.url, "ocd_run_shot": self.shot_pub.url},
            "subscribed": self.inputs.urls, "topics": self.inputs.topics,
            "input": self.inputs.source, "clock": self.clock.describe(),
            "clock_utc": self.clock.utc().isoformat(),
            "scheduler": self.cfg.get_str("schedule", "scheduler"),
            "obsnum_backend": self.obsnum_choice.backend,
            "obsnum_source": source_line(self.obsnum_choice, self.allocator.describe()),
            "tcs_backend": self.cfg.get_str("tcs", "backend"),
            "shot_file": str(self.shot_file), "shots": len(self.store.all()),
        }

    # -- the loop ------------------------------------------------------------------------
    async def main(self) -> int:
        # where the numbers come from and why, before the database is tried, so that a refused
        # connection is explained
        log.info("%s", source_line(self.obsnum_choice, self.allocator.describe()))
        warning = local_numbers_warning(self.obsnum_choice, self.clock.is_mock)
        if warning:
            log.warning("%s", warning)
        await self._in_db_thread(self.allocator.check)  # an unreachable database stops here
        summary = self.summary()
        for key, value in summary.items():
            if key != "obsnum_source":  # said above, in a line of its own
                log.info("%-15s %s", key, value)
        await self.main_pub.publish(topics.MAIN_STARTED, summary)
        interrupted = self.journal.read()
        if interrupted is not None:
            self.spawn(self._publish_interrupted(interrupted), name="interrupted shot",
                       critical=False)
        loop = asyncio.get_running_loop()
        tick = self.cfg.get_float("run", "tick_interval")
        next_tick = loop.time() + tick
        while not self.stopping.is_set():
            # timeouts are checked every tick even when events keep coming (guider
            # metrology flows on while the heartbeats have stopped)
            try:
                event = await self.subscriber.recv(timeout=max(0.0, next_tick - loop.time()))
            except TimeoutError:
                event = None
            handled = 0
            while event is not None:  # what is queued already comes before the tick
                await self._execute(self._handle(event), "event", event.topic)
                handled += 1
                if handled >= _DRAIN or self.stopping.is_set():
                    break
                event = self.subscriber.recv_nowait()
            if loop.time() >= next_tick:
                actions: list[Action] = []
                with self.guard("tick"):
                    actions = self.orchestrator.tick(self.clock.timestamp())
                await self._execute(actions, "tick")
                next_tick = loop.time() + tick
        return 0

    def _handle(self, event: Event) -> list[Action]:
        """The actions one event calls for; nothing when its handling fails (reported)."""
        actions: list[Action] = []
        with self.guard("event", event.topic):
            actions = self._on_event(event, self.clock.timestamp())
        return actions

    def _on_event(self, event: Event, now: float) -> list[Action]:
        if self.log_events:
            log.info("event %s %s", event.topic, event.data)
        if event.topic.startswith((topics.RUN_SHOT_PREFIX, topics.COMMAND_PREFIX)):
            self._narrate(event.topic, event.payload)  # shots (ours or by hand), commands
        if self.responder.handle_nowait(event):
            return []
        return self.orchestrator.handle(event.topic, event.payload, now)

    def on_guarded_error(self, stage: str, subject: str, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        report = self.orchestrator.event_failed(subject or stage, error,
                                                self.clock.timestamp())
        for action in report:
            if isinstance(action, Publish):
                self._narrate(action.topic,
                              self.main_pub.publish_nowait(action.topic, action.data))

    async def _execute(self, actions: list[Action], stage: str, subject: str = "") -> None:
        for action in actions:
            with self.guard(stage, subject):
                await self._act(action)

    async def _act(self, action: Action) -> None:
        if isinstance(action, Publish):
            data = action.data
            if action.topic == topics.MAIN_STATUS:
                data = {**data, "bus": self.bus_counters()}
            await self._publish(action.topic, data)
        elif isinstance(action, RequestSchedule):
            self._step(self._schedule(action), "scheduling", action.request)
        elif isinstance(action, StartShot):
            self._step(self._start_shot(action), "starting")
        elif isinstance(action, Abort):
            await self._abort(action)
        elif isinstance(action, ChangeConfig):
            await self._change_config(action)

    def bus_counters(self) -> dict[str, Any]:
        """What the main loop's sockets and guards counted (``ocd.main_loop.status``)."""
        counters = self.subscriber.stats.as_payload()
        counters["published"] = self.main_pub.stats.sent + self.shot_pub.stats.sent
        counters["overflows"] = self.main_pub.stats.overflows + self.shot_pub.stats.overflows
        counters["handler_errors"] = sum(self.handler_errors.values())
        return counters

    def _step(self, work: Coroutine[Any, Any, None], step: str, request: int | None = None
              ) -> None:
        """Run a step toward a shot in the background; if it raises, the orchestrator hears
        it (and says so on the bus) instead of waiting for an answer that never comes."""
        task = self.spawn(work, name=step, critical=False)

        def done(task: asyncio.Task[None]) -> None:
            if task.cancelled() or task.exception() is None:
                return
            exc = task.exception()
            actions = self.orchestrator.step_failed(
                step, f"{type(exc).__name__}: {exc}"[:2000], self.clock.timestamp(), request)
            self.spawn(self._execute(actions, "step", step), name=f"{step} failed",
                       critical=False)

        task.add_done_callback(done)

    # -- actions -------------------------------------------------------------------------
    def _reload_shots_if_changed(self) -> None:
        """A shot run by hand (``ocd run_shot -e``) or an edit rewrites the shot file: pick
        it up before scheduling."""
        stamp = _stamp(self.shot_file)
        if stamp != self.shot_file_stamp:
            self.store = load_shots(self.shot_file)
            self.shot_file_stamp = stamp
            log.info("shot file %s changed on disk: reloaded", self.shot_file)

    async def _schedule(self, request: RequestSchedule) -> None:
        conditions = Conditions(seeing=request.seeing, transparency=request.transparency)
        try:
            self._reload_shots_if_changed()
            result = await asyncio.to_thread(schedule_with_config, self.cfg, self.store,
                                             self.clock, conditions)
        except OcdError as exc:
            actions = self.orchestrator.scheduled(None, None, f"scheduler failed: {exc}",
                                                  "error", self.clock.timestamp(),
                                                  request.request)
            await self._execute(actions, "step", "scheduling")
            return
        choice = result.choice
        actions = self.orchestrator.scheduled(
            choice.shot.shotid if choice else None, choice.track if choice else None,
            result.reason, result.scheduler, self.clock.timestamp(), request.request)
        await self._execute(actions, "step", "scheduling")

    async def _start_shot(self, start: StartShot) -> None:
        shot = self.store.get(start.shotid)
        try:
            if shot is None:
                raise OcdError(f"shot {start.shotid} is no longer in {self.shot_file}")
            observation = (await self._in_db_thread(self.allocator.allocate, 1))[0]
        except OcdError as exc:
            await self._execute(self.orchestrator.start_failed("obsnum", str(exc),
                                                               self.clock.timestamp()),
                                "step", "starting")
            return
        entry = JournalEntry(shot.as_dict(), start.track, observation, self.shot_pub.origin,
                             self.clock.utc().isoformat())
        self.journal.begin(entry)  # before the start event: a kill -9 from now on is noticed

        def on_success() -> None:
            # under the file's lock, from the file as it is now: a shot run by hand
            # meanwhile keeps its decrement
            self.store = decrement_file(self.shot_file, start.shotid)
            self.shot_file_stamp = _stamp(self.shot_file)
            self.journal.complete(entry)

        try:
            await self.runner.run(shot.as_dict(), start.track, observation, on_success)
        finally:  # the finish is published (the runner does so even when cancelled)
            self.journal.end()

    async def _publish_interrupted(self, entry: JournalEntry) -> None:
        """The finish of the shot a killed predecessor ran (found in the journal), once a
        subscriber besides this process's own one listens (a monitor reconnecting after the
        restart), or after ``[bus] heartbeat_timeout`` seconds anyway."""
        shotid = entry.shot.get("shotid")
        log.warning("shot %s (observation %d) was running when the previous ocd run stopped "
                    "without finishing it: publishing its finish (%s)", shotid,
                    entry.observation, "completed, n_obs written" if entry.completed
                    else "Interrupted; n_obs unchanged, observation number stays used")
        with contextlib.suppress(TimeoutError):
            await self.shot_pub.wait_for_subscriber(
                topics.RUN_SHOT_RUN, self.cfg.get_float("bus", "heartbeat_timeout"), count=2)
        await self.shot_pub.publish(topics.RUN_SHOT_RUN, interrupted_finish(entry))
        if self.journal.read() == entry:  # not a shot this process started meanwhile
            self.journal.end()

    async def _abort(self, action: Abort) -> None:
        if self.runner.abort("aborted"):
            await self._ack(action, "abort", True,
                            f"aborting shot {self.runner.current}{action.user}")
        elif self.orchestrator.run_shot.state != "running":
            await self._ack(action, "abort", False, "no shot is running")
        # else: the shot runs in another process (ocd run_shot -e), which acknowledges it

    async def _change_config(self, action: ChangeConfig) -> None:
        """Apply all changes or none; only ``{conf modifiable}`` options."""
        refused = refused_changes(action.changes, master_specs())
        if refused:
            await self._ack(action, "config_send", False, "; ".join(refused))
            return
        origin = Origin(f"config send by {action.by}", Path.cwd())
        try:
            undo = self.cfg.apply(action.changes, origin)
        except OcdError as exc:
            await self._ack(action, "config_send", False, str(exc))
            return
        try:
            self._apply_config()
        except OcdError as exc:  # a value fine alone but not in use (bad dithers, say)
            undo()
            self._apply_config()
            await self._ack(action, "config_send", False, str(exc))
            return
        message = ", ".join(f"[{s}] {o} = {v}" for s, o, v in action.changes)
        log.info("configuration changed by %s: %s", action.by, message)
        await self._publish(topics.MAIN_CONFIG_CHANGED, {
            "changes": [list(change) for change in action.changes], "by": action.by})
        await self._ack(action, "config_send", True, message)

    def _apply_config(self) -> None:
        """Push modifiable options into the live objects."""
        cfg = self.cfg
        self.orchestrator.configure(orchestrator_settings(cfg, self.clock))
        self.runner.plan = plan_from_config(cfg)
        self.runner.inputs = locator_from_config(cfg)
        self.log_events = cfg.get_bool("general", "log_events")
        logging.getLogger().setLevel(cfg.get_str("general", "log_level"))
        shot_file = cfg.get_path("shots", "shot_file")
        if shot_file is not None and shot_file != self.shot_file:
            store = load_shots(shot_file)
            owner = OwnerLock(shot_file)  # another ocd run's list: refused, nothing changed
            owner.describe(self._owner_line())
            self.owner.close()
            self.owner = self.closing(owner)
            self.store = store
            self.shot_file, self.shot_file_stamp = shot_file, _stamp(shot_file)

    def _owner_line(self) -> str:
        """Who holds the shot file's lock, for an ``ocd run`` it refuses."""
        return (f"{self.main_pub.origin} publishing on {self.main_pub.url} and "
                f"{self.shot_pub.url}")

    async def _ack(self, request: Abort | ChangeConfig, command: str, ok: bool,
                   message: str) -> None:
        action = ack(request.request_id, command, ok, message, request.by)
        await self._publish(action.topic, action.data)

    async def _publish(self, topic: str, data: dict[str, Any]) -> None:
        """Publish on the main loop's address, and tell the window what it means."""
        self._narrate(topic, await self.main_pub.publish(topic, data))

    def _narrate(self, topic: str, payload: dict[str, Any]) -> None:
        for line in self.narrator.feed(topic, payload):
            night.log(_LEVELS[line.level], "%s", line.text)

    # -- stopping ------------------------------------------------------------------------
    async def before_close(self) -> None:
        """Stop a running shot as configured and let it publish its end, within
        ``[run] stop_timeout`` real seconds whatever the TCS does: a shot still waiting for
        the telescope then is cancelled (its finish is published all the same). On a signal
        (Ctrl+C, SIGTERM) say what was stopped."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_timeout - _CLOSING_MARGIN
        signalled = self.stop_reason in _SIGNALS
        running = self.runner.current
        await self._publish(topics.MAIN_STOPPING, {
            "reason": self.stop_reason or "signal", "running_shot": running})
        aborting = self.runner.abort("shutdown")
        if signalled:
            log.warning("%s: stopping%s", _SIGNALS[self.stop_reason or ""],
                        f"; aborting shot {running} at its next safe point" if aborting
                        else "")
        elif aborting:
            log.info("stopping: aborting shot %s", running)
        await self.wait_tasks(timeout=max(0.0, deadline - loop.time()))
        cancelled = any(not task.done() for task in self.tasks)
        if cancelled:
            log.warning("stopping: %s did not end within [run] stop_timeout = %g s: "
                        "cancelled", ", ".join(sorted(t.get_name() for t in self.tasks)),
                        self.stop_timeout)
            await self.cancel_tasks()
        log.info("bus: %s; %d published, a subscriber's queue full %d time(s); %d event(s) "
                 "whose handling failed", self.subscriber.stats.summary(),
                 self.main_pub.stats.sent + self.shot_pub.stats.sent,
                 self.main_pub.stats.overflows + self.shot_pub.stats.overflows,
                 sum(self.handler_errors.values()))
        if signalled:
            elsewhere = self.orchestrator.run_shot.shot
            log.warning("ocd run stopped: %s; no new shot was started",
                        f"shot {running} {'cancelled' if cancelled else 'aborted'}, its end "
                        "published" if aborting
                        else f"the shot {elsewhere.shotid} run by hand ({elsewhere.origin}) "
                             "goes on" if elsewhere is not None
                        else "no shot was running")

    async def _in_db_thread(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.db_thread, function, *args)


def run_main_loop(cfg: Config, *, extra_topics: list[str], all_topics: bool,
                  assume_yes: bool) -> int:
    """``ocd run``: resolve the inputs, confirm a mock clock, run until stopped."""
    inputs = resolve_inputs(cfg, extra_topics, all_topics)
    confirm_mock_time(clock_from_config(cfg), assume_yes)
    # the clock starts once the question is answered (unless [dates] mock_anchor pins it):
    # the mock night does not run while the RA reads the question
    clock = clock_from_config(cfg)
    if isinstance(clock, MockClock) and cfg.get_time("dates", "mock_anchor") is None:
        clock.source = "the bus's clock: the processes started while ocd run runs adopt it"
    return run_service(MainLoop(cfg, clock, inputs))
