"""Season forecasts (``ocd simulate --from-date --to-date``): every night of a stretch of
dates in order, the shot list carried over, the weather drawn from the site's climate
(``[climate]``), repeated over ``--runs`` seeds; what to expect of the list.

A night is open or closed whole: open with the month's probability of a usable night, then
steady all night at a seeing and transparency drawn for it (the seeing log-normal around the
month's median); a closed night is dark time lost to the weather, not simulated. Open nights
run event-driven through ``ocd run``'s engine like any ``ocd simulate`` night, the RA
allowing HETDEX shots at sunset.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ocd.app.simulation.calendar import night_of
from ocd.app.simulation.night import NightSetup, collected_logs, memory_allocator, run_night
from ocd.app.simulation.scenario import Scenario
from ocd.config import Config
from ocd.errors import UsageError
from ocd.monitor.timeline import TWILIGHT
from ocd.shots.book import ShotCopy
from ocd.shots.store import ShotStore
from ocd.sky import het
from ocd.tcs.sim.weather import Weather

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
#: Most seeds one forecast runs.
MAX_RUNS = 100
#: Why dark time went without a shot, beside the idle reasons of a night.
WEATHER = "weather (closed night)"
#: Standard deviation of an open night's transparency around the month's mean.
TRANSPARENCY_SPREAD = 0.05


@dataclass(frozen=True)
class Climate:
    """The site's weather by month (index 0: January)."""

    usable: tuple[float, ...]
    seeing: tuple[float, ...]
    seeing_spread: float
    transparency: tuple[float, ...]

    def sky(self, date: dt.date, seed: int) -> tuple[float, float] | None:
        """The night of ``date`` (local evening at HET) in run ``seed``: its seeing and
        transparency, or None when it is closed."""
        month = date.month - 1
        draw = random.Random(f"ocd-climate-{seed}-{date.isoformat()}")
        if draw.random() >= self.usable[month]:
            return None
        seeing = self.seeing[month] * math.exp(draw.gauss(0.0, self.seeing_spread))
        transparency = draw.gauss(self.transparency[month], TRANSPARENCY_SPREAD)
        return round(min(6.0, max(0.4, seeing)), 3), round(min(1.0, max(0.05, transparency)), 3)


def _months(cfg: Config, option: str, low: float, high: float) -> tuple[float, ...]:
    """Twelve numbers from ``low`` to ``high``, one per month, from a ``[climate]`` list."""
    items = cfg.get_list("climate", option)
    raw = ", ".join(items)
    if len(items) != 12:
        raise cfg.error("climate", option, raw, f"expected 12 numbers, one per month "
                                                f"from January, not {len(items)}")
    values = []
    for month, item in zip(MONTHS, items, strict=True):
        try:
            value = float(item)
        except ValueError:
            raise cfg.error("climate", option, raw, f"{month}: {item!r} is not a number") \
                from None
        if not (math.isfinite(value) and low <= value <= high):
            raise cfg.error("climate", option, raw, f"{month}: {item} is not within "
                                                    f"{low:g} to {high:g}")
        values.append(value)
    return tuple(values)


def climate_from_config(cfg: Config) -> Climate:
    """``[climate]``, each month's figure checked against its range."""
    return Climate(usable=_months(cfg, "usable_nights", 0.0, 1.0),
                   seeing=_months(cfg, "seeing", 0.3, 6.0),
                   seeing_spread=cfg.get_float("climate", "seeing_spread"),
                   transparency=_months(cfg, "transparency", 0.05, 1.0))


@dataclass
class SeasonRun:
    """One run of the season (one seed)."""

    seed: int
    visits: Counter[str] = field(default_factory=Counter)
    #: Dark hours by what they went to: ``exposing``, the idle reasons, the weather.
    hours: dict[str, float] = field(default_factory=dict)
    open_nights: int = 0
    closed_nights: int = 0
    #: The night (local date) after which no shot of the list had a visit left.
    completed_on: dt.date | None = None
    broken: list[str] = field(default_factory=list)
    #: Visits completed so far, after each night.
    so_far: list[int] = field(default_factory=list)


