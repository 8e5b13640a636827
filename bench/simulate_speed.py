"""How fast ``ocd simulate`` runs, event-driven and tick by tick, in the same run.

Measured: a 10-hour night (2017-11-19 01:00 to 11:00 UTC, the sample shot list, the default
configuration: a TCS heartbeat and pointing every second, guider metrology every 10 s, a main
loop tick every second) through ``ocd run``'s engine in virtual time, both ways:

- tick by tick (``--exact``, the only mode before the event-driven one): every heartbeat,
  pointing, reading and tick given to the core;
- event-driven (the default): from one moment that can change a decision to the next.

Also the same night with random weather and faults, one night of the randomized test suite
(a coarse TCS, 1.5 hours), a season of whole nights with random weather (``--nights``, 180 by
default), and ``ocd plan`` end to end (``--plan``: a new process, imports and all).

Baseline: the same stream of inputs (heartbeat and pointing every second, a tick every
second, metrology every 10 s) fed straight to the pure ``Orchestrator``, no shell at all:
what the tick-by-tick decisions alone cost.

Targets (issue 27): the event-driven 10-hour night at least 20 times faster than tick by
tick; 180 random nights in 30 s or less; ``ocd plan`` in 1 s or less.

    python bench/simulate_speed.py [--repeat 5] [--nights 180] [--plan]

Prints medians and best times, and the ratios of one run: tick by tick and event-driven are
timed in turns, and the ratio is the median of the turns' ratios (a shared machine's busy
spell slows both sides of a turn alike). Results go in doc/performance.md.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocd.app.simulation.calendar import night_of  # noqa: E402
from ocd.app.simulation.simulate import Request, simulate_nights  # noqa: E402
from ocd.config import load_config, rehearsal_config, sample_shot_file  # noqa: E402
from ocd.core.orchestrator import Orchestrator  # noqa: E402
from ocd.core.topics import GUIDER_METROLOGY, TCS_HEARTBEAT, TCS_RA_DEC  # noqa: E402
from ocd.shell.settings import orchestrator_settings  # noqa: E402
from ocd.shots.store import load_shots  # noqa: E402

UTC = dt.timezone.utc
START = dt.datetime(2017, 11, 19, 1, 0, tzinfo=UTC)
HOURS = 10.0
COARSE = [("sim_tcs", "heartbeat_interval", "20"), ("sim_tcs", "metrology_interval", "60"),
          ("tcs", "heartbeat_timeout", "60"), ("simulate", "tick_interval", "10"),
          ("run_shot", "exposure_time", "120")]


def timed(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and best wall time of ``action`` in seconds, after one warm-up call."""
    action()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times), min(times)


def paired(slow: Callable[[], object], fast: Callable[[], object],
           repeat: int) -> tuple[float, float, float, float, float]:
    """Both ways in turns, after a warm-up of each: ``slow`` once, then ``fast`` three times
    (their median), ``repeat`` times. Medians and bests of each, and the median of the
    ratios of each turn: a busy spell of a shared machine slows one turn's two alike, so the
    ratio holds where the separate medians drift apart."""
    slow()
    fast()
    slows, fasts, ratios = [], [], []
    for _ in range(repeat):
        began = time.perf_counter()
        slow()
        slows.append(time.perf_counter() - began)
        turn = []
        for _ in range(3):
            began = time.perf_counter()
            fast()
            turn.append(time.perf_counter() - began)
        fasts.extend(turn)
        ratios.append(slows[-1] / statistics.median(turn))
    return (statistics.median(slows), min(slows), statistics.median(fasts), min(fasts),
            statistics.median(ratios))


def the_night(cfg, faults: bool = False, hours: float = HOURS, kind: str = "steady",
              exact: bool = False) -> None:
    end = START + dt.timedelta(hours=hours)
    request = Request([(START, end)], kind, 3, faults, exact=exact)
    result = simulate_nights(cfg, request, load_shots(sample_shot_file()))[0]
    assert result.ok and result.report.count("completed") > 0, result.violations


def season(cfg, nights: int) -> None:
    """``nights`` whole nights from 2017-10-01 with random weather, one shot list."""
    request = Request([night_of(dt.date(2017, 10, 1) + dt.timedelta(days=n))
                       for n in range(nights)], "random", 1)
    results = simulate_nights(cfg, request, load_shots(sample_shot_file()))
    assert all(r.ok for r in results)


