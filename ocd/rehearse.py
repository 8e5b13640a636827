"""``ocd rehearse``: a dress rehearsal of a night in one command.

It starts the real processes as children, in a private temporary directory with ipc addresses
(so it never meets a real OCD on the default ports): a recorder, ``ocd run``, the TCS (``ocd
db_replay`` of a recorded night, or ``ocd sim_tcs``) and ``ocd allow_hetdex start``. It follows
their events itself to show progress, ends the night segment on the main loop's clock, stops
every child (SIGTERM, then wait; SIGKILL only if one hangs) and summarises.

:class:`Tally` (events in, progress lines and summary out) and the planning functions are pure;
:func:`rehearse` is the asyncio shell.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import zmq.asyncio

from ocd.bus.options import BusOptions, bus_options
from ocd.bus.sequence import SeqKind
from ocd.bus.subscriber import Subscriber
from ocd.config import Config, load_config, parse_override
from ocd.errors import ConfigError, OcdError, UsageError
from ocd.processes import OcdChild, describe_exit
from ocd.replay import in_step_speedup, open_for_replay, recorded_clock
from ocd.samples import sample_night

log = logging.getLogger(__name__)

#: Keys of the ``--summary`` JSON file, exactly.
SUMMARY_KEYS = ("shots_completed", "shots_failed", "obsnums", "events_by_topic", "gaps")
#: Real seconds to wait for the main loop's first event before calling the start a failure.
STARTUP_TIMEOUT = 90.0
#: Real seconds of quiet that end the reading of the last events while stopping.
DRAIN_QUIET = 0.3
#: Longest path of an ipc socket (Unix limit 107 bytes, with room for the name).
_IPC_MAX = 90


# -- plan (pure) ---------------------------------------------------------------------------------

_DURATION = re.compile(r"^(?:(?P<h>\d+(?:\.\d*)?)h)?(?:(?P<m>\d+(?:\.\d*)?)m(?:in)?)?"
                       r"(?:(?P<s>\d+(?:\.\d*)?)s?)?$")


def parse_duration(text: str) -> float:
    """OCD-clock seconds from ``3600``, ``90s``, ``20m``, ``20min``, ``1h`` or ``1h30m``."""
    cleaned = text.strip().lower().replace(" ", "")
    match = _DURATION.match(cleaned)
    if not cleaned or match is None or not any(match.groupdict().values()):
        raise UsageError(f"--duration {text!r}: expected seconds or a duration like 90s, 20m, "
                         "1h or 1h30m (OCD-clock time)")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    seconds = parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    if seconds <= 0:
        raise UsageError(f"--duration {text!r}: must be longer than zero")
    return seconds


@dataclass(frozen=True)
class Plan:
    """What one rehearsal does."""

    tcs: str                  # "replay" or "sim"
    night: Path | None        # the recording replayed (replay only)
    speed: float              # mock clock speed of every process
    duration: float           # OCD-clock seconds of night
    mock_start: dt.datetime   # where the main loop's clock starts
    stop_timeout: float       # real seconds each child gets to stop
    exposures: int            # exposures per shot, for the progress lines
    replay_speedup: float = 1.0
    replay_topics: tuple[str, ...] = ()

    @property
    def end(self) -> dt.datetime:
        return self.mock_start + dt.timedelta(seconds=self.duration)


def plan_from_config(cfg: Config, *, speed: float | None = None, duration: float | None = None,
                     tcs: str | None = None) -> Plan:
    """The rehearsal described by ``[rehearse]``, ``[dates]`` and the command line."""
    from ocd.run_shot import plan_from_config as exposure_plan

    mock_start = cfg.get("dates", "mock_time")
    if mock_start is None:
        raise ConfigError("[dates] mock_time is not set: a rehearsal needs the night to rehearse "
                          "(the shipped rehearsal.cfg sets 2017-11-19T03:00:00)")
    speed = cfg.get("rehearse", "speed") if speed is None else speed
    if not speed > 0:
        raise UsageError(f"--speed {speed:g}: must be positive")
    duration = cfg.get("rehearse", "duration") if duration is None else duration
    if not duration > 0:
        raise cfg.error("rehearse", "duration", str(duration), "must be positive")
    tcs = tcs or cfg.get("rehearse", "tcs")
    plan = Plan(tcs=tcs, night=None, speed=speed, duration=duration, mock_start=mock_start,
                stop_timeout=cfg.get("rehearse", "stop_timeout"),
                exposures=exposure_plan(cfg).n_exposures)
    if tcs != "replay":
        return plan
    night = cfg.get("rehearse", "night") or sample_night()
    conn = open_for_replay(night)
    try:
        topics = [t for (t,) in conn.execute("SELECT DISTINCT topic FROM events ORDER BY topic")
                  if not t.startswith("ocd.")]
        recorded = recorded_clock(conn)
    finally:
        conn.close()
    if not topics:
        raise OcdError(f"{night}: no TCS event to replay (only ocd.* topics)")
    return Plan(**{**plan.__dict__, "night": night,
                   "replay_speedup": in_step_speedup(speed, recorded.speed),
                   "replay_topics": tuple(topics)})


@dataclass(frozen=True)
class Layout:
    """The private directory of one rehearsal and its addresses."""

    root: Path   # files: logs, shot list copy, observation numbers, recording
    ipc: Path    # sockets (short path)

    def url(self, name: str) -> str:
        return f"ipc://{self.ipc / name}.ipc"

    @property
    def tcs_url(self) -> str:
        return self.url("tcs")

    @property
    def replay_url(self) -> str:
        return self.url("replay")

    def service_urls(self) -> list[str]:
        return [self.url("main"), self.url("shot"), self.url("allow")]


def forced_settings(layout: Layout, plan: Plan) -> list[tuple[str, str, str]]:
    """What every child is told on top of the user's configuration: private addresses, the
    mock clock, a copy of the shot list, a fresh observation-number file."""
    replay = plan.tcs == "replay"
    gateway = layout.url("gateway")
    values = [
        ("urls", "event_urls", "" if replay else layout.tcs_url),
        ("urls", "ocd_db_replay", layout.replay_url if replay else ""),
        ("urls", "ocd_main_loop", layout.url("main")),
        ("urls", "ocd_run_shot", layout.url("shot")),
        ("urls", "ocd_allow_hetdex", layout.url("allow")),
        *(("urls", name, gateway) for name in ("tcs", "virus", "pfip", "pas")),
        ("run", "n_ocd_main_loop", "0"), ("run", "n_ocd_run_shot", "0"),
        ("run_shot", "n_ocd_run_shot", "0"), ("allow_hetdex", "n_ocd_allow_hetdex", "0"),
        ("db_replay", "n_ocd_db_replay", "0"), ("sim_tcs", "n_event_urls", "0"),
        ("dates", "mock_time", plan.mock_start.strftime("%Y-%m-%dT%H:%M:%S.%f")),
        ("dates", "mock_speed", f"{plan.speed:g}"),
        ("database", "backend", "sqlite"),
        ("database", "sqlite_path", str(layout.root / "obsnum.sqlite")),
        ("shots", "shot_file", str(layout.root / "shots.dat")),
        ("tcs", "backend", "simulated" if replay else "gateway"),
        # every peer is local: reconnect fast so no process misses the start of another
        ("bus", "reconnect_interval_max", "0.2"),
    ]
    return values


def make_layout(keep: Path | None = None) -> Layout:
    """A new private directory for sockets (``keep``: files go there instead, and stay)."""
    if keep is not None and keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        raise UsageError(f"--keep {keep}: not an empty directory; choose a new one")
    ipc = Path(tempfile.mkdtemp(prefix="ocd-rh-"))
    if len(str(ipc)) > _IPC_MAX - 12:
        shutil.rmtree(ipc, ignore_errors=True)
        raise OcdError(f"the temporary directory {ipc.parent} is too long a path for ipc "
                       "sockets (Unix limit 107 bytes): set TMPDIR to a shorter directory")
    if keep is None:
        return Layout(ipc, ipc)
    keep.mkdir(parents=True, exist_ok=True)
    return Layout(keep.resolve(), ipc)


# -- following the night (pure) ------------------------------------------------------------------

@dataclass
class Shot:
    shotid: str
    track: str
    observation: int | None
    origin: str
    state: str = "running"  # running, completed, failed, interrupted
    exposures: int = 0
    error: str = ""

    def describe(self) -> str:
        obs = f"observation {self.observation}" if self.observation is not None else "no obsnum"
        return f"{self.shotid} {self.track} ({obs})"


def _clock_of(payload: dict[str, Any]) -> dt.datetime | None:
    stamp = payload.get("__ocd_utc")
    if not isinstance(stamp, str):
        return None
    try:
        return dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None


@dataclass
class Tally:
    """Everything a rehearsal learns from the events: progress lines and the summary."""

    exposures_per_shot: int = 3
    events_by_topic: Counter[str] = field(default_factory=Counter)
    shots: list[Shot] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    #: Set when the rehearsal stops ``ocd run``: a shot aborted then was interrupted, not failed.
    stopping: bool = False
    _last_no_shot: str = ""
    _tcs: str = ""

    def _shot(self, origin: str, payload: dict[str, Any]) -> Shot | None:
        observation = payload.get("observation")
        for shot in reversed(self.shots):
            if shot.origin == origin and shot.observation == observation:
                return shot
        return None

    def feed(self, topic: str, payload: dict[str, Any]) -> list[str]:
        """Count one event; the progress lines it deserves (often none)."""
        self.events_by_topic[topic] += 1
        data = payload
        origin = str(payload.get("__origin") or "?")
        if topic == "ocd.run_shot.run":
            if data.get("exec_status") == 0:
                shot = Shot(str(data.get("shotid")), str(data.get("obs_track") or "?"),
                            data.get("observation") if isinstance(data.get("observation"), int)
                            else None, origin)
                self.shots.append(shot)
                return [f"shot {shot.shotid} ({shot.track}) started: observation "
                        f"{shot.observation}"]
            shot = self._shot(origin, data)
            if shot is None or shot.state != "running":
                return []
            if not data.get("error"):
                shot.state = "completed"
                return [f"shot {shot.describe()} completed"]
            shot.error = f"{data.get('exc_type')}: {data.get('exc_value')}"
            if self.stopping and data.get("exc_value") == "shutdown":
                shot.state = "interrupted"
                return [f"shot {shot.describe()} interrupted: the rehearsal stopped ocd run"]
            shot.state = "failed"
            return [f"shot {shot.describe()} FAILED: {shot.error}"]
        if topic == "ocd.run_shot.setup_telescope" and data.get("exec_status") == 1:
            return ["  telescope set up"]
        if topic == "ocd.run_shot.exp_hetdex" and data.get("exec_status") == 1:
            shot = self._shot(origin, data)
            if shot is not None:
                shot.exposures += 1
            return [f"  exposure {data.get('exposure')}/{self.exposures_per_shot} done "
                    f"(observation {data.get('observation')})"]
        if topic == "ocd.states.change" and data.get("machine_name") in ("tcs", "metrology",
                                                                         "hetdex_allowed"):
            return [f"{data.get('machine_name')}: {data.get('old_state')} -> "
                    f"{data.get('new_state')}"]
        if topic == "ocd.main_loop.decision" and data.get("started"):
            return [f"chose {data.get('shotid')} {data.get('track')}: {data.get('reason')}"]
        if topic == "ocd.main_loop.no_shot":
            reason = str(data.get("reason"))
            if reason != self._last_no_shot:
                self._last_no_shot = reason
                return [f"no shot: {reason}"]
        if topic == "ocd.main_loop.error":
            return [f"main loop error ({data.get('stage')}): {data.get('error')}"]
        return []

    def gap(self, origin: str, expected: int | None, received: int, lost: int) -> str:
        self.gaps.append({"origin": origin, "expected": expected, "received": received,
                          "lost": lost})
        return f"!! lost {lost} event(s) from {origin} (expected seq {expected}, got {received})"

    def finish(self) -> None:
        """The rehearsal is over: shots still running were interrupted by its end."""
        for shot in self.shots:
            if shot.state == "running":
                shot.state = "interrupted"

    def of_state(self, state: str) -> list[Shot]:
        return [s for s in self.shots if s.state == state]

    @property
    def obsnums(self) -> list[int]:
        return sorted({s.observation for s in self.shots if s.observation is not None})

    def summary(self) -> dict[str, Any]:
        """The ``--summary`` JSON: exactly :data:`SUMMARY_KEYS`."""
        return {"shots_completed": len(self.of_state("completed")),
                "shots_failed": len(self.of_state("failed")),
                "obsnums": self.obsnums,
                "events_by_topic": dict(sorted(self.events_by_topic.items())),
                "gaps": len(self.gaps)}

    def report(self, plan: Plan, wall: float, reached: dt.datetime | None) -> str:
        """The human summary."""
        def shots(state: str) -> str:
            chosen = self.of_state(state)
            listed = ", ".join(s.describe() + (f": {s.error}" if state == "failed" else "")
                               for s in chosen)
            return f"{len(chosen)}" + (f"  {listed}" if listed else "")

        until = reached.strftime("%H:%M:%S") if reached else "?"
        lines = [f"rehearsal summary: OCD clock {plan.mock_start:%Y-%m-%d %H:%M:%S} to {until} "
                 f"UTC ({plan.duration / 60:g} min planned), {wall:.1f} s of wall time at "
                 f"{plan.speed:g}x",
                 f"  shots completed:     {shots('completed')}",
                 f"  shots failed:        {shots('failed')}"]
        if self.of_state("interrupted"):
            lines.append(f"  interrupted at end:  {shots('interrupted')}")
        obsnums = ", ".join(map(str, self.obsnums)) or "none"
        lines.append(f"  observation numbers: {obsnums}")
        lines.append(f"  events by topic ({sum(self.events_by_topic.values())} in all):")
        width = max((len(t) for t in self.events_by_topic), default=0)
        for topic, count in sorted(self.events_by_topic.items()):
            lines.append(f"    {topic:<{width}}  {count:6d}")
        if not self.gaps:
            lines.append("  sequence gaps:       none")
        else:
            lost = sum(g["lost"] for g in self.gaps)
            lines.append(f"  sequence gaps:       {len(self.gaps)} ({lost} event(s) lost)")
            for gap in self.gaps[:10]:
                lines.append(f"    {gap['origin']}: expected seq {gap['expected']}, got "
                             f"{gap['received']}")
        return "\n".join(lines)


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


@dataclass
class Rehearsal:
    """One rehearsal: its plan, directory, children and the configuration arguments they get."""

    plan: Plan
    layout: Layout
    config_args: list[str]
    options: BusOptions
    out: TextIO = field(default_factory=lambda: sys.stdout)
    children: dict[str, OcdChild] = field(default_factory=dict)
    #: Children that are expected to exit by themselves (with status 0).
    one_shot: tuple[str, ...] = ("allow_hetdex",)

    def __post_init__(self) -> None:
        self.tally = Tally(self.plan.exposures)
        self._t0 = time.monotonic()
        self._clock_base: tuple[dt.datetime, float] | None = None
        self._interrupted = asyncio.Event()

    # -- output --------------------------------------------------------------------------------
    def say(self, text: str, when: dt.datetime | None = None) -> None:
        stamp = when.strftime("%H:%M:%S") if when else " " * 8
        print(f"[{time.monotonic() - self._t0:6.1f} s] {stamp}  {text}", file=self.out,
              flush=True)

    # -- children ------------------------------------------------------------------------------
    def start(self, name: str, args: list[str]) -> OcdChild:
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
            if self._interrupted.is_set():
                return None
            if child.poll() is not None:
                return self.check_children()
            if time.monotonic() > deadline:
                return f"{child.label} did not bind its addresses within {STARTUP_TIMEOUT:g} s"
            await asyncio.sleep(0.05)
        return None

    def start_rest(self) -> None:
        """After the main loop: the recorder, the TCS and the allow command."""
        plan, layout = self.plan, self.layout
        self.start("record", ["record", str(layout.root / "rehearsal.db")])
        if plan.tcs == "replay":
            assert plan.night is not None
            topics = [arg for t in plan.replay_topics for arg in ("-t", t)]
            # its first event waits for the main loop, the recorder and this monitor
            self.start("db_replay", ["db_replay", "--loop", "-s", f"{plan.replay_speedup:g}",
                                     "--subscribers", "3", "--wait", f"{STARTUP_TIMEOUT:g}",
                                     *topics, str(plan.night)])
        else:
            self.start("sim_tcs", ["sim_tcs"])
        self.start("allow_hetdex", ["allow_hetdex", "start", "--timeout",
                                    f"{STARTUP_TIMEOUT:g}"])

    def check_children(self) -> str | None:
        """Why the rehearsal must stop because of a child, or None."""
        for name, child in self.children.items():
            code = child.poll()
            if code is None or (name in self.one_shot and code == 0):
                continue
            return f"{child.label} stopped unexpectedly: {describe_exit(code)}{_why(child)}"
        return None

    def stop_order(self) -> list[str]:
        """The main loop first (it aborts a running shot and says so), then the TCS, then the
        one-shot commands, the recorder last so it keeps every end."""
        names = ["run", "db_replay", "sim_tcs", "allow_hetdex", "record"]
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
            when = _clock_of(payload)
            if when is not None:
                self._clock_base = (when, time.monotonic())

    # -- the night -----------------------------------------------------------------------------
    def _handle(self, subscriber: Subscriber, event: Any) -> None:
        check = subscriber.last_check
        if check is not None and check.kind is SeqKind.GAP:
            self.say(self.tally.gap(check.origin, check.expected, check.seq, check.missing))
        self._learn_clock(event.payload)
        for line in self.tally.feed(event.topic, event.payload):
            self.say(line, _clock_of(event.payload))

    async def _follow(self, subscriber: Subscriber) -> tuple[str | None, dt.datetime | None]:
        """Until the night segment is over, a child fails, or the user interrupts."""
        plan = self.plan
        started = time.monotonic()
        next_check = 0.0
        while not self._interrupted.is_set():
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

    async def run(self) -> Outcome:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self._interrupted.set)
        ctx = zmq.asyncio.Context()
        subscriber: Subscriber | None = None
        failure: str | None = None
        reached = None
        try:
            run = self.start("run", ["run", "--yes"])
            failure = await self._wait_bound(run, ["main", "shot"])
            if failure is None and not self._interrupted.is_set():
                tcs = self.layout.replay_url if self.plan.tcs == "replay" \
                    else self.layout.tcs_url
                subscriber = Subscriber(ctx, [*self.layout.service_urls(), tcs], [""],
                                        options=self.options, log_gaps=False)
                self.start_rest()
                failure, reached = await self._follow(subscriber)
            if failure is not None:
                self._show_failure(failure)
        finally:
            problems = await self._stop_children(subscriber)
            if subscriber is not None:
                subscriber.close()
            ctx.term()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        if failure is None and problems and not self._interrupted.is_set():
            failure = problems[0]
            self._show_failure(failure)
        for problem in problems:
            if problem != failure:
                print(f"ocd rehearse: {problem}", file=sys.stderr)
        self.tally.finish()
        return Outcome(self.tally, time.monotonic() - self._t0, reached,
                       self._interrupted.is_set(), failure)

    def _show_failure(self, failure: str) -> None:
        print(f"ocd rehearse: {failure}", file=sys.stderr)
        for child in self.children.values():
            if failure.startswith(child.label):
                tail = child.stderr_tail(15)
                if tail:
                    print(f"--- last lines of {child.label}'s stderr ---\n{tail}\n---",
                          file=sys.stderr)


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(summary, indent=2) + "\n")
    except OSError as exc:
        raise OcdError(f"cannot write the summary to {path}: {exc.strerror}") from None


def copy_shot_file(cfg: Config, layout: Layout) -> None:
    source = cfg.get("shots", "shot_file")
    try:
        shutil.copyfile(source, layout.root / "shots.dat")
    except OSError as exc:
        raise ConfigError(f"{cfg.origin('shots', 'shot_file')}: [shots] shot_file {source}: "
                          f"cannot copy: {exc.strerror}") from None


def rehearse(files: list[str], sets: list[str], *, speed: float | None = None,
             duration: float | None = None, tcs: str | None = None, keep: Path | None = None,
             summary: Path | None = None, out: TextIO | None = None) -> int:
    """Run one rehearsal with the configuration ``files`` (the shipped rehearsal.cfg first)
    and ``--set`` strings ``sets``; print progress and the summary on ``out``. Returns the
    exit status (0, or 130 when interrupted); a failed child raises :class:`RehearsalFailed`
    after the summary."""
    out = sys.stdout if out is None else out
    cfg = load_config(files, [parse_override(item) for item in sets])
    plan = plan_from_config(cfg, speed=speed, duration=duration, tcs=tcs)
    layout = make_layout(keep)
    try:
        copy_shot_file(cfg, layout)
        forced = forced_settings(layout, plan)
        config_args = [*(a for f in files for a in ("--config", str(f))),
                       *(a for s in sets for a in ("--set", s)),
                       *(a for s, o, v in forced for a in ("--set", f"{s}.{o}={v}"))]
        options = bus_options(load_config(files, [*(parse_override(i) for i in sets), *forced]))
        source = (f"replaying {plan.night} at -s {plan.replay_speedup:g}" if plan.tcs == "replay"
                  else "against ocd sim_tcs")
        print(f"ocd rehearse: {plan.duration / 60:g} min of night from "
              f"{plan.mock_start:%Y-%m-%d %H:%M:%S} UTC at {plan.speed:g}x (about "
              f"{plan.duration / plan.speed:.0f} s), {source}; working in {layout.root}",
              file=out, flush=True)
        rehearsal = Rehearsal(plan, layout, config_args, options, out=out)
        outcome = asyncio.run(rehearsal.run())
        print(outcome.tally.report(plan, outcome.wall, outcome.reached), file=out, flush=True)
        record = rehearsal.children.get("record")
        if record is not None and record.stdout().strip():
            print(f"  {record.stdout().strip()}", file=out)
        if summary is not None:
            write_summary(summary, outcome.tally.summary())
    finally:
        shutil.rmtree(layout.ipc, ignore_errors=True)
        if keep is not None:
            print(f"ocd rehearse: kept {layout.root} (logs, shots.dat, obsnum.sqlite, "
                  "rehearsal.db)", file=out)
    if outcome.failure is not None:
        raise RehearsalFailed(outcome.failure)
    if outcome.interrupted:
        print("ocd rehearse: interrupted; every process stopped", file=sys.stderr)
        return 130
    return 0