def _add(hours: dict[str, float], cause: str, value: float) -> None:
    hours[cause] = hours.get(cause, 0.0) + value


def _dark_hours(start: dt.datetime, sun_limit: float) -> float:
    begin, end = het.dark_interval(start, sun_limit)
    return (end - begin) / 3600.0


def run_season(cfg: Config, store: ShotStore, dates: list[dt.date], climate: Climate,
               seed: int, tick: float, exact: bool = False,
               step: Callable[[], None] | None = None) -> SeasonRun:
    """Every night of ``dates`` in order on one copy of the list (``step`` after each)."""
    run = SeasonRun(seed)
    copy = ShotCopy(ShotStore.from_text(store.text(), store.source))  # each run from the start
    allocator = memory_allocator(cfg)
    sun_limit = cfg.get_float("schedule", "sun_altitude")
    try:
        with collected_logs() as logs:
            for date in dates:
                if run.completed_on is None:
                    _one_night(cfg, run, copy, allocator, climate, date, tick, exact,
                               sun_limit)
                    logs.take()
                run.so_far.append(sum(run.visits.values()))
                if step is not None:
                    step()
    finally:
        allocator.close()
    return run


def _one_night(cfg: Config, run: SeasonRun, copy: ShotCopy, allocator: Any,
               climate: Climate, date: dt.date, tick: float, exact: bool,
               sun_limit: float) -> None:
    start, end = night_of(date)
    sky = climate.sky(date, run.seed)
    if sky is None:
        run.closed_nights += 1
        _add(run.hours, WEATHER, _dark_hours(start, sun_limit))
    else:
        run.open_nights += 1
        weather = Weather("steady", seeing=sky[0], transparency=sky[1],
                          seed=hash((run.seed, date.toordinal())) & 0xFFFF)
        setup = NightSetup(start, end, weather, Scenario(seed=run.seed), tick=tick,
                           exact=exact)
        result = run_night(cfg, setup, copy, allocator)
        report = result.report
        _add(run.hours, "exposing", report.exposure_seconds / 3600.0)
        for reason, seconds in report.idle_by_reason().items():
            if reason != TWILIGHT and seconds:
                _add(run.hours, reason, _in_dark(report, reason))
        for shot in report.shots:
            if shot.outcome == "completed":
                run.visits[shot.shotid] += 1
        if not result.ok:
            run.broken += [f"{date}: {problem}" for problem in
                           [*result.violations, *result.failures]]
    if all(shot.n_obs <= 0 for shot in copy.store.all()):
        run.completed_on = date


def _in_dark(report: Any, reason: str) -> float:
    """Hours idle for ``reason`` within the dark time of the night."""
    if report.dark_start is None or report.dark_end is None:
        return 0.0
    total = 0.0
    for period in report.idle:
        if period.reason == reason:
            total += max(0.0, min(period.end, report.dark_end)
                         - max(period.start, report.dark_start))
    return total / 3600.0


def field_of(shot: Any) -> str:
    """A shot's field: the letters its QOBJECT begins with (HETDEX names its spring field
    ``HS...`` and its fall field ``HF...``), else its QPROG."""
    letters = ""
    for char in shot.qobject:
        if not char.isalpha():
            break
        letters += char
    return letters or shot.qprog


