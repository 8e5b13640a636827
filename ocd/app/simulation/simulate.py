"""``ocd simulate``: whole nights through ``ocd run``'s decision core in virtual time.

Each night runs on a fresh :class:`~ocd.app.simulation.virtual_time.VirtualTimeLoop`
(:class:`~ocd.app.simulation.night.SimulatedNight`); the nights share the shot list (a copy:
``n_obs`` goes down night after night) and the observation-number table (an in-memory SQLite
``vl_obsnum``, numbers per date as at HET). The report is printed as a table per night
(:mod:`.report`), as JSON, and drawn (:mod:`.plot`).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ocd.app.simulation.calendar import night_date, night_of
from ocd.app.simulation.night import (
    NightResult,
    NightSetup,
    collected_logs,
    memory_allocator,
    run_night,
)
from ocd.app.simulation.report import check_png, render_night, render_totals, results_document
from ocd.app.simulation.scenario import Scenario, random_scenario
from ocd.clock import Clock
from ocd.config import Config, parse_time
from ocd.errors import OcdError, UsageError, printable_lines
from ocd.recording.store import open_for_replay
from ocd.shell.progress import Progress
from ocd.shots.book import ShotCopy
from ocd.shots.inputs import lacking_inputs
from ocd.shots.runner import locator_from_config
from ocd.shots.store import ShotStore, load_shots
from ocd.tcs.sim.weather import KINDS, Weather

#: Most nights one command simulates (a year and a half).
MAX_NIGHTS = 550
#: Longest stretch one night may cover (``--from``/``--to``), seconds.
MAX_SPAN = 36 * 3600.0


@dataclass(frozen=True)
class Request:
    """What ``ocd simulate`` was asked for (the command line, read)."""

    windows: list[tuple[dt.datetime, dt.datetime]]
    weather: str
    seed: int
    faults: bool = False
    replay: Path | None = None
    #: The command that simulates the same nights again.
    command: str = ""
    #: Tick by tick (``--exact``) rather than event-driven.
    exact: bool = False
    #: Validate the simulated processes' own events too (:attr:`NightSetup.check_events`).
    check_events: bool = False


def parse_when(option: str, text: str) -> dt.datetime:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise UsageError(f"{option} {text!r}: {exc}") from None


def windows(clock: Clock, *, night: str | None, start: str | None, end: str | None,
            nights: int) -> list[tuple[dt.datetime, dt.datetime]]:
    """The stretches to simulate: ``--from``/``--to``; else ``nights`` nights (sunset to
    sunrise) from the night of ``--night`` (a local date at HET) or tonight's by ``clock``."""
    if not 1 <= nights <= MAX_NIGHTS:
        raise UsageError(f"--nights {nights}: give 1 to {MAX_NIGHTS}")
    if start is not None or end is not None:
        if night is not None:
            raise UsageError("--night and --from/--to: give one or the other")
        if start is None or end is None:
            raise UsageError("--from and --to go together")
        if nights != 1:
            raise UsageError("--nights counts whole nights: not with --from/--to")
        first, last = parse_when("--from", start), parse_when("--to", end)
        span = (last - first).total_seconds()
        if not 0 < span <= MAX_SPAN:
            raise UsageError(f"--from {start} --to {end}: the end must come after the start, "
                             f"at most {MAX_SPAN / 3600:g} hours later")
        return [(first, last)]
    if night is not None:
        try:
            date = dt.date.fromisoformat(night.strip())
        except ValueError:
            raise UsageError(f"--night {night!r}: expected a date like 2017-11-18 (the local "
                             "date of the night's evening at HET)") from None
    else:
        date = night_date(clock.utc())
    return [night_of(date + dt.timedelta(days=n)) for n in range(nights)]


def weather_for(cfg: Config, kind: str | None, seed: int) -> Weather:
    """``--weather`` (else ``[sim_tcs] weather``) with ``[sim_tcs]``'s seeing,
    transparency and cloudy spell, drawn from ``seed``."""
    kind = kind or cfg.get_str("sim_tcs", "weather")
    if kind not in KINDS:
        raise UsageError(f"--weather {kind!r}: expected one of {', '.join(KINDS)}")
    return Weather(kind=kind, seeing=cfg.get_float("sim_tcs", "seeing"),
                   transparency=cfg.get_float("sim_tcs", "transparency"),
                   cloud_start=cfg.get_float("sim_tcs", "cloud_start"),
                   cloud_duration=cfg.get_float("sim_tcs", "cloud_duration"), seed=seed)


