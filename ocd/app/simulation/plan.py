"""``ocd plan``: tonight's expected sequence, from now (or ``--at``) to morning twilight.

The same simulation as ``ocd simulate`` (:class:`~ocd.app.simulation.night.SimulatedNight`:
``ocd run``'s engine and core in virtual time), of one stretch: from now to the end of the dark
time, HETDEX shots allowed from the start, the TCS up, under steady conditions:

1. ``--seeing`` and ``--transparency`` when given;
2. else what a running ``ocd run`` last measured (the seeing and transparency of its
   ``ocd.main_loop.status``, awaited a few seconds), when one runs on the bus and its guiders
   have a fresh reading;
3. else ``[sim_tcs] seeing`` and ``transparency``.

The shot list is the current one ([shots] shot_file), read, never changed. Observation numbers
are not shown: the database gives them when the shots run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import zmq.asyncio

from ocd.app.simulation.calendar import morning_twilight
from ocd.app.simulation.night import NightResult
from ocd.app.simulation.report import check_png, render_night, results_document
from ocd.app.simulation.simulate import (
    Request,
    parse_when,
    read_shots,
    run_limits,
    say_lacking_inputs,
    simulate_nights,
    tick_interval,
)
from ocd.bus import (
    Subscriber,
    bus_options,
    find_service,
    security_from_config,
    service_urls,
    sources_of,
)
from ocd.config import Config
from ocd.core import topics
from ocd.core.events import MainStatus, decode
from ocd.errors import UsageError, printable_lines
from ocd.shell.clock_source import choose_clock_now
from ocd.shots.store import ShotStore
from ocd.tcs.sim.weather import Weather

#: Real seconds ``ocd plan`` waits for a running main loop's status (it comes with every TCS
#: heartbeat, or every ``[run] status_interval`` without one).
STATUS_WAIT = 3.0


async def _bus_conditions(cfg: Config) -> tuple[float | None, float | None, str] | None:
    """The seeing and transparency a running ``ocd run`` last published, and where they come
    from; None when no main loop answers or says nothing in time."""
    ctx = zmq.asyncio.Context()
    try:
        urls = service_urls(cfg, "ocd_main_loop")
        found = await find_service(ctx, urls, "ocd_main_loop", options=bus_options(cfg),
                           security=security_from_config(cfg))
        if found is None:
            return None
        subscriber = Subscriber.from_config(ctx, cfg, sources_of(cfg, ["ocd_main_loop"]),
                                            [topics.MAIN_STATUS])
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + STATUS_WAIT
            while (left := deadline - loop.time()) > 0:
                try:
                    event = await subscriber.recv(timeout=left)
                except TimeoutError:
                    return None
                status = decode(event.topic, event.payload)
                if isinstance(status, MainStatus):
                    return (status.seeing, status.transparency,
                            f"the status of the ocd run of {found.describe()}")
            return None
        finally:
            subscriber.close()
    finally:
        ctx.destroy(linger=0)


def conditions(cfg: Config, seeing: float | None, transparency: float | None
               ) -> tuple[float, float, str]:
    """The seeing and transparency the plan assumes all night, and why those."""
    if seeing is not None and not 0 < seeing <= 20:
        raise UsageError(f"--seeing {seeing:g}: give arcseconds, above 0 and at most 20")
    if transparency is not None and not 0 <= transparency <= 1.5:
        raise UsageError(f"--transparency {transparency:g}: give a fraction from 0 to 1.5")
    said: list[str] = []
    if seeing is None or transparency is None:
        found = asyncio.run(_bus_conditions(cfg))
        if found is not None:
            bus_seeing, bus_transparency, source = found
            if seeing is None and bus_seeing is not None:
                seeing = bus_seeing
                said.append(f"seeing from {source}")
            if transparency is None and bus_transparency is not None:
                transparency = bus_transparency
                said.append(f"transparency from {source}")
    if seeing is None:
        seeing = cfg.get_float("sim_tcs", "seeing")
        said.append("seeing from [sim_tcs] seeing")
    if transparency is None:
        transparency = cfg.get_float("sim_tcs", "transparency")
        said.append("transparency from [sim_tcs] transparency")
    return seeing, transparency, "; ".join(said) or "as given"


def plan_end(cfg: Config, start: dt.datetime) -> dt.datetime | None:
    """The end of the stretch a plan from ``start`` covers (morning twilight); None when the
    night is over (a minute or less left)."""
    end = morning_twilight(start, cfg.get_float("schedule", "sun_altitude"))
    return None if end <= start + dt.timedelta(minutes=1) else end


def expected_night(cfg: Config, store: ShotStore, start: dt.datetime, end: dt.datetime,
                   seeing: float, transparency: float) -> NightResult:
    """The night OCD expects from ``start`` to ``end`` under steady ``seeing`` and
    ``transparency``, HETDEX allowed and the TCS up: what ``ocd plan`` prints and the board
    shows as "next" (one code for both, so they never disagree). ``store`` is read, never
    changed."""
    weather = Weather("steady", seeing=seeing, transparency=transparency)
    request = Request([(start, end)], "steady", 1)
    return simulate_nights(cfg, request, store, weather=weather)[0]


def expected_shots(result: NightResult) -> list[dict[str, Any]]:
    """The shots of an expected night in time order, JSON-ready: shot id, track, expected
    start and end (Unix seconds), and where the shot is (RA hours, Dec degrees)."""
    shots = sorted(result.report.shots, key=lambda s: s.start)
    return [{"shotid": s.shotid, "track": s.track, "start": s.start, "end": s.end,
             "ra": s.ra, "dec": s.dec} for s in shots]


def plan(cfg: Config, *, at: str | None = None, seeing: float | None = None,
         transparency: float | None = None, shots: Path | None = None,
         as_json: bool = False, plot: Path | None = None, out: TextIO | None = None) -> int:
    """``ocd plan``: simulate from now (or ``at``) to morning twilight and print the
    sequence."""
    out = sys.stdout if out is None else out
    if at is not None:
        start = parse_when("--at", at)
        source = "--at"
    else:
        clock = choose_clock_now(cfg).clock  # a running main loop's mock clock, if any
        start = clock.utc().replace(microsecond=0)
        source = "OCD's mock clock" if clock.is_mock else "now"
    end = plan_end(cfg, start)
    if end is None:
        raise UsageError(f"{start:%Y-%m-%d %H:%M} UTC is at the very end of the night: "
                         "nothing to plan")
    tick_interval(cfg)
    if plot is not None:
        check_png(plot)
    seeing_now, transparency_now, why = conditions(cfg, seeing, transparency)
    store = read_shots(cfg, shots)
    say_lacking_inputs(cfg, store, "plan")
    result = expected_night(cfg, store, start, end, seeing_now, transparency_now)
    results = [result]
    how = (f"tonight's plan from {start:%H:%M} ({source}) to morning twilight at {end:%H:%M} "
           f"UTC, seeing {seeing_now:.2f}\" and transparency {transparency_now:.2f} all night "
           f"({why}), HETDEX shots allowed, the TCS up")
    if as_json:
        document = results_document(results, how, 0.0)
        print(json.dumps(document, indent=2), file=out)
    else:
        print(printable_lines(render_night(result, how, plan=True)), file=out)
    if plot is not None:
        from ocd.app.simulation.plot import plot_nights

        for path in plot_nights(results, plot, run_limits(cfg)):
            print(f"ocd plan: drew {path}", file=sys.stderr)
    return 0

