"""How fast the built-in scheduler chooses among many shots, against astropy in the same run.

Baseline: one astropy ``AltAz`` transform of the same coordinates at the same time (what any
scheduler built on astropy would pay at least once per decision). Measured: ``choose()`` at one
time, from a list of ``Shot`` objects (the plain API), from a fresh ``ShotTable``, and from the
store's cached table (what the main loop passes), computing every shot's windows each time as
a night's first decision does, and keeping them as the night's later ones do. Target: ratio
<= 1.

    python bench/schedule_speed.py [--shots 10000] [--repeat 30] [--seed 1]

Prints the median and best times of each and the ratios. Results go in doc/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocd.shots.model import Shot, ShotTable  # noqa: E402
from ocd.sky import het, scheduler  # noqa: E402
from ocd.sky.scheduler import ScheduleResult, choose, table_vectors  # noqa: E402

WHEN = dt.datetime(2017, 11, 19, 6, 0, tzinfo=dt.timezone.utc)


def random_shots(count: int, seed: int) -> list[Shot]:
    """HETDEX-like rows spread over the whole sky HET can and cannot reach."""
    rng = np.random.default_rng(seed)
    ra = rng.uniform(0, 24, count)
    dec = rng.uniform(-20, 85, count)
    track = rng.integers(0, 3, count)
    priority = rng.integers(1, 5, count)
    n_obs = rng.integers(0, 4, count)
    forced = rng.random(count) < 0.05
    azimuth = rng.uniform(0, 360, count)
    return [Shot(f"DEX{i:06d}", float(ra[i]), float(dec[i]), int(track[i]), int(priority[i]),
                 int(n_obs[i]), float(azimuth[i]) if forced[i] else None, i, "HET18-2-100",
                 f"OBJ{i}", "000", "00:00:00.00", "+00:00:00.00", 2000.0, 0.0, 0.0, 2000.0)
            for i in range(count)]


def timed(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and best wall time of ``action`` in seconds, after one warm-up call."""
    action()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    het.no_iers_download()
    import astropy
    import astropy.units as u
    from astropy.coordinates import AltAz, EarthLocation, SkyCoord
    from astropy.time import Time

    shots = random_shots(args.shots, args.seed)
    cached = ShotTable.from_shots(shots)
    table_vectors(cached)  # computed once, as for the store's cached table
    site = EarthLocation(lon=het.LONGITUDE * u.deg, lat=het.LATITUDE * u.deg,
                         height=het.ELEVATION * u.m)
    coords = SkyCoord(cached.ra * 15 * u.deg, cached.dec * u.deg, frame="icrs")
    ticks = itertools.count()

    def moment() -> dt.datetime:
        """A new time for every call (a second apart), so that no cache keyed on the time
        helps either side: the main loop never asks twice for the same instant."""
        return WHEN + dt.timedelta(seconds=next(ticks))

    def afresh(shots: list[Shot] | ShotTable) -> ScheduleResult:
        """A decision that computes every shot's windows, as the first of a night does (the
        scheduler keeps them for the night, by the shots' places: the row "windows of the
        night kept" shows what a later decision costs)."""
        scheduler._WINDOWS.clear()
        return choose(shots, moment())

    def baseline() -> object:
        return coords.transform_to(AltAz(obstime=Time(moment()), location=site))

    runs = {
        "astropy AltAz transform (baseline)": baseline,
        "choose(list of Shot)": lambda: afresh(shots).choice,
        "choose(fresh ShotTable)": lambda: afresh(ShotTable(
            cached.shots, cached.ra, cached.dec, cached.track, cached.priority, cached.n_obs,
            cached.forced_az)).choice,
        "choose(cached ShotTable)": lambda: afresh(cached).choice,
        "the same, windows of the night kept": lambda: choose(cached, moment()).choice,
        "choose + build every Candidate": lambda: len(afresh(cached).candidates),
        "ShotTable.from_shots alone": lambda: ShotTable.from_shots(shots),
    }
    result = choose(shots, WHEN)
    print(f"schedule_speed: {args.shots} random shots at {WHEN.isoformat()}, "
          f"median and best of {args.repeat}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, astropy "
          f"{astropy.__version__}, {platform.machine()}")
    print(f"choice: {result.reason if result.choice is None else result.choice.shotid}, "
          f"{sum(c.observable for c in result.candidates)} observable of "
          f"{len(result.candidates)} candidates")
    measured = {name: timed(action, args.repeat) for name, action in runs.items()}
    base = measured["astropy AltAz transform (baseline)"][0]
    print(f"{'':36s} {'median ms':>10s} {'best ms':>9s} {'ratio':>7s}")
    for name, (median, best) in measured.items():
        print(f"{name:36s} {median * 1e3:10.2f} {best * 1e3:9.2f} {median / base:7.2f}")
    for name, label in (("choose(cached ShotTable)", "main-loop path (the store's table)"),
                        ("choose(list of Shot)", "plain list of Shot, converted each call")):
        ratio = measured[name][0] / base
        print(f"ratio {label} / astropy AltAz = {ratio:.2f} (target <= 1): "
              f"{'met' if ratio <= 1 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