def tick_interval(cfg: Config) -> float:
    return cfg.get_float("simulate", "tick_interval")  # its range is checked by the config


def read_shots(cfg: Config, shots: Path | None) -> ShotStore:
    """The shot list to simulate: ``--shots``, else ``[shots] shot_file``; a missing file is
    one line that says how to name another (a fresh user's first try has none)."""
    path = shots if shots is not None else cfg.get_path("shots", "shot_file")
    if path is None:
        raise cfg.error("shots", "shot_file", "", "a shot file is needed (or give --shots)")
    if shots is None and not path.exists():
        raise UsageError(f"{path}: no shot list there ([shots] shot_file): give --shots FILE, or "
                       "a configuration naming one (the sample night's: --config "
                       "conf/rehearsal.cfg in OCD's source tree)")
    return load_shots(path)


#: Shots named in the line that says which lack input files (the count says the rest).
SHOWN_LACKING = 8


def say_lacking_inputs(cfg: Config, store: ShotStore, command: str) -> None:
    """One line on standard error, before anything runs, naming the shots (and tracks) whose
    star file or ACAM image is not in ``[run_shot] shuffle_dir`` and ``acam_dir``: each would
    fail when chosen, and the night would go by in error pauses without saying why."""
    lacking = lacking_inputs(locator_from_config(cfg), store.all())
    if not lacking:
        return
    shown = ", ".join(lacking[:SHOWN_LACKING])
    more = f" and {len(lacking) - SHOWN_LACKING} more" if len(lacking) > SHOWN_LACKING else ""
    print(f"ocd {command}: {len(lacking)} shot track(s) lack their input files in [run_shot] "
          f"shuffle_dir {cfg.get_path('run_shot', 'shuffle_dir')} or acam_dir "
          f"{cfg.get_path('run_shot', 'acam_dir')}: {shown}{more}; they fail when chosen "
          "(doc/shot-inputs.md)", file=sys.stderr, flush=True)


def simulate_nights(cfg: Config, request: Request, store: ShotStore,
                    save: Path | None = None, progress: Progress | None = None,
                    weather: Weather | None = None) -> list[NightResult]:
    """Every night of ``request`` in turn, on one copy of the shot list and one table of
    observation numbers (``weather``: the same sky every night, instead of the request's)."""
    copy = ShotCopy(store, save)
    allocator = memory_allocator(cfg)
    tick = tick_interval(cfg)
    results = []
    try:
        with collected_logs() as logs:
            for n, (start, end) in enumerate(request.windows):
                seed = request.seed + n
                duration = (end - start).total_seconds()
                scenario = random_scenario(seed, duration) if request.faults \
                    else Scenario(seed=seed)
                sky = weather if weather is not None else weather_for(cfg, request.weather,
                                                                       seed)
                setup = NightSetup(start, end, sky, scenario, request.replay, tick,
                                   request.exact, request.check_events)
                result = run_night(cfg, setup, copy, allocator)
                result.log = logs.take()
                results.append(result)
                copy.write()
                if progress is not None:
                    progress.update(n + 1, 1)
    finally:
        allocator.close()
        if progress is not None:
            progress.close()
    return results


def simulate(cfg: Config, clock: Clock, *, night: str | None = None,
             start: str | None = None, end: str | None = None, nights: int = 1,
             weather: str | None = None, seed: int = 1, faults: bool = False,
             shots: Path | None = None, save_shots: Path | None = None,
             replay: Path | None = None, as_json: bool = False, plot: Path | None = None,
             out: TextIO | None = None, exact: bool = False) -> int:
    """``ocd simulate``: run, print, draw; the exit status is 1 when a night broke one of
    OCD's rules (the report says which, and how to replay it)."""
    out = sys.stdout if out is None else out
    stretches = windows(clock, night=night, start=start, end=end, nights=nights)
    kind = weather or cfg.get_str("sim_tcs", "weather")
    request = Request(stretches, kind, seed, faults, replay,
                      again(stretches, kind, seed, faults, replay, shots, exact), exact)
    weather_for(cfg, request.weather, seed)  # a bad --weather stops before anything runs
    if plot is not None:
        check_png(plot)
    if replay is not None:
        check_recording(replay)
    store = read_shots(cfg, shots)
    say_lacking_inputs(cfg, store, "simulate")
    began = time.perf_counter()
    progress = Progress(len(request.windows), label="simulate", unit="nights") \
        if len(request.windows) > 1 else None
    results = simulate_nights(cfg, request, store, save_shots, progress)
    wall = time.perf_counter() - began
    if as_json:
        document = results_document(results, request_line(request), wall)
        print(json.dumps(document, indent=2), file=out)
    else:
        for result in results:
            print(printable_lines(render_night(result, request_line(request))), file=out)
        print(printable_lines(render_totals(results, wall, save_shots)), file=out)
    if plot is not None:
        from ocd.app.simulation.plot import plot_nights

        for path in plot_nights(results, plot, run_limits(cfg)):
            print(f"ocd simulate: drew {path}", file=sys.stderr)
    broken = [r for r in results if not r.ok]
    if broken:
        first = broken[0]
        raise OcdError(f"{len(broken)} night(s) broke OCD's rules (listed above), the first "
                       f"from {first.setup.start:%Y-%m-%d %H:%M} UTC; simulate them again with: "
                       f"{request.command}")
    return 0