def _spread(values: list[float]) -> dict[str, float]:
    return {"mean": round(statistics.fmean(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def forecast(store: ShotStore, dates: list[dt.date], runs: list[SeasonRun]) -> dict[str, Any]:
    """What the runs say, as one document: visits per shot and per field, the completion
    date of the list, dark hours by cause, each with its spread over the runs."""
    shots = store.all()
    per_shot = {s.shotid: {"left": s.n_obs, **_spread([r.visits[s.shotid] for r in runs])}
                for s in shots}
    fields: dict[str, dict[str, Any]] = {}
    for name in sorted({field_of(s) for s in shots}):
        members = [s for s in shots if field_of(s) == name]
        fields[name] = {"shots": len(members), "left": sum(s.n_obs for s in members),
                        **_spread([sum(r.visits[s.shotid] for s in members) for r in runs])}
    causes = sorted({cause for r in runs for cause in r.hours})
    done = sorted(r.completed_on for r in runs if r.completed_on is not None)
    completion: dict[str, Any] = {"runs_completed": len(done), "runs": len(runs)}
    if done:
        completion.update(median=done[len(done) // 2].isoformat(),
                          earliest=done[0].isoformat(), latest=done[-1].isoformat())
    return {
        "from": dates[0].isoformat(), "to": dates[-1].isoformat(), "nights": len(dates),
        "seeds": [r.seed for r in runs],
        "visits_left": sum(s.n_obs for s in shots),
        "visits": _spread([sum(r.visits.values()) for r in runs]),
        "open_nights": _spread([r.open_nights for r in runs]),
        "closed_nights": _spread([r.closed_nights for r in runs]),
        "completion": completion,
        "dark_hours": {cause: _spread([r.hours.get(cause, 0.0) for r in runs])
                       for cause in causes},
        "fields": fields, "shots": per_shot,
        "broken": [problem for r in runs for problem in r.broken][:50],
        "cumulative": [r.so_far for r in runs],
    }


def render(document: dict[str, Any]) -> list[str]:
    """The forecast as text."""
    def spread(item: dict[str, float], digits: int = 1) -> str:
        return (f"{item['mean']:.{digits}f} (runs: {item['min']:.{digits}f} to "
                f"{item['max']:.{digits}f})")

    completion = document["completion"]
    lines = [f"season from {document['from']} to {document['to']}: {document['nights']} "
             f"nights, {len(document['seeds'])} run(s), seeds {document['seeds'][0]} to "
             f"{document['seeds'][-1]}",
             f"open nights: {spread(document['open_nights'])}; closed: "
             f"{spread(document['closed_nights'])}",
             f"visits: {spread(document['visits'])} of {document['visits_left']} left"]
    if completion["runs_completed"]:
        lines.append(f"list completed in {completion['runs_completed']} of "
                     f"{completion['runs']} run(s): on the night of {completion['median']} "
                     f"(median; earliest {completion['earliest']}, latest "
                     f"{completion['latest']})")
    else:
        lines.append(f"list not completed in any of the {completion['runs']} run(s)")
    lines.append("dark hours by cause (mean, and the runs' range):")
    for cause, item in document["dark_hours"].items():
        lines.append(f"  {cause:<24} {spread(item)}")
    lines.append("visits by field:")
    for name, item in document["fields"].items():
        lines.append(f"  {name:<8} {item['shots']:3d} shots  {spread(item)} of "
                     f"{item['left']} left")
    lines.append("visits by shot:")
    for shotid, item in document["shots"].items():
        lines.append(f"  {shotid:<10} {spread(item, 2)} of {item['left']} left")
    for problem in document["broken"]:
        lines.append(f"RULE BROKEN: {problem}")
    return lines


def check_season(first: dt.date, last: dt.date, runs: int, max_nights: int) -> list[dt.date]:
    """The nights from ``first`` to ``last`` (local evening dates, both included)."""
    if last < first:
        raise UsageError(f"--to-date {last} comes before --from-date {first}")
    nights = (last - first).days + 1
    if nights > max_nights:
        raise UsageError(f"--from-date {first} --to-date {last}: {nights} nights, at most "
                       f"{max_nights}")
    if not 1 <= runs <= MAX_RUNS:
        raise UsageError(f"--runs {runs}: give 1 to {MAX_RUNS}")
    return [first + dt.timedelta(days=n) for n in range(nights)]
