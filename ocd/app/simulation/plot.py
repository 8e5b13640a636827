"""A simulated night drawn (``--plot``): where the time went, the sky's conditions, and where
the shots were on the sky.

Four panels on one PNG (matplotlib's Agg renderer, no display needed):

- the timeline: each shot a bar on its track's row (East, West; by hand below), coloured by
  outcome, and the idle stretches on a row of their own coloured by reason, over the
  twilight (shaded) and the dark time (white);
- the seeing and transparency the guiders reported, with ``[run]``'s limits;
- a sky chart of the shot list in right ascension and declination: the shots completed that
  night by track, the others hollow, over the band of declinations HET reaches;
- the night's hours: exposing, the rest of the shots' time, and idle by reason.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter, HourLocator
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ocd.app.simulation.night import NightResult
from ocd.app.simulation.report import check_png
from ocd.core.events import RUNNING
from ocd.errors import OcdError, printable
from ocd.monitor.timeline import IDLE_REASONS
from ocd.sky import het

OUTCOME_COLOURS = {"completed": "#2e7d32", "failed": "#c62828", "aborted": "#ef6c00",
                   "interrupted": "#757575", "running": "#757575"}
IDLE_COLOURS = dict(zip(IDLE_REASONS, ("#9fa8da", "#ffe082", "#80deea", "#616161",
                                       "#ce93d8", "#f48fb1", "#a5d6a7", "#bdbdbd"),
                        strict=True))
TWILIGHT = "#e8eaf6"
_HHMM = DateFormatter("%H:%M")  # type: ignore[no-untyped-call]
_HOURS = HourLocator(interval=1)  # type: ignore[no-untyped-call]
#: Rows of the timeline, top to bottom.
ROWS = ("East track", "West track", "by hand", "idle")


def _dates(seconds: Any) -> Any:
    """Unix seconds -> matplotlib's date numbers (days since 1970)."""
    return np.asarray(seconds, dtype=float) / 86400.0


def _shade_twilight(ax: Any, start: float, end: float) -> None:
    """Shade where the Sun is above the dark-time limit (twilight and day)."""
    times = np.linspace(start, end, 200)
    altitudes = np.array([het.sun_altitude(float(t)) for t in times])
    ax.fill_between(_dates(times), 0, 1, where=altitudes > -18.0, color=TWILIGHT,
                    transform=ax.get_xaxis_transform(), linewidth=0, label="twilight")