def check_recording(path: Path) -> None:
    """``--replay``: a recording with TCS events (checked before anything runs)."""
    conn = open_for_replay(path)
    try:
        found = conn.execute("SELECT 1 FROM events WHERE topic NOT LIKE 'ocd.%' LIMIT 1")
        if found.fetchone() is None:
            raise OcdError(f"{path}: no TCS event to replay (only ocd.* topics)")
    finally:
        conn.close()


def run_limits(cfg: Config) -> tuple[float, float]:
    """``[run] max_seeing`` and ``min_transparency``, for the plot."""
    return cfg.get_float("run", "max_seeing"), cfg.get_float("run", "min_transparency")


def request_line(request: Request) -> str:
    """How the nights were made, in one line."""
    if request.replay is not None:
        parts = [f"TCS and weather replayed from {request.replay}", f"seed {request.seed}"]
    else:
        parts = [f"weather {request.weather}", f"seed {request.seed}"]
    if request.faults:
        parts.append("random faults")
    if request.exact and request.replay is None:
        parts.append("tick by tick")
    return ", ".join(parts)


def again(stretches: list[tuple[dt.datetime, dt.datetime]], weather: str, seed: int,
          faults: bool, replay: Path | None, shots: Path | None, exact: bool = False) -> str:
    """The command line that simulates the same nights again (night by night the same
    seeds, from the same shot list)."""
    first, last = stretches[0]
    if len(stretches) == 1:
        words = ["ocd simulate", "--from", f"{first:%Y-%m-%dT%H:%M:%S}", "--to",
                 f"{last:%Y-%m-%dT%H:%M:%S}"]
    else:
        words = ["ocd simulate", "--night", night_date(first).isoformat(), "--nights",
                 str(len(stretches))]
    words += ["--weather", weather, "--seed", str(seed)]
    if faults:
        words.append("--faults")
    if replay is not None:
        words += ["--replay", str(replay)]
    if shots is not None:
        words += ["--shots", str(shots)]
    if exact:
        words.append("--exact")
    return " ".join(words)


def simulate_season(cfg: Config, *, first: str, last: str, runs: int = 1, seed: int = 1,
                    shots: Path | None = None, as_json: bool = False,
                    plot: Path | None = None, exact: bool = False,
                    out: TextIO | None = None) -> int:
    """``ocd simulate --from-date --to-date``: the season forecast (:mod:`.season`), printed
    or as JSON, drawn with ``--plot``; exit status 1 when a night broke a rule."""
    from ocd.app.simulation.season import (
        check_season,
        climate_from_config,
        forecast,
        render,
        run_season,
    )

    out = sys.stdout if out is None else out
    dates = check_season(_date("--from-date", first), _date("--to-date", last), runs,
                         MAX_NIGHTS)
    climate = climate_from_config(cfg)
    if plot is not None:
        check_png(plot)
    store = read_shots(cfg, shots)
    say_lacking_inputs(cfg, store, "simulate")
    progress = Progress(runs * len(dates), label="season", unit="nights")
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        progress.update(done, 1)

    try:
        results = [run_season(cfg, store, dates, climate, seed + n, tick_interval(cfg),
                              exact, step) for n in range(runs)]
    finally:
        progress.close()
    document = forecast(store, dates, results)
    if as_json:
        print(json.dumps(document, indent=2), file=out)
    else:
        print(printable_lines("\n".join(render(document))), file=out)
    if plot is not None:
        from ocd.app.simulation.plot import plot_season

        plot_season(document, plot)
        print(f"ocd simulate: drew {plot}", file=sys.stderr)
    if document["broken"]:
        raise OcdError(f"{len(document['broken'])} rule(s) broken in the season (listed above)")
    return 0


def _date(option: str, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected a date like 2017-12-01 (the local "
                         "date of a night's evening at HET)") from None
