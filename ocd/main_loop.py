"""``ocd run``: the shell around the orchestrator.

It owns the sockets, the observation-number allocator, the shot list, the scheduler and the shot
runner, feeds every event and clock tick to :class:`~ocd.orchestrator.Orchestrator`, and carries
out the actions it returns. Slow work (the scheduler, the database, a shot) runs in tasks so the
loop keeps reading events and answering heartbeats meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio

from ocd.autoschedule import schedule_with_config
from ocd.bus import Event, HeartbeatResponder, Publisher, Subscriber, connect_urls
from ocd.clock import Clock
from ocd.config import Config, Origin, master_specs
from ocd.errors import OcdError, UsageError
from ocd.obsnum import allocator_from_config, choose_backend, local_numbers_warning, source_line
from ocd.orchestrator import (
    Abort,
    Action,
    ChangeConfig,
    Orchestrator,
    Publish,
    RequestSchedule,
    StartShot,
    ack,
    settings_from_config,
)
from ocd.run_shot import ShotRunner, locator_from_config, plan_from_config
from ocd.schedule import Conditions
from ocd.shots import ShotStore, load_shots
from ocd.tcs.factory import subsystems_from_config
from ocd.tcs.topics import TcsTopics

log = logging.getLogger(__name__)

#: Topics the main loop always needs from OCD processes.
OCD_TOPICS = ("ocd.run_shot.", "ocd.command.", "ocd.heartbeat.enquiry")


@dataclass
class Inputs:
    """Where events come from, after ``-u``, ``-t`` and ``-a`` are applied."""

    urls: list[str]
    topics: list[str]
    source: str  # "tcs" or "replay"


def resolve_inputs(cfg: Config, extra_topics: list[str], all_topics: bool) -> Inputs:
    """The URLs and topic prefixes to subscribe to; ``event_urls`` and ``ocd_db_replay`` are
    exclusive inputs (a replayed night must never mix with a live TCS)."""
    tcs = cfg.get("urls", "event_urls") or []
    replay = cfg.get("urls", "ocd_db_replay") or []
    if tcs and replay:
        raise UsageError("both [urls] event_urls (live TCS) and [urls] ocd_db_replay (replayed "
                         "night) are set: empty one of them (e.g. --set urls.event_urls=)")
    source = "replay" if replay else "tcs"
    services = ["ocd_main_loop", "ocd_run_shot", "ocd_allow_hetdex"]
    if replay:
        services.append("ocd_db_replay")
    urls = connect_urls(cfg, services, tcs=bool(tcs))
    needed = [*TcsTopics.from_config(cfg).all(), *OCD_TOPICS]
    extras = [*cfg.get("topics", "extra"), *extra_topics]
    topics = list(dict.fromkeys(extras if not all_topics else [*needed, *extras]))
    return Inputs(urls, topics, source)


@dataclass
class MainLoop:
    """One ``ocd run`` process."""

    cfg: Config
    clock: Clock
    inputs: Inputs
    ctx: zmq.asyncio.Context = field(default_factory=zmq.asyncio.Context)

    def __post_init__(self) -> None:
        cfg = self.cfg
        self.orchestrator = Orchestrator(settings_from_config(cfg))
        self.shot_file: Path = cfg.get("shots", "shot_file")
        self.store: ShotStore = load_shots(self.shot_file)
        self.shot_file_stamp = _stamp(self.shot_file)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.stopping = asyncio.Event()
        self.log_events = cfg.get("general", "log_events")
        self._resources = contextlib.ExitStack()  # closed in reverse order by close()
        self._resources.callback(self.ctx.term)
        try:
            self.obsnum_choice = choose_backend(cfg)
            self.allocator = allocator_from_config(cfg, self.clock)
            # the allocator is not thread-safe (SQLite connections belong to their thread):
            # all its calls go to this one thread
            self.db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="obsnum")
            self._resources.callback(self.db_thread.shutdown)
            self.main_pub = Publisher.for_service(self.ctx, cfg, "ocd_main_loop", "run",
                                                  clock=self.clock)
            self._resources.callback(self.main_pub.close)
            self.shot_pub = Publisher.for_service(self.ctx, cfg, "ocd_run_shot", "run",
                                                  clock=self.clock)
            self._resources.callback(self.shot_pub.close)
            self.responder = HeartbeatResponder(self.main_pub, "ocd_main_loop")
            self.subscriber = Subscriber.from_config(self.ctx, cfg, self.inputs.urls,
                                                     self.inputs.topics)
            self._resources.callback(self.subscriber.close)
            self.subsystems = subsystems_from_config(cfg, self.ctx, self.clock)
            self.runner = ShotRunner(self.shot_pub.publish, self.subsystems,
                                     plan_from_config(cfg), locator_from_config(cfg))
        except BaseException:
            self._resources.close()
            raise

    # -- start-up ------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """What the RA checks first: files, addresses, clock, scheduler, obsnum backend."""
        return {
            "config_files": [str(p) for p in self.cfg.files],
            "bound": {"ocd_main_loop": self.main_pub.url, "ocd_run_shot": self.shot_pub.url},
            "subscribed": self.inputs.urls, "topics": self.inputs.topics,
            "input": self.inputs.source, "clock": self.clock.describe(),
            "clock_utc": self.clock.utc().isoformat(),
            "scheduler": self.cfg.get("schedule", "scheduler"),
            "obsnum_backend": self.obsnum_choice.backend,
            "obsnum_source": source_line(self.obsnum_choice, self.allocator.describe()),
            "tcs_backend": self.cfg.get("tcs", "backend"),
            "shot_file": str(self.shot_file), "shots": len(self.store.all()),
        }

    # -- the loop ------------------------------------------------------------------------
    async def run(self) -> int:
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
        await self.main_pub.publish("ocd.main_loop.started", summary)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        tick = self.cfg.get("run", "tick_interval")
        next_tick = loop.time() + tick
        try:
            while not self.stopping.is_set():
                # timeouts are checked every tick even when events keep coming (guider
                # metrology flows on while the heartbeats have stopped)
                try:
                    event = await self.subscriber.recv(timeout=max(0.0, next_tick - loop.time()))
                except TimeoutError:
                    event = None
                now = self.clock.timestamp()
                actions = [] if event is None else self._on_event(event, now)
                if loop.time() >= next_tick:
                    actions.extend(self.orchestrator.tick(now))
                    next_tick = loop.time() + tick
                await self._execute(actions)
            await self._shutdown()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await self.close()
        return 0

    def _on_event(self, event: Event, now: float) -> list[Action]:
        if self.log_events:
            log.info("event %s %s", event.topic, event.data)
        if self.responder.handle_nowait(event):
            return []
        return self.orchestrator.handle(event.topic, event.payload, now)

    async def _execute(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Publish):
                await self.main_pub.publish(action.topic, action.data)
            elif isinstance(action, RequestSchedule):
                self._spawn(self._schedule(action))
            elif isinstance(action, StartShot):
                self._spawn(self._start_shot(action))
            elif isinstance(action, Abort):
                await self._abort(action)
            elif isinstance(action, ChangeConfig):
                await self._change_config(action)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

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
                                                  "error", self.clock.timestamp())
            await self._execute(actions)
            return
        choice = result.choice
        actions = self.orchestrator.scheduled(
            choice.shot.shotid if choice else None, choice.track if choice else None,
            result.reason, result.scheduler, self.clock.timestamp())
        await self._execute(actions)

    async def _start_shot(self, start: StartShot) -> None:
        shot = self.store.get(start.shotid)
        try:
            if shot is None:
                raise OcdError(f"shot {start.shotid} is no longer in {self.shot_file}")
            observation = (await self._in_db_thread(self.allocator.allocate, 1))[0]
        except OcdError as exc:
            await self._execute(self.orchestrator.start_failed("obsnum", str(exc),
                                                               self.clock.timestamp()))
            return

        def on_success() -> None:
            self.store.decrement(start.shotid)
            self.store.write(self.shot_file)
            self.shot_file_stamp = _stamp(self.shot_file)

        await self.runner.run(shot.as_dict(), start.track, observation, on_success)

    async def _abort(self, action: Abort) -> None:
        if self.runner.abort("aborted"):
            await self.main_pub.publish(*_ack(action.request_id, "abort", True,
                                              f"aborting shot {self.runner.current}"))
        elif self.orchestrator.run_shot.state != "running":
            await self.main_pub.publish(*_ack(action.request_id, "abort", False,
                                              "no shot is running"))
        # else: the shot runs in another process (ocd run_shot -e), which acknowledges it

    async def _change_config(self, action: ChangeConfig) -> None:
        """Apply all changes or none; only ``{conf modifiable}`` options."""
        refused = []
        for section, option, _ in action.changes:
            spec = master_specs().get((section, option))
            if spec is None:
                refused.append(f"[{section}] {option}: unknown option")
            elif not spec.modifiable:
                refused.append(f"[{section}] {option}: {{{spec.modify}}}, restart ocd run to "
                               "change it")
        if refused:
            await self.main_pub.publish(*_ack(action.request_id, "config_send", False,
                                              "; ".join(refused)))
            return
        origin = Origin(f"config send by {action.by}", Path.cwd())
        applied: list[tuple[str, str, str, str]] = []
        try:
            for section, option, value in action.changes:
                old = self.cfg.parser.get(section, option, raw=True)
                self.cfg.set(section, option, value, origin)
                applied.append((section, option, old, value))
            self._apply_config()
        except OcdError as exc:
            for section, option, old, _ in reversed(applied):
                self.cfg.set(section, option, old, origin, check=False)
            self._apply_config()
            await self.main_pub.publish(*_ack(action.request_id, "config_send", False, str(exc)))
            return
        message = ", ".join(f"[{s}] {o} = {v}" for s, o, _, v in applied)
        log.info("configuration changed by %s: %s", action.by, message)
        await self.main_pub.publish("ocd.main_loop.config_changed", {
            "changes": [[s, o, v] for s, o, _, v in applied], "by": action.by})
        await self.main_pub.publish(*_ack(action.request_id, "config_send", True, message))

    def _apply_config(self) -> None:
        """Push modifiable options into the live objects."""
        cfg = self.cfg
        self.orchestrator.configure(settings_from_config(cfg))
        self.runner.plan = plan_from_config(cfg)
        self.runner.inputs = locator_from_config(cfg)
        self.log_events = cfg.get("general", "log_events")
        logging.getLogger().setLevel(cfg.get("general", "log_level"))
        shot_file = cfg.get("shots", "shot_file")
        if shot_file != self.shot_file:
            self.store = load_shots(shot_file)
            self.shot_file, self.shot_file_stamp = shot_file, _stamp(shot_file)

    # -- shutdown ------------------------------------------------------------------------
    async def _shutdown(self) -> None:
        """Stop a running shot as configured, let it publish its end, then stop."""
        await self.main_pub.publish("ocd.main_loop.stopping", {
            "reason": "signal", "running_shot": self.runner.current})
        if self.runner.abort("shutdown"):
            log.info("stopping: aborting shot %s", self.runner.current)
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await self.subsystems.close()
        await self._in_db_thread(self.allocator.close)
        self._resources.close()

    async def _in_db_thread(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.db_thread, function, *args)


def _stamp(path: Path) -> tuple[int, int] | None:
    """Modification time and size, to notice that a file was rewritten."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _ack(request_id: str, command: str, ok: bool, message: str) -> tuple[str, dict[str, Any]]:
    action = ack(request_id, command, ok, message)
    return action.topic, action.data