def _timeline(ax: Any, result: NightResult) -> None:
    report = result.report
    _shade_twilight(ax, report.start, report.end)
    for shot in report.shots:
        row = 2 if shot.by_hand else (0 if shot.track == "E" else 1)
        end = shot.end if shot.end is not None else report.end
        ax.barh(row, _dates(end - shot.start) - 0, left=_dates(shot.start), height=0.6,
                color=OUTCOME_COLOURS.get(shot.outcome, "#757575"), edgecolor="white",
                linewidth=0.5)
        # a shot id is text from outside (a shot file, a recording): drawn as written, its
        # control characters escaped and a "$" never read as mathtext
        ax.text(_dates((shot.start + end) / 2), row - 0.38, printable(shot.shotid),
                ha="center", va="bottom", fontsize=6, rotation=90, color="#212121",
                parse_math=False)
    for period in report.idle:
        ax.barh(3, _dates(period.seconds), left=_dates(period.start), height=0.6,
                color=IDLE_COLOURS.get(period.reason, "#e0e0e0"), linewidth=0)
    ax.set_yticks(range(len(ROWS)), ROWS)
    ax.set_ylim(len(ROWS) - 0.4, -0.9)
    ax.set_xlim(_dates(report.start), _dates(report.end))
    ax.xaxis.set_major_locator(_HOURS)
    ax.xaxis.set_major_formatter(_HHMM)
    ax.set_xlabel("UTC")
    reasons = [r for r in IDLE_REASONS if any(p.reason == r for p in report.idle)]
    handles = [Patch(color=c, label=o) for o, c in OUTCOME_COLOURS.items()
               if o != RUNNING and any(s.outcome == o for s in report.shots)]
    handles += [Patch(color=IDLE_COLOURS[r], label=f"idle: {r}") for r in reasons]
    handles.append(Patch(color=TWILIGHT, label="twilight (sun above the dark limit)"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=5,
              fontsize=7, frameon=False)
    ax.set_title("shots by track and idle time: what OCD did and why", fontsize=10)


def _conditions(ax: Any, result: NightResult, limits: tuple[float, float]) -> None:
    report = result.report
    _shade_twilight(ax, report.start, report.end)
    readings = report.metrology
    if readings:
        times = _dates([r[0] for r in readings])
        seeing = [np.nan if r[1] is None else r[1] for r in readings]
        transparency = [np.nan if r[2] is None else r[2] for r in readings]
        ax.plot(times, seeing, color="#1565c0", linewidth=0.5, alpha=0.8)
        right = ax.twinx()
        right.plot(times, transparency, color="#ef6c00", linewidth=0.5, alpha=0.8)
        right.axhline(limits[1], color="#ef6c00", linestyle="--", linewidth=0.8)
        right.set_ylim(0, 1.1)
        right.set_ylabel("transparency", color="#ef6c00")
    ax.axhline(limits[0], color="#1565c0", linestyle="--", linewidth=0.8)
    ax.set_ylim(0, max(4.0, limits[0] + 0.5))
    ax.set_ylabel("seeing (arcsec)", color="#1565c0")
    ax.set_xlim(_dates(report.start), _dates(report.end))
    ax.xaxis.set_major_locator(_HOURS)
    ax.xaxis.set_major_formatter(_HHMM)
    ax.set_title("guider conditions (dashed: [run] max_seeing and min_transparency)",
                 fontsize=10)


def _sky(ax: Any, result: NightResult) -> None:
    """Right ascension and declination of every shot of the list: those observed filled (by
    track), the others hollow; the band of declinations HET reaches shaded."""
    observed: dict[str, str] = {}
    visits: dict[str, int] = {}
    for shot in result.report.shots:
        if shot.outcome == "completed":
            observed.setdefault(shot.shotid, shot.track)
            visits[shot.shotid] = visits.get(shot.shotid, 0) + 1
    ax.axhspan(het.DEC_MIN, het.DEC_MAX, color="#f5f5f5", zorder=0)
    rest = [(ra, dec) for shotid, (ra, dec) in result.positions.items()
            if shotid not in observed]
    if rest:
        ax.scatter([r[0] for r in rest], [r[1] for r in rest], s=18, facecolors="none",
                   edgecolors="#9e9e9e", label="not observed")
    for track, colour, name in (("E", "#1565c0", "observed, East track"),
                                ("W", "#6a1b9a", "observed, West track")):
        points = [(result.positions[s], s) for s, t in observed.items()
                  if t == track and s in result.positions]
        if points:
            ax.scatter([p[0][0] for p in points], [p[0][1] for p in points],
                       s=[24 * visits[p[1]] for p in points], color=colour, alpha=0.8,
                       label=name)
    ax.set_xlim(24, 0)  # right ascension grows eastward, to the left
    ax.set_ylim(het.DEC_MIN - 10, het.DEC_MAX + 10)
    ax.set_xticks(range(0, 25, 3))
    ax.set_xlabel("right ascension (hours)")
    ax.set_ylabel("declination (deg)")
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("the shot list on the sky (larger: more visits that night; shaded: the "
                 "declinations HET reaches)", fontsize=9)


def _hours(ax: Any, result: NightResult) -> None:
    report = result.report
    exposing = report.exposure_seconds
    shots = sum(((s.end or report.end) - s.start) for s in report.shots)
    parts = [("exposing", exposing, OUTCOME_COLOURS["completed"]),
             ("shots, not exposing", max(0.0, shots - exposing), "#81c784")]
    parts += [(f"idle: {reason}", seconds, IDLE_COLOURS[reason])
              for reason, seconds in report.idle_by_reason().items() if seconds >= 60]
    names = [p[0] for p in parts]
    hours = [p[1] / 3600.0 for p in parts]
    ax.barh(range(len(parts)), hours, color=[p[2] for p in parts])
    ax.set_yticks(range(len(parts)), names, fontsize=8)
    ax.invert_yaxis()
    for i, value in enumerate(hours):
        said = f" {value:.1f} h" if value >= 0.1 else f" {value * 60:.0f} min"
        ax.text(value, i, said, va="center", fontsize=7)
    ax.set_xlabel("hours")
    dark = report.dark_seconds / 3600.0
    ax.set_title(f"the night's time: {report.count('completed')} shots completed, "
                 f"{exposing / 3600:.1f} h exposing of {dark:.1f} h dark", fontsize=10)


def draw_night(result: NightResult, path: Path, limits: tuple[float, float],
               title: str = "") -> Path:
    """One PNG of one night."""
    figure = Figure(figsize=(12, 9), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(3, 2, height_ratios=[1.2, 0.8, 1.2])
    _timeline(figure.add_subplot(grid[0, :]), result)
    _conditions(figure.add_subplot(grid[1, :]), result, limits)
    _sky(figure.add_subplot(grid[2, 0]), result)
    _hours(figure.add_subplot(grid[2, 1]), result)
    setup = result.setup
    figure.suptitle(title or f"simulated night {setup.start:%Y-%m-%d %H:%M} to "
                             f"{setup.end:%Y-%m-%d %H:%M} UTC (weather {setup.weather.kind}, "
                             f"seed {setup.weather.seed})", fontsize=12)
    try:
        figure.savefig(path)
    except OSError as exc:
        raise OcdError(f"{path}: cannot write the plot: {exc.strerror}") from None
    return path


def plot_nights(results: list[NightResult], path: Path,
                limits: tuple[float, float] = (3.0, 0.5)) -> list[Path]:
    """``path`` for one night; ``STEM-DATE.png`` beside it for each of several (``limits``:
    ``[run] max_seeing`` and ``min_transparency``)."""
    check_png(path)
    if len(results) == 1:
        return [draw_night(results[0], path, limits)]
    drawn = []
    for result in results:
        day = dt.datetime.fromtimestamp(result.report.start, dt.timezone.utc)
        drawn.append(draw_night(result, path.with_name(f"{path.stem}-{day:%Y-%m-%d}.png"),
                                limits))
    return drawn


#: Colours of the causes of a season's dark hours (the idle reasons' and two of its own).
SEASON_COLOURS = {**IDLE_COLOURS, "exposing": "#2e7d32", "weather (closed night)": "#455a64"}


def plot_season(document: dict[str, Any], path: Path) -> Path:
    """A season forecast (:func:`ocd.app.simulation.season.forecast`) on one PNG: the visits
    completed night after night (the median run, and the range of the runs), the dark hours
    by cause, and the visits expected per field against those left."""
    check_png(path)
    first = dt.date.fromisoformat(document["from"])
    epoch = dt.date(1970, 1, 1)
    days = np.arange(document["nights"], dtype=float) + (first - epoch).days  # date numbers
    curves = np.array(document["cumulative"], dtype=float)
    figure = Figure(figsize=(11, 7.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(2, 2, height_ratios=(1.3, 1))
    ax = figure.add_subplot(grid[0, :])
    ax.fill_between(days, curves.min(axis=0), curves.max(axis=0), color="#c5e1a5",
                    label=f"range of {len(curves)} run(s)")
    ax.plot(days, np.median(curves, axis=0), color="#2e7d32", label="median run")
    ax.axhline(document["visits_left"], color="#424242", linestyle="--",
               label=f"visits left at the start ({document['visits_left']})")
    completion = document["completion"]
    if completion["runs_completed"]:
        ax.axvline((dt.date.fromisoformat(completion["median"]) - epoch).days, color="#1565c0",
                   linestyle=":", label=f"list completed (median, {completion['median']})")
    ax.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
    ax.set_ylabel("visits completed")
    ax.set_title(printable(f"season forecast {document['from']} to {document['to']}: "
                           f"{document['visits']['mean']:.1f} visits expected, "
                           f"{completion['runs_completed']} of {completion['runs']} run(s) "
                           "complete the list"))
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    hours = figure.add_subplot(grid[1, 0])
    causes = list(document["dark_hours"])
    means = [document["dark_hours"][c]["mean"] for c in causes]
    low = [m - document["dark_hours"][c]["min"] for c, m in zip(causes, means, strict=True)]
    high = [document["dark_hours"][c]["max"] - m for c, m in zip(causes, means, strict=True)]
    hours.barh(range(len(causes)), means, xerr=[low, high],
               color=[SEASON_COLOURS.get(c, "#9e9e9e") for c in causes])
    hours.set_yticks(range(len(causes)), [printable(c) for c in causes])
    hours.set_xlabel("dark hours (mean; bars: the runs' range)")
    hours.invert_yaxis()
    fields = figure.add_subplot(grid[1, 1])
    names = list(document["fields"])
    expected = [document["fields"][n]["mean"] for n in names]
    left = [document["fields"][n]["left"] for n in names]
    positions = np.arange(len(names))
    fields.bar(positions - 0.2, left, 0.4, color="#bdbdbd", label="visits left")
    fields.bar(positions + 0.2, expected, 0.4, color="#2e7d32", label="expected")
    fields.set_xticks(positions, [printable(n) for n in names])
    fields.set_ylabel("visits")
    fields.set_title("by field", fontsize="medium")
    fields.legend(fontsize="small")
    try:
        figure.savefig(path)
    except OSError as exc:
        raise OcdError(f"{path}: cannot write the plot: {exc.strerror}") from None
    return path
