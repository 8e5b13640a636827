"""``ocd run``: the shell around the orchestrator.

It owns the sockets, the observation-number allocator, the shot file and the shot runner, and
feeds every event and clock tick to the :class:`~ocd.shell.engine.Engine`, which hands them to the
pure :class:`~ocd.core.orchestrator.Orchestrator` and carries out the actions it returns (the
same engine runs ``ocd simulate``'s nights; this module provides its edges). Slow work (the
scheduler, the database, a shot) runs in background tasks so the loop keeps reading events and
answering heartbeats meanwhile.

No input can stop it: the subscriber drops (and counts) what is not a valid event of a topic
the loop acts on; the handling of each event, tick and action runs inside a guard that reports
a failure as ``ocd.main_loop.error`` and goes on; a background step that raises is reported to
the orchestrator. The shot it runs is journaled beside the shot file, so that after a
``kill -9`` the next ``ocd run`` publishes that shot's finish.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ocd.bus import (
    Event,
    HeartbeatResponder,
    Publisher,
    Source,
    Subscriber,
    bus_options,
    connect_urls,
    extra_topics,
    find_service,
    main_loop_rules,
    security_from_config,
    sources_of,
    subscription_topics,
)
from ocd.clock import Clock, clock_from_config
from ocd.config import Config, shown_value
from ocd.core import events as ev
from ocd.core import topics
from ocd.core.commands import REPEATED, Freshness, ack_payload
from ocd.core.events import InboundEvent, decode
from ocd.core.orchestrator import Orchestrator
from ocd.core.payload import ocd_time
from ocd.core.sources import OCD_SOURCES, REPLAY
from ocd.errors import OcdError, printable
from ocd.monitor.narrator import ERROR, INFO, WARNING, Line, Narrator
from ocd.obsnum import (
    SqliteAllocator,
    allocator_from_config,
    choose_backend,
    local_numbers_warning,
    source_line,
)
from ocd.shell.clock_source import main_loop_clock
from ocd.shell.engine import Engine
from ocd.shell.mock_guard import confirm_mock_time
from ocd.shell.service import Service, run_service
from ocd.shell.settings import orchestrator_settings, tcs_source, tcs_topics
from ocd.shell.tcs_guard import TcsGuard, identity
from ocd.shots.book import ShotFile
from ocd.shots.files import MAX_SHOT_FILE_BYTES
from ocd.shots.journal import JournalEntry, interrupted_finish
from ocd.shots.locks import OwnerLock, real_file
from ocd.shots.runner import ShotRunner, locator_from_config, plan_from_config
from ocd.shots.store import ShotStore, load_shots
from ocd.sky.autoschedule import schedule_with_config
from ocd.sky.scheduler import Conditions, ScheduleResult
from ocd.tcs.factory import subsystems_from_config
from ocd.tcs.gateway import GatewayClient

log = logging.getLogger(__name__)
#: The narration of the night in the window of ``ocd run`` (``--quiet``: warnings only).
night = logging.getLogger("ocd.run")
_LEVELS = {INFO: logging.INFO, WARNING: logging.WARNING, ERROR: logging.ERROR}
#: The events from others that the window tells: shots (ours or by hand), commands and the
#: answers of ``ocd run_shot -e`` (what this process publishes is told as it publishes it).
_NARRATED = (ev.ShotStarted, ev.ShotEnded, ev.ShotStep, ev.CommandReceived, ev.Ack)
#: What a stop signal is, for the RA.
_SIGNALS = {"SIGINT": "Ctrl+C (SIGINT)", "SIGTERM": "SIGTERM"}

T = TypeVar("T")

#: Events handled at most in one go before the clock tick is checked (a flood must not delay
#: the timeouts; a queue of ordinary size is read whole first, so a tick never judges a shot
#: silent while its progress event waits in the queue).
_DRAIN = 1000
#: Real seconds a file read off the loop (a shot file sent at run time, a shot's input
#: files) may take to be read and parsed.
FILE_DEADLINE = 5.0
#: Real seconds the loop may wake up late before it counts as stalled (SIGSTOP, a long pause,
#: a slow disk); after a stall the events that came meanwhile are read for :data:`_SETTLE`
#: real seconds before the clock tick judges any timeout (the TCS's heartbeats, a reply, a
#: shot's progress wait in the kernel's buffers, not yet in the sockets' queues).
_STALL = 1.0
_SETTLE = 1.0
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
    """One ``ocd run`` process: the sockets, the database's thread and the shot file around
    the :class:`~ocd.shell.engine.Engine`, whose edges it provides (the shared execution of
    the orchestrator's actions)."""

    file_headroom = True

    def __init__(self, cfg: Config, clock: Clock, inputs: Inputs) -> None:
        super().__init__("ocd run")
        self.cfg, self.clock, self.inputs = cfg, clock, inputs
        self.security = security_from_config(cfg)
        self.orchestrator = Orchestrator(orchestrator_settings(cfg, clock))
        self.stop_timeout = cfg.get_float("run", "stop_timeout")
        shot_file = cfg.get_path("shots", "shot_file")
        if shot_file is None:
            raise cfg.error("shots", "shot_file", "", "a shot file is needed")
        self.shots = ShotFile(shot_file)
        #: Where a shot file sent at run time must be (symbolic links followed).
        self.shot_dir = real_file(shot_file).parent
        #: Shot files read off the loop for a ``config send``, by path, until applied.
        self._sent_shots: dict[Path, ShotStore] = {}
        self.journal = self.shots.journal
        self.log_events = cfg.get_bool("general", "log_events")
        #: Other main loops heard on the bus (each said once).
        self._rivals_on_bus: set[str] = set()
        #: Commands made before now (a captured frame re-sent after a restart) are refused.
        self.freshness = Freshness(cfg.get_float("security", "command_max_age"), time.time())

    async def start(self) -> None:
        cfg, ctx = self.cfg, self.ctx
        await self._refuse_a_second_main_loop()
        # one main loop per shot file, whatever the addresses
        self.owner = self.closing(OwnerLock(self.shots.path))
        self.obsnum_choice = choose_backend(cfg)
        self.allocator = allocator_from_config(cfg, self.clock)
        # and per observation-number file: two loops drawing from one file would observe
        # through one TCS (HET's MySQL table is shared by design)
        self.obsnum_owner = self._lock_obsnum_file()
        # the allocator is not thread-safe (SQLite connections belong to their thread): all
        # its calls go to this one thread, which closes it last of all
        self.db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="obsnum")
        self.on_close(self.db_thread.shutdown)
        self.on_close(lambda: self._in_db_thread(self.allocator.close))
        # sent shot files and each shot's input files are read here (_read_off_the_loop)
        self.files_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="files")
        self.on_close(lambda: self.files_thread.shutdown(wait=False, cancel_futures=True))
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
        for owner in (self.owner, self.obsnum_owner):
            if owner is not None:
                owner.describe(self._owner_line())
        self.tcs_topics = tcs_topics(cfg)
        self.subscriber = self.closing(Subscriber.from_config(
            ctx, cfg, self.inputs.sources, self.inputs.topics,
            rules=main_loop_rules(self.tcs_topics)))
        self.subsystems = subsystems_from_config(cfg, ctx, self.clock)
        self.on_close(self.subsystems.close)
        await self._claim_the_telescope()
        self.runner = ShotRunner(self.shot_pub.publish, self.subsystems,
                                 plan_from_config(cfg), locator_from_config(cfg), self.clock)
        self.runner.read_files = self._read_off_the_loop
        self.narrator = Narrator(main_origin=self.shot_pub.origin)
        self.engine = Engine(cfg, self.clock, self.orchestrator, self.runner, self.shots, self,
                             self.shot_pub.origin)

    # -- start-up ------------------------------------------------------------------------
    async def _refuse_a_second_main_loop(self) -> None:
        """Stop with one line naming the main loop already on this bus: it greets whoever
        connects to its main or its shot address (any of the configured lists), found on
        those or on any other OCD address this loop subscribes to."""
        # not the replay's address: ocd db_replay counts its subscribers before it starts, and
        # a probe that connects and leaves could be counted in place of this loop
        ocd_urls = [url for source in self.inputs.sources
                    if source.name in OCD_SOURCES and source.name != REPLAY
                    for url in source.urls]
        urls = [*connect_urls(self.cfg, ["ocd_main_loop", "ocd_run_shot"]), *ocd_urls]
        found = await find_service(self.ctx, urls, "ocd_main_loop", options=bus_options(self.cfg),
                           security=self.security)
        if found is not None:
            raise OcdError(f"another ocd run is already running on this bus: "
                           f"{found.describe()}; stop it first (one main loop at a time)")

    async def _claim_the_telescope(self) -> None:
        """Stop with one line naming the main loop that already drives the TCS gateways this
        one would drive (whatever bus addresses each uses); once granted, keep the claims
        while running and release them when stopping (:mod:`ocd.shell.tcs_guard`)."""
        if not isinstance(self.subsystems, GatewayClient):
            return  # simulated subsystems: no telescope to share
        me = identity(self.main_pub.origin, [self.main_pub.url, self.shot_pub.url])
        guard = TcsGuard(self.subsystems, me, self.cfg.get_float("tcs", "claim_lease"),
                         self._competitor)
        await guard.claim_at_start()
        self.on_close(guard.release)
        self.spawn(guard.keep(), name="claims on the telescope", daemon=True)

    def _competitor(self, line: str, new: bool) -> None:
        """Another main loop drives this telescope: automatic shots stop, said on the bus
        (``ocd.main_loop.error``, stage ``guard``) and so in one line of the window."""
        self.engine.execute(self.orchestrator.competitor(line, self.clock.timestamp(), new),
                            "guard")

    def _lock_obsnum_file(self) -> OwnerLock | None:
        """The ``ocd run`` lock of the SQLite file of observation numbers (None with MySQL)."""
        if not isinstance(self.allocator, SqliteAllocator):
            return None
        path = self.allocator.path
        try:
            real_file(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OcdError(f"cannot create the directory of {path}: {exc.strerror}") from None
        return self.closing(OwnerLock(path, "observation-number file"))

    async def _wait_for_monitors(self) -> None:
        """Before the first event, let every monitor that was connected to the previous main
        loop (or waiting for one) join both addresses, so that it gets ``started``, the
        interrupted shot's finish and the first state changes: the rule of a manual shot's
        first events (doc/bus.md, "First events")."""
        counts = await asyncio.gather(self.main_pub.wait_for_monitors(),
                                      self.shot_pub.wait_for_monitors())
        log.info("%d subscription(s) on %s, %d on %s: starting", counts[0], self.main_pub.url,
                 counts[1], self.shot_pub.url)

    def summary(self) -> dict[str, Any]:
        """What the RA checks first: files, addresses, clock, scheduler, obsnum backend."""
        return {
            "config_files": [str(p) for p in self.cfg.files],
            "bound": {"ocd_main_loop": self.main_pub.url, "ocd_run_shot": self.shot_pub.url},
            "subscribed": self.inputs.urls, "topics": self.inputs.topics,
            "input": self.inputs.source, "clock": self.clock.describe(),
            "clock_utc": self.clock.utc().isoformat(timespec="seconds"),
            "scheduler": self.cfg.get_str("schedule", "scheduler"),
            "obsnum_backend": self.obsnum_choice.backend,
            "obsnum_source": source_line(self.obsnum_choice, self.allocator.describe()),
            "tcs_backend": self.cfg.get_str("tcs", "backend"),
            "shot_file": str(self.shots.path), "shots": len(self.shots.store.all()),
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
        await self._wait_for_monitors()
        await self.main_pub.publish(topics.MAIN_STARTED, summary)
        interrupted = self.journal.read()
        if interrupted is not None and interrupted.n_obs_owed:
            self.shots.owe(interrupted)  # written by the next retry (the clock tick)
        if interrupted is not None and not interrupted.finished:
            self.spawn(self._publish_interrupted(interrupted), name="interrupted shot",
                       critical=False)
        loop = asyncio.get_running_loop()
        tick = self.cfg.get_float("run", "tick_interval")
        next_tick = loop.time() + tick
        settled = True  # False while the events of a stall are read before the tick
        while not self.stopping.is_set():
            # timeouts are checked every tick even when events keep coming (guider
            # metrology flows on while the heartbeats have stopped)
            try:
                event = await self.subscriber.recv(timeout=max(0.0, next_tick - loop.time()))
            except TimeoutError:
                event = None
            handled = 0
            while event is not None:  # what is queued already comes before the tick
                self._handle(event)
                handled += 1
                if handled >= _DRAIN or self.stopping.is_set():
                    break
                event = self.subscriber.recv_nowait()
            now = loop.time()
            if now < next_tick:
                continue
            if settled and now - next_tick > _STALL:
                log.warning("the main loop was stopped for %.1f s: reading the events that "
                            "came meanwhile before judging any timeout", now - next_tick)
                settled, next_tick = False, now + _SETTLE
                continue
            settled = True
            self.engine.tick()
            next_tick = loop.time() + tick
        return 0

    def _handle(self, event: Event) -> None:
        """Tell the window, answer an enquiry, or hand the event to the engine (the
        orchestrator); a handling that fails is reported."""
        for_orchestrator, decoded = False, None
        with self.guard("event", event.topic):
            decoded = decode(event.topic, event.payload, self.tcs_topics)  # once, here
            for_orchestrator = self._preview(event, decoded)
        if for_orchestrator and not self._stale(event.topic, decoded):
            self.engine.handle(event.topic, decoded)

    def _stale(self, topic: str, decoded: InboundEvent | None) -> bool:
        """Refuse (and acknowledge so) a command that is not fresh: too old, made before this
        process started, or replayed (:class:`ocd.core.commands.Freshness`)."""
        if not isinstance(decoded, ev.CommandReceived):
            return False
        why = self.freshness.refusal(decoded.created, decoded.nonce, decoded.request_id,
                                     time.time())
        if why is None:
            return False
        if why == REPEATED:  # a sender's resend: acted on once, answered once
            return True
        command = topic.rpartition(".")[2]
        log.warning("%s from %s %s", command, decoded.sender, why)
        if decoded.request_id is not None:
            self.publish(topics.MAIN_ACK, ack_payload(decoded.request_id, command, False, why,
                                                      decoded.sender))
        return True

    def _preview(self, event: Event, decoded: InboundEvent | None) -> bool:
        """What this process does with an event before the orchestrator: False when it is
        not the orchestrator's (a heartbeat enquiry, answered here)."""
        if self.log_events:
            log.info("event %s %s", event.topic, event.data)
        if isinstance(decoded, _NARRATED):  # shots (ours or by hand), commands
            self._tell(self.narrator.tell(decoded, ocd_time(event.payload)))
        if event.topic == topics.HEARTBEAT_REPLY:
            self._greeted(event)
            return False
        return not self.responder.handle_nowait(event)

    def _greeted(self, reply: Event) -> None:
        """A heartbeat reply (a greeting, or the answer to someone's enquiry) came on an OCD
        address this loop subscribes to: one from another main loop means two main loops
        share this bus (it started since this one did): automatic shots stop."""
        origin = reply.origin or "a main loop that did not say who it is"
        if reply.payload.get("service") != "ocd_main_loop" \
                or origin in (self.main_pub.origin, self.shot_pub.origin):
            return
        addresses = reply.payload.get("addresses")
        where = ", ".join(str(url)[:200] for url in list(addresses.values())[:4]) \
            if isinstance(addresses, dict) else "?"
        new = origin not in self._rivals_on_bus
        self._rivals_on_bus.add(origin)
        self._competitor(printable(f"another ocd run publishes on an address this one "
                                   f"subscribes to: {origin[:200]} publishing on {where}"), new)

    def on_guarded_error(self, stage: str, subject: str, exc: Exception) -> None:
        self.engine.report_failure(stage, subject, exc)

    def bus_counters(self) -> dict[str, Any]:
        """What the main loop's sockets and guards counted (``ocd.main_loop.status``)."""
        counters = self.subscriber.stats.as_payload()
        counters["published"] = self.main_pub.stats.sent + self.shot_pub.stats.sent
        counters["overflows"] = self.main_pub.stats.overflows + self.shot_pub.stats.overflows
        counters["handler_errors"] = sum(self.handler_errors.values())
        return counters

    # -- the engine's edges ----------------------------------------------------------------
    def publish(self, topic: str, data: dict[str, Any]) -> None:
        """Publish on the main loop's address (a status with the bus counters), and tell the
        window what it means."""
        if topic == topics.MAIN_STATUS:
            data = {**data, "bus": self.bus_counters(), "n_obs_owed": self.shots.owed(),
                    "obsnum_skipped": self.engine.skipped_tonight()}
        self._narrate(topic, self.main_pub.publish_nowait(topic, data))

    async def schedule(self, store: ShotStore, conditions: Conditions) -> ScheduleResult:
        return await asyncio.to_thread(schedule_with_config, self.cfg, store, self.clock,
                                       conditions)

    async def allocate(self, within: float) -> int:
        # a real-time deadline: the database server checks it too, on its own clock
        deadline = time.time() + within
        return (await self._in_db_thread(self.allocator.allocate, 1, deadline))[0]

    def spawn_step(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        return self.spawn(work, name=name, critical=False)

    def config_applied(self) -> None:
        """This process's part of a configuration change: logging, and the shot file (and
        its lock) when ``[shots] shot_file`` changed."""
        cfg = self.cfg
        self.log_events = cfg.get_bool("general", "log_events")
        logging.getLogger().setLevel(cfg.get_str("general", "log_level"))
        shot_file = cfg.get_path("shots", "shot_file")
        store = self._sent_shots.pop(shot_file, None) if shot_file is not None else None
        self._sent_shots.clear()
        if shot_file is not None and shot_file != self.shots.path:
            if store is None:  # never read on the loop
                raise OcdError(f"[shots] shot_file = {shown_value(str(shot_file))}: not read "
                               "before the change")
            owner = OwnerLock(shot_file)  # another ocd run's list: refused, nothing changed
            owner.describe(self._owner_line())
            self.owner.close()
            self.owner = self.closing(owner)
            self.shots.switch(shot_file, store)

    async def read_sent_files(self, paths: list[tuple[str, str, Path]]) -> None:
        """Read a shot file sent at run time in the files thread, within
        ``FILE_DEADLINE`` seconds: a regular file of at most 4 MiB inside the directory
        of the first shot file, parsed. Anything else is refused with one line saying what a
        sent shot file must be, never what is at the path (the log says why for a path
        inside the directory)."""
        self._sent_shots.clear()
        for section, option, path in paths:
            if path == self.shots.path:
                continue
            refusal = OcdError(
                f"[{section}] {option} = {shown_value(str(path))}: refused: a shot file sent at "
                f"run time must be a regular file of at most {MAX_SHOT_FILE_BYTES // 2**20} "
                f"MiB in {self.shot_dir}, readable as a shot list within "
                f"{FILE_DEADLINE:g} s")
            try:
                self._sent_shots[path] = await self._read_off_the_loop(
                    functools.partial(self._read_sent_shots, path), str(path))
            except OcdError as exc:
                log.warning("[%s] %s: refused: %s", section, option, exc)
                raise refusal from None

    async def _read_off_the_loop(self, read: Callable[[], T], what: str) -> T:
        """``read()`` in the files thread, one read at a time: a read that hangs (a dead
        network disk) holds that thread, never the loop nor the scheduler's threads;
        OcdError after ``FILE_DEADLINE`` seconds."""
        future = asyncio.get_running_loop().run_in_executor(self.files_thread, read)
        try:
            return await asyncio.wait_for(future, FILE_DEADLINE)
        except TimeoutError:
            raise OcdError(f"{what}: not read within {FILE_DEADLINE:g} s") from None

    def _read_sent_shots(self, path: Path) -> ShotStore:
        """In the files thread: the shot list at ``path`` if it lies in the directory of
        the first one (read by its real name, so a link changed meanwhile is not followed)."""
        real = real_file(path)
        if not real.is_relative_to(self.shot_dir):
            raise OcdError(f"{path}: not inside {self.shot_dir}")
        return load_shots(real)

    async def _publish_interrupted(self, entry: JournalEntry) -> None:
        """The finish of the shot a killed predecessor ran (found in the journal), sent once
        the monitors have joined (:meth:`_wait_for_monitors`)."""
        shotid = entry.shot.get("shotid")
        log.warning("shot %s (observation %d) was running when the previous ocd run stopped "
                    "without finishing it: publishing its finish (%s)", shotid,
                    entry.observation, "completed, n_obs written" if entry.completed
                    else "Interrupted; n_obs unchanged, observation number stays used")
        await self.shot_pub.publish(topics.RUN_SHOT_RUN, interrupted_finish(entry))
        if self.journal.read() == entry and not self.shots.owed():  # not a shot this
            self.journal.end()  # process started meanwhile, nor a decrement still owed
        elif self.shots.debt == entry:
            self.shots.ended()  # the finish is out: a restart must not publish it again

    def _owner_line(self) -> str:
        """Who holds the shot file's lock, for an ``ocd run`` it refuses."""
        return (f"{self.main_pub.origin} publishing on {self.main_pub.url} and "
                f"{self.shot_pub.url}")

    def _narrate(self, topic: str, payload: dict[str, Any]) -> None:
        self._tell(self.narrator.feed(topic, payload))

    @staticmethod
    def _tell(lines: list[Line]) -> None:
        for line in lines:
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
        self.publish(topics.MAIN_STOPPING, {
            "reason": self.stop_reason or "signal", "running_shot": running})
        aborting = self.engine.stop_shot()
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
    # the clock starts once the question is answered (unless [dates] mock_anchor pins it)
    return run_service(MainLoop(cfg, main_loop_clock(cfg), inputs))