def bare_core(cfg) -> None:
    """The same inputs, straight to the orchestrator; every action dropped."""
    orchestrator = Orchestrator(orchestrator_settings(cfg))
    t0 = START.timestamp()
    orchestrator.handle("ocd.command.allow_hetdex", {"id": "bench", "allowed": True}, t0)
    pointing = {"ra": 3.0, "dec": 0.0, "track": "W", "tracking": True, "dx": 0.0, "dy": 0.0}
    for second in range(int(HOURS * 3600)):
        now = t0 + second
        orchestrator.handle(TCS_HEARTBEAT, {"status": "ok"}, now)
        orchestrator.handle(TCS_RA_DEC, pointing, now)
        if second % 10 == 0:
            for guider, topic in enumerate(GUIDER_METROLOGY, start=1):
                orchestrator.handle(topic, {"seeing": 1.3, "transparency": 0.95,
                                            "guider": guider}, now)
        orchestrator.tick(now)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--nights", type=int, default=180,
                        help="nights of the season timed once (0: none)")
    parser.add_argument("--plan", action="store_true", help="also time ocd plan end to end")
    args = parser.parse_args(argv)
    cfg = load_config([], [("shots", "shot_file", str(sample_shot_file())),
                           ("run_shot", "shuffle_dir", str(sample_shot_file().parent
                                                           / "HETcommands")),
                           ("run_shot", "acam_dir", str(sample_shot_file().parent
                                                        / "ACAMimages"))])
    coarse = load_config([str(rehearsal_config())], COARSE)
    print(f"python {platform.python_version()} on {platform.machine()}, {args.repeat} runs "
          "each (medians; best in brackets)")
    base, base_best = timed(lambda: bare_core(cfg), args.repeat)
    exact, exact_best, night, night_best, ratio = paired(
        lambda: the_night(cfg, exact=True), lambda: the_night(cfg), args.repeat)
    exact_faults, _, faults, faults_best, faults_ratio = paired(
        lambda: the_night(cfg, True, kind="random", exact=True),
        lambda: the_night(cfg, True, kind="random"), args.repeat)
    short, short_best = timed(lambda: the_night(coarse, True, 1.5, "random"), args.repeat)
    seconds = HOURS * 3600
    print(f"baseline: the bare core fed the same 10 h of inputs   {base:6.3f} s  "
          f"[{base_best:.3f}]")
    print(f"a 10-hour night, tick by tick (--exact)               {exact:6.3f} s  "
          f"[{exact_best:.3f}]  {exact / base:4.2f}x the bare core")
    print(f"a 10-hour night, event-driven                         {night:6.3f} s  "
          f"[{night_best:.3f}]  {seconds / night:9,.0f}x real time  "
          f"{ratio:5.1f}x faster than tick by tick (median of the turns; "
          f"{exact / night:.1f}x of the medians)")
    print(f"the same with random weather and faults, event-driven {faults:6.3f} s  "
          f"[{faults_best:.3f}]  {faults_ratio:5.1f}x faster than tick by tick "
          f"({exact_faults:.3f} s)")
    print(f"a random test night (1.5 h, coarse TCS, faults)       {short * 1000:6.1f} ms "
          f"[{short_best * 1000:.1f}]")
    verdict = "met" if ratio >= 20.0 else "NOT met"
    print(f"target: the event-driven night >= 20x faster than tick by tick: {verdict}")
    if args.nights > 0:
        began = time.perf_counter()
        season(cfg, args.nights)
        wall = time.perf_counter() - began
        per = wall / args.nights
        print(f"{args.nights} whole nights, random weather, event-driven   {wall:6.2f} s  "
              f"({per * 1000:.0f} ms a night; 180 would take {180 * per:.1f} s)")
        print(f"target: 180 nights in <= 30 s: {'met' if 180 * per <= 30.0 else 'NOT met'}")
    if args.plan:
        # the bytecode of OCD's modules first, as pip writes it when it installs a package (a
        # checkout installed in place, with PYTHONDONTWRITEBYTECODE set, would compile every
        # module in every new process)
        compiled = compileall.compile_dir(Path(__file__).resolve().parent.parent / "ocd",
                                          quiet=1)
        command = [sys.executable, "-m", "ocd", "plan", "--config", str(rehearsal_config()),
                   "--at", "2017-11-19T01:30"]
        bare = [sys.executable, "-c", "pass"]
        plan, plan_best = timed(lambda: subprocess.run(command, check=True,
                                                       capture_output=True), 3)
        python, _ = timed(lambda: subprocess.run(bare, check=True), 3)
        print(f"ocd plan from 01:30 to morning twilight, a new process  {plan:6.2f} s  "
              f"[{plan_best:.2f}]  (a bare interpreter: {python:.2f} s)")
        print(f"  (OCD's bytecode written first: {'yes' if compiled else 'FAILED'})")
        print(f"target: ocd plan in <= 1 s: {'met' if plan <= 1.0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
