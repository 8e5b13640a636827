"""One night in virtual time: ``ocd run``'s engine with simulated edges.

The main loop here is the :class:`~ocd.shell.engine.Engine` of ``ocd run`` around the same
:class:`~ocd.core.orchestrator.Orchestrator`, scheduler, observation-number rules
(:class:`~ocd.obsnum.sqlite.SqliteAllocator` on an in-memory database) and shot runner; only
its edges differ:

- the bus is :class:`SimulatedBus`: an event published (by the TCS, a shot, a command) reaches
  the main loop after the publisher's current step, as a subscriber would receive it, through
  the same validation as ``ocd run``'s subscriber, and every observer (the timeline of the
  report, the invariant checker) sees it at its OCD-clock time;
- the TCS is :class:`~ocd.tcs.sim.events.TcsSimulator` under a :class:`Weather`, or a recorded
  night replayed in step with the clock (``--replay``), and the shots run on
  :class:`~ocd.tcs.sim.subsystems.SimulatedSubsystems`;
- the scheduler and the database are called directly (no thread: the loop is virtual), the
  shot list is a copy (:class:`~ocd.shots.book.ShotCopy`);
- the RA's commands, shots by hand and outages come from a
  :class:`~ocd.app.simulation.scenario.Scenario`.

At the end of the night the main loop stops as ``ocd run`` does on SIGTERM: it says so, stops
reading events, aborts its shot and gives it ``[run] stop_timeout`` seconds to publish its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import random
import threading
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocd.app.sim_tcs import simulator_settings
from ocd.app.simulation.jumps import Grid, Jumps
from ocd.app.simulation.scenario import Scenario
from ocd.app.simulation.virtual_time import VirtualClock, VirtualTimeLoop
from ocd.bus import PayloadRules, accept, main_loop_rules
from ocd.bus.envelope import MalformedMessage, stamp
from ocd.clock import RealClock
from ocd.config import Config
from ocd.core import topics
from ocd.core.events import InboundEvent, decode
from ocd.core.orchestrator import Orchestrator
from ocd.core.topics import TcsTopics
from ocd.errors import OcdError
from ocd.monitor.invariants import InvariantChecker, Limits, bookkeeping_violations
from ocd.monitor.timeline import NightReport, Timeline
from ocd.obsnum import ObsnumAllocator, SqliteAllocator, check_instrument
from ocd.recording.pacing import Pacer, in_step_speedup
from ocd.recording.store import inspect, open_for_replay, recorded_clock, select_sql
from ocd.shell.engine import Engine
from ocd.shell.settings import orchestrator_settings, tcs_topics
from ocd.shots.book import ShotCopy
from ocd.shots.runner import ExposurePlan, ShotRunner, locator_from_config, plan_from_config
from ocd.shots.store import ShotStore
from ocd.sky import het
from ocd.sky.autoschedule import schedule_with_config
from ocd.sky.scheduler import Conditions, ScheduleResult, ScheduleSettings, choose
from ocd.sky.track import choose_track
from ocd.tcs.sim.events import TcsSimulator
from ocd.tcs.sim.subsystems import SimulatedSubsystems
from ocd.tcs.sim.weather import Weather

log = logging.getLogger(__name__)

#: The publishers of a simulated night (``__origin``).
MAIN_SHOTS = "ocd_run_shot@simulation:1"
#: Shots by hand: each ``ocd run_shot -e`` a process of its own (``...:2``, ``...:3``, ...).
BY_HAND = "ocd_run_shot@simulation:"
COMMANDER = "ocd_allow_hetdex@simulation:1"
TCS = "tcs@simulation:1"

Feed = Callable[[float, InboundEvent | None], None]


class Observers:
    """Who follows which topics of the night (the report's timeline, the checker): each event
    goes to the feeds of its topic only, so the states and status the main loop republishes
    at every heartbeat cost a dictionary lookup; an event followed is decoded once for all
    its feeds."""

    def __init__(self, tcs: TcsTopics) -> None:
        self.tcs = tcs
        self._feeds: dict[str, list[Feed]] = {}

    def add(self, feed: Feed, names: tuple[str, ...]) -> None:
        for name in names:
            self._feeds.setdefault(name, []).append(feed)

    def follows(self, topic: str) -> bool:
        return topic in self._feeds

    def __call__(self, now: float, topic: str, payload: dict[str, Any]) -> None:
        feeds = self._feeds.get(topic)
        if feeds:
            event = decode(topic, payload, self.tcs)
            for feed in feeds:
                feed(now, event)

    def take(self, now: float, topic: str, event: InboundEvent | None) -> None:
        """An event already decoded (by the bus, for the main loop too)."""
        for feed in self._feeds.get(topic, ()):
            feed(now, event)


@dataclass(frozen=True)
class NightSetup:
    """One night to simulate."""

    start: dt.datetime
    end: dt.datetime
    weather: Weather
    scenario: Scenario = field(default_factory=Scenario)
    #: A recorded night (``ocd record``) replayed as the TCS instead of the simulated one.
    replay: Path | None = None
    #: OCD-clock seconds between two ticks of the main loop.
    tick: float = 1.0
    #: Tick by tick (a TCS step every heartbeat interval, a tick every ``tick``) rather than
    #: from one moment that can change a decision to the next (:mod:`.jumps`). A replayed
    #: recording always runs tick by tick: each of its events is an input.
    exact: bool = False
    #: Validate the events of the simulated processes (the shot runners, the RA's commands)
    #: as ``ocd run``'s subscriber does, a broken one dropped and counted against the night:
    #: the test suite's nights do; otherwise they are valid by construction, as the
    #: simulated TCS's are, and a recorded TCS's events are always validated.
    check_events: bool = False

    @property
    def event_driven(self) -> bool:
        return not self.exact and self.replay is None

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass
class NightResult:
    """What a simulated night came to."""

    setup: NightSetup
    report: NightReport
    violations: list[str]
    #: Handlings that raised (bugs: the main loop reported them as ``ocd.main_loop.error``).
    failures: list[str]
    #: OCD's own events the main loop's validation dropped (a bug: they are made here).
    dropped: Counter[str]
    #: What the main loop and the shots logged at warning level or above.
    log: list[str]
    #: n_obs of every shot before and after the night.
    n_obs_before: dict[str, int]
    n_obs_after: dict[str, int]
    #: Observation numbers stored, by date.
    obsnums: dict[str, list[int]]
    #: Events of a replayed recording refused as any subscriber refuses them (bad input, not
    #: a broken rule), by what was wrong.
    rejected: Counter[str] = field(default_factory=Counter)
    #: Where each shot of the list is (right ascension in hours, declination in degrees).
    positions: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations and not self.failures and not sum(self.dropped.values())


class SimulatedBus:
    """The bus of a simulated night: each event reaches every observer, then (a recorded
    one, or with ``check_own`` any, validated as by ``ocd run``'s subscriber) the main loop,
    after the publisher's current step."""

    def __init__(self, clock: VirtualClock, rules: PayloadRules, observers: Observers,
                 silent: Callable[[str, float], bool], check_own: bool = False) -> None:
        self.clock = clock
        self.rules = rules
        self.check_own = check_own
        self.observers = observers
        self.main_loop: Callable[[str, InboundEvent | None], None] | None = None
        self.dropped: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.pending = 0
        self._silent = silent
        self._seq: Counter[str] = Counter()
        self._loop = asyncio.get_running_loop()

    def publisher(self, origin: str) -> Callable[[str, dict[str, Any]], Coroutine[Any, Any,
                                                                                   dict[str, Any]]]:
        """A ``publish(topic, data)`` coroutine for an OCD publisher: the envelope of
        :func:`ocd.bus.envelope.stamp` (real keys, OCD-clock times)."""
        clock = self.clock

        async def publish(topic: str, data: dict[str, Any]) -> dict[str, Any]:
            self._seq[origin] += 1
            payload = stamp(topic, data, origin=origin, seq=self._seq[origin], clock=clock,
                            wall_time=clock.timestamp)
            self.send(topic, payload, valid=not self.check_own)
            return payload

        return publish

    def tcs(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Events of one step of the simulated TCS (payloads as a TCS sends them, valid by
        construction: its tests validate them), delivered as the step ends; none of its
        heartbeats and pointings get through while it is silent."""
        now = self.clock.timestamp()
        for topic, data in events:
            if not self._silent(topic, now):
                self.pending += 1
                self._deliver(topic, data, True)

    async def recorded(self, topic: str, data: dict[str, Any]) -> None:
        """An event of a recorded TCS: validated like any input (a refused one is counted in
        :attr:`rejected`), and silenced as the simulated one."""
        if not self._silent(topic, self.clock.timestamp()):
            self.send(topic, data, recorded=True)

    def send(self, topic: str, payload: dict[str, Any], valid: bool = False,
             recorded: bool = False) -> None:
        self.pending += 1
        self._loop.call_soon(self._deliver, topic, payload, valid, recorded)

    def _deliver(self, topic: str, payload: dict[str, Any], valid: bool,
                 recorded: bool = False) -> None:
        self.pending -= 1
        now = self.clock.timestamp()
        if not valid:
            try:
                self.rules.check(topic, payload)
            except MalformedMessage as exc:
                refused = self.rejected if recorded else self.dropped
                refused[str(exc)[:200]] += 1
                return
        event = decode(topic, payload, self.observers.tcs)  # once, for all who follow it
        self.observers.take(now, topic, event)
        if self.main_loop is not None:
            self.main_loop(topic, event)


class SimulatedEdges:
    """The engine's edges in a simulation (see the module's docstring)."""

    def __init__(self, cfg: Config, clock: VirtualClock, allocator: ObsnumAllocator,
                 scenario: Scenario, observers: Observers) -> None:
        self.cfg, self.clock, self.allocator = cfg, clock, allocator
        self.scenario = scenario
        self.observers = observers
        self.engine: Engine | None = None
        self.failures: list[str] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self._latency = random.Random(f"ocd-latency-{scenario.seed}")
        self._start = clock.timestamp()
        #: ``[schedule]``'s settings and scheduler, read at the first schedule (the
        #: configuration only changes by ``config send``, which a simulation never receives).
        self._settings: ScheduleSettings | None = None
        self._scheduler = ""

    def publish(self, topic: str, data: dict[str, Any]) -> None:
        if self.observers.follows(topic):  # (most of what the main loop publishes is not)
            self.observers(self.clock.timestamp(), topic, data)

    async def schedule(self, store: ShotStore, conditions: Conditions) -> ScheduleResult:
        if self._settings is None:
            self._settings = ScheduleSettings.from_config(self.cfg)
            self._scheduler = self.cfg.get_str("schedule", "scheduler")
        return schedule_with_config(self.cfg, store, self.clock, conditions,
                                    settings=self._settings, scheduler=self._scheduler)

    async def allocate(self, within: float) -> int:
        # simulated time: the start timeout is the orchestrator's; the allocation always ends
        if self.scenario.db_latency > 0:
            await asyncio.sleep(self._latency.uniform(0.0, self.scenario.db_latency))
        elapsed = self.clock.timestamp() - self._start
        if any(outage.covers(elapsed) for outage in self.scenario.db_outages):
            raise OcdError("cannot reach the observation-number database (simulated outage)")
        return self.allocator.allocate(1)[0]

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def spawn_step(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        return self.spawn(work, name)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.failures.append(f"{task.get_name()} failed: {type(exc).__name__}: {exc}")

    def failed(self, stage: str, subject: str, exc: Exception) -> None:
        self.failures.append(f"handling {stage} {subject} failed: {type(exc).__name__}: {exc}")
        if self.engine is not None:
            self.engine.report_failure(stage, subject, exc)

    def config_applied(self) -> None:
        self._settings = None  # no logging or shot-file lock of its own

    async def read_sent_files(self, paths: list[tuple[str, str, Path]]) -> None:
        pass  # a simulation receives no command, and keeps a copy of the list


class _Collect(logging.Handler):
    """Keeps what the simulated processes log (warnings and errors) for the report: the
    records of the simulating thread only."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []
        self.addFilter(self._ours)

    def _ours(self, record: logging.LogRecord) -> bool:
        return record.thread == self.thread

    def refuse(self, record: logging.LogRecord) -> bool:
        """The filter of the other handlers: every record but the simulating thread's."""
        return record.thread != self.thread

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.lines) < 1000:
            self.lines.append(f"{record.levelname.lower()}: {record.getMessage()}"[:300])

    def take(self) -> list[str]:
        """What was logged since the last call."""
        lines, self.lines = self.lines, []
        return lines


@contextlib.contextmanager
def collected_logs() -> Iterator[_Collect]:
    """While simulating, what OCD logs goes to the report, not to the terminal: the records of
    the simulating thread are kept from the other handlers, so that a process that simulates
    in a thread (the board's plan of the night) logs its own records as before, and never a
    simulated shot's failure as if it were real."""
    handler = _Collect()
    logger = logging.getLogger("ocd")
    others = [h for owner in (logger, logging.getLogger()) for h in owner.handlers]
    for other in others:
        other.addFilter(handler.refuse)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        for other in others:
            other.removeFilter(handler.refuse)


def idle_limit(cfg: Config, tick: float) -> float:
    """Longest the main loop may stay silent with its conditions met (the invariant)."""
    settings = orchestrator_settings(cfg)
    return (max(settings.reschedule_after, settings.error_pause, settings.start_timeout,
                settings.schedule_timeout) + 2 * tick + 1.0)


class SimulatedNight:
    """One night: build it with :class:`NightSetup`, run it with :meth:`run` on a
    :class:`~ocd.app.simulation.virtual_time.VirtualTimeLoop`."""

    def __init__(self, cfg: Config, setup: NightSetup, shots: ShotCopy,
                 allocator: ObsnumAllocator) -> None:
        self.cfg, self.setup, self.shots, self.allocator = cfg, setup, shots, allocator

    async def run(self) -> NightResult:
        cfg, setup, scenario = self.cfg, self.setup, self.setup.scenario
        loop = asyncio.get_running_loop()
        clock = self.clock = VirtualClock(setup.start, loop)
        self.allocator.clock = clock
        start = clock.timestamp()
        tcs = tcs_topics(cfg)
        settings = orchestrator_settings(cfg, clock)
        self.timeline = Timeline(MAIN_SHOTS, start, metrology_topics=tcs.metrology)
        self.checker = InvariantChecker(Limits(
            heartbeat_timeout=settings.heartbeat_timeout,
            max_seeing=settings.metrology.max_seeing,
            min_transparency=settings.metrology.min_transparency,
            stale_after=settings.metrology.stale_after,
            idle_limit=idle_limit(cfg, setup.tick), tcs=tcs), MAIN_SHOTS)
        observers = Observers(tcs)
        observers.add(self.timeline.take, self.timeline.topics())
        observers.add(self.checker.take, self.checker.topics())
        silenced = (tcs.heartbeat, tcs.ra_dec)

        def silent(topic: str, now: float) -> bool:
            return topic in silenced and any(o.covers(now - start)
                                             for o in scenario.tcs_outages)

        self.bus = SimulatedBus(clock, main_loop_rules(tcs, lazy=True), observers, silent,
                                setup.check_events)
        self.edges = SimulatedEdges(cfg, clock, self.allocator, scenario, observers)
        self.subsystems = SimulatedSubsystems(clock, fail=tuple(cfg.get_list("tcs", "sim_fail")))
        self.runner = ShotRunner(self.bus.publisher(MAIN_SHOTS), self.subsystems,
                                 self._plan(), locator_from_config(cfg), clock)
        self.engine = Engine(cfg, clock, Orchestrator(settings), self.runner, self.shots,
                             self.edges, MAIN_SHOTS)
        self.edges.engine = self.engine
        self.bus.main_loop = self.engine.handle
        self.by_hand: list[ShotRunner] = []
        self._by_hand_busy = False
        self._by_hand_count = 0
        self._failing_counts: Counter[str] = Counter()
        before = {s.shotid: s.n_obs for s in self.shots.store.all()}
        taken_before = {day: len(numbers)
                        for day, numbers in self._numbers(start, start + setup.seconds).items()}

        spawn = self.edges.spawn
        self.jumps: Jumps | None = None
        if setup.event_driven:
            self.jumps = self._jumps(settings.metrology.stale_after)
            loop.call_soon(self.jumps.catch_up, 0.0)  # the TCS's first step, as it starts
            background = [spawn(self._script(), "the RA")]
        else:
            background = [spawn(self._tcs(), "TCS"), spawn(self._script(), "the RA")]
            self._ticking = loop.call_at(setup.tick, self._tick, setup.tick)
        await asyncio.sleep(setup.seconds)
        if self.jumps is not None:
            self.jumps.ticking = False
        else:
            self._ticking.cancel()
        await self._stop()
        if isinstance(loop, VirtualTimeLoop):
            loop.waker = None
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        while self.bus.pending:  # the last events on their way
            await asyncio.sleep(0)
        end = clock.timestamp()
        self.checker.finish(end)
        after = {s.shotid: s.n_obs for s in self.shots.store.all()}
        violations = list(self.checker.violations)
        violations += bookkeeping_violations(before, after, self.checker.completed)
        obsnums = {day.isoformat(): numbers[taken_before.get(day, 0):]
                   for day, numbers in self._numbers(start, end).items()}
        for day, numbers in obsnums.items():
            if numbers != sorted(set(numbers)):
                violations.append(f"observation numbers of {day} not unique and increasing "
                                  f"in the database: {numbers}")
        dark = het.dark_interval(setup.start, float(cfg.get_float("schedule", "sun_altitude")))
        report = self.timeline.report(setup.end.timestamp(), dark)
        positions = {s.shotid: (s.ra, s.dec) for s in self.shots.store.all()}
        return NightResult(setup, report, violations, self.edges.failures, self.bus.dropped,
                           [], before, after, obsnums, self.bus.rejected, positions)

    def _numbers(self, start: float, end: float) -> dict[dt.date, list[int]]:
        """The observation numbers stored for the dates from ``start`` to ``end``."""
        dates = sorted({dt.datetime.fromtimestamp(t, dt.timezone.utc).date()
                        for t in (start, end)})
        return {day: [r.obsnum for r in self.allocator.rows(day)
                      if r.inst == self.allocator.instrument] for day in dates}

    # -- the world around the main loop ------------------------------------------------------
    async def _tcs(self) -> None:
        if self.setup.replay is not None:
            await self._replay(self.setup.replay)
            return
        simulator = TcsSimulator(self.clock, self.bus.recorded, self.subsystems,
                                 self.setup.weather, simulator_settings(self.cfg))
        period = simulator.period()
        loop = asyncio.get_running_loop()

        def step(when: float) -> None:  # a timer, not a task: it runs every second or so
            self.bus.tcs(simulator.events())
            self._stepping = loop.call_at(when + period, step, when + period)

        self._stepping = loop.call_at(loop.time(), step, loop.time())
        try:
            await asyncio.Future()  # until cancelled at the end of the night
        finally:
            self._stepping.cancel()

    def _plan(self) -> ExposurePlan:
        """``[run_shot]``'s plan; event-driven, a shot says it is alive
        (``ocd.run_shot.progress``, which only tells the core the shot is not silent) every
        half ``[run] shot_silent_after`` rather than every ``progress_interval``: the core
        judges its liveness the same, and the night does not stop every half minute."""
        plan = plan_from_config(self.cfg)
        if not self.setup.event_driven:
            return plan
        often = self.cfg.get_float("run", "shot_silent_after") / 2.0
        return dataclasses.replace(plan, progress_interval=max(plan.progress_interval, often))

    def _jumps(self, stale_after: float) -> Jumps:
        """The event-driven night's waker, set on the running loop."""
        simulator = TcsSimulator(self.clock, self.bus.recorded, self.subsystems,
                                 self.setup.weather, simulator_settings(self.cfg))
        grid = Grid(simulator.period(), simulator.settings.metrology_interval,
                    self.setup.tick, self.setup.scenario.tcs_outages)
        jumps = Jumps(grid, self.setup.seconds + self.cfg.get_float("run", "stop_timeout"),
                      self.engine.orchestrator, simulator, self.bus.tcs, self.engine.tick,
                      stale_after, self.clock.start.timestamp())
        loop = asyncio.get_running_loop()
        if not isinstance(loop, VirtualTimeLoop):
            raise TypeError("an event-driven night runs on a VirtualTimeLoop")
        loop.waker = jumps
        return jumps

    async def _replay(self, path: Path) -> None:
        """The recorded TCS events of ``path`` (not OCD's), in step with the clock, looped,
        each through the strict decoding of a subscriber; read as they are due, so a long
        recording is never held in memory."""
        conn = open_for_replay(path)
        try:
            recorded = recorded_clock(conn)
            names = [t for (t,) in conn.execute("SELECT DISTINCT topic FROM events")
                     if not t.startswith(topics.OCD_PREFIX)]
            if not names:
                raise OcdError(f"{path}: no TCS event to replay (only ocd.* topics)")
            selection = inspect(conn, "id", names)
            gap = selection.span / (selection.count - 1) if selection.count > 1 else 0.0
            sql, params = select_sql("id", names)
            pacer = Pacer(in_step_speedup(1.0, recorded.speed))
            loop = asyncio.get_running_loop()
            while True:
                for topic, text, recorded_at, _ in conn.execute(sql, params):
                    delay = pacer.due(recorded_at, loop.time()) - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    try:
                        event = accept([topic.encode(), text.encode()])  # strict decoding
                    except MalformedMessage as exc:
                        self.bus.rejected[str(exc)[:200]] += 1
                        continue
                    await self.bus.recorded(event.topic, event.payload)
                pacer.next_pass(gap)
        finally:
            conn.close()

    def _tick(self, when: float) -> None:
        """The main loop's tick, every ``tick`` seconds (a timer rather than a task that
        sleeps: it runs tens of thousands of times a night)."""
        self.engine.tick()
        when += self.setup.tick
        self._ticking = asyncio.get_running_loop().call_at(when, self._tick, when)

    async def _script(self) -> None:
        """The scenario's happenings, each at its time."""
        scenario = self.setup.scenario
        happenings: list[tuple[float, int, Callable[[], None]]] = []
        for n, command in enumerate(scenario.commands):
            happenings.append((command.at, n, self._command_action(n, command.kind)))
        for n, manual in enumerate(scenario.manual):
            happenings.append((manual.at, 1000 + n, self._manual_action(manual.pick)))
        for n, failure in enumerate(scenario.failures):
            name = failure.command
            happenings.append((failure.span.start, 2000 + n,
                               lambda name=name: self._failing(name, +1)))  # type: ignore[misc]
            happenings.append((failure.span.end, 3000 + n,
                               lambda name=name: self._failing(name, -1)))  # type: ignore[misc]
        elapsed = 0.0
        for at, _, action in sorted(happenings, key=lambda h: (h[0], h[1])):
            if at >= self.setup.seconds:
                break
            if at > elapsed:
                await asyncio.sleep(at - elapsed)
                elapsed = at
            action()

    def _failing(self, command: str, change: int) -> None:
        self._failing_counts[command] += change
        if self._failing_counts[command] > 0:
            self.subsystems.fail.add(command)
        else:
            self.subsystems.fail.discard(command)

    def _command_action(self, n: int, kind: str) -> Callable[[], None]:
        publish = self.bus.publisher(COMMANDER)

        def act() -> None:
            data: dict[str, Any] = {"id": f"simulation-{n}", "by": "RA",
                                    "created": self.clock.timestamp(), "nonce": f"{n:032x}"}
            if kind == "abort":
                asyncio.ensure_future(publish(topics.COMMAND_ABORT, data))
                for runner in self.by_hand:  # ocd run_shot -e answers aborts too
                    runner.abort("aborted")
            else:
                data["allowed"] = kind == "allow"
                asyncio.ensure_future(publish(topics.COMMAND_ALLOW, data))

        return act

    def _manual_action(self, pick: int) -> Callable[[], None]:
        def act() -> None:
            self.edges.spawn(self._by_hand(pick), "shot by hand")

        return act

    async def _by_hand(self, pick: int) -> None:
        """``ocd run_shot -e``: a shot the RA picks among those observable now (not one
        running), its track as the command chooses it, a number from the same database, the
        same telescope."""
        if self._by_hand_busy:
            return  # the RA runs one shot by hand at a time
        self._by_hand_busy = True
        try:
            await self._run_by_hand(pick)
        finally:
            self._by_hand_busy = False

    async def _run_by_hand(self, pick: int) -> None:
        running = {r.current for r in [self.runner, *self.by_hand]} - {None}
        observable = choose(self.shots.store.table(), self.clock.utc(),
                            settings=ScheduleSettings.from_config(self.cfg)).candidates
        names = list(dict.fromkeys(c.shotid for c in observable
                                   if c.observable and c.shotid not in running))
        if not names:
            log.warning("ocd run_shot: no shot to run by hand (none observable now)")
            return
        shot = self.shots.store.get(names[pick % len(names)])
        assert shot is not None
        try:
            track = choose_track(shot, None, self.clock.utc(),
                                 ScheduleSettings.from_config(self.cfg))
            observation = await self.edges.allocate(3600.0)  # a manual shot: no start timeout
        except OcdError as exc:
            log.warning("ocd run_shot %s: %s", shot.shotid, exc)
            return
        self._by_hand_count += 1  # each ocd run_shot is a process of its own
        origin = f"{BY_HAND}{1 + self._by_hand_count}"
        runner = ShotRunner(self.bus.publisher(origin), self.subsystems,
                            self._plan(), locator_from_config(self.cfg),
                            self.clock)
        self.by_hand.append(runner)

        def on_success() -> None:
            self.shots.store.decrement(shot.shotid)

        try:
            await runner.run(shot.as_dict(), track, observation, on_success)
        finally:
            self.by_hand.remove(runner)

    async def _stop(self) -> None:
        """The end of the night, as ``ocd run`` stops on SIGTERM: say so, read no more
        events, abort the shots and wait for their ends (``[run] stop_timeout``); a shot
        still waiting for the telescope then is cancelled, its finish published."""
        self.bus.main_loop = None
        self.edges.publish(topics.MAIN_STOPPING, {"reason": "end of the simulated night",
                                                  "running_shot": self.runner.current})
        self.engine.stop_shot()
        for runner in self.by_hand:
            runner.abort("shutdown")
        work = [t for t in self.edges.tasks if not t.done() and t.get_name()
                not in ("TCS", "the RA")]
        if work:
            await asyncio.wait(work, timeout=self.cfg.get_float("run", "stop_timeout"))
        for task in work:
            task.cancel()
        await asyncio.gather(*work, return_exceptions=True)


def memory_allocator(cfg: Config) -> SqliteAllocator:
    """``vl_obsnum`` in an in-memory SQLite database: the same rules and SQL as the file
    ``ocd rehearse`` uses, nothing written to disk."""
    # each night gives it its own virtual clock (the table's dates come from it)
    return SqliteAllocator(Path(":memory:"), RealClock(), check_instrument(cfg), update=True)


def run_night(cfg: Config, setup: NightSetup, shots: ShotCopy,
              allocator: ObsnumAllocator) -> NightResult:
    """One night on a virtual-time loop of its own."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(SimulatedNight(cfg, setup, shots, allocator).run())
    finally:
        # as asyncio.run does: what the night left running (a slew at the end of the stretch)
        # is cancelled and awaited, not destroyed pending with an asyncio error on stderr
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
