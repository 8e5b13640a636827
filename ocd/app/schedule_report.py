"""``ocd schedule``: what OCD would observe now (or at a given time), and why not the rest."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from ocd.clock import utc_to_jd
from ocd.config import Config, parse_time
from ocd.errors import UsageError, printable_lines
from ocd.shell.clock_source import choose_clock_now
from ocd.shots.store import load_shots
from ocd.sky.autoschedule import schedule_with_config
from ocd.sky.scheduler import Candidate, Conditions, ScheduleResult, span


def schedule_report(cfg: Config, *, at: str | None = None, shots: Path | None = None,
                    limit: int | None = 10, as_json: bool = False,
                    seeing: float | None = None, transparency: float | None = None) -> int:
    """``ocd schedule``: the choice and the candidates, as text or JSON."""
    clock = choose_clock_now(cfg).clock  # a running main loop's mock clock, if any
    when = None
    source = "mock clock" if clock.is_mock else "real clock"
    if at is not None:
        try:
            when = parse_time(at)
        except ValueError as exc:
            raise UsageError(f"--at {at!r}: {exc}") from None
        source = "--at"
    path = shots if shots is not None else cfg.get_path("shots", "shot_file")
    if path is None:
        raise cfg.error("shots", "shot_file", "", "a shot file is needed (or give --shots)")
    store = load_shots(path)
    conditions = Conditions(seeing=seeing, transparency=transparency)
    result = schedule_with_config(cfg, store, clock, conditions, when=when)
    if as_json:
        document = result.as_dict(limit)
        document["shot_file"] = str(path)
        document["clock"] = source
        print(json.dumps(document, indent=2))
    else:
        print(printable_lines(render(result, limit, source, path)))
    return 0


def _when(moment: dt.datetime | None, day: dt.date | None = None) -> str:
    if moment is None:
        return "-"
    if day is not None and moment.date() == day:
        return moment.strftime("%H:%M")
    return moment.strftime("%Y-%m-%d %H:%M")


def _value(value: float | None, unit: str, missing: str) -> str:
    return missing if value is None else f"{value:g}{unit}"


def _azimuth(candidate: Candidate) -> str:
    return "-" if candidate.azimuth is None else f"{candidate.azimuth:.1f}"


def render(result: ScheduleResult, limit: int | None, source: str, path: Path) -> str:
    """The human-readable report: header, choice, and a table of candidates."""
    settings, conditions = result.settings, result.conditions
    lines = [
        f"time        {result.when:%Y-%m-%d %H:%M:%S} UTC, JD {utc_to_jd(result.when):.5f} "
        f"({source})",
        f"shots       {path}",
        f"scheduler   {result.scheduler}"
        + (f" (fallback: {result.fallback})" if result.fallback else ""),
    ]
    if result.sun_altitude is not None:
        lines.append(f"sun         {result.sun_altitude:.1f} deg; dark time "
                     f"{_when(result.dark_start)} to {_when(result.dark_end)} UTC "
                     f"(sun below {settings.sun_altitude:g} deg)")
    lines.append(f"conditions  seeing {_value(conditions.seeing, ' arcsec', 'unknown')} "
                 f"(limit {_value(settings.max_seeing, ' arcsec', 'none')}), transparency "
                 f"{_value(conditions.transparency, '', 'unknown')} "
                 f"(limit {_value(settings.min_transparency, '', 'none')}); "
                 f"a shot needs {span(settings.shot_duration)}")
    choice = result.choice
    if choice is None:
        lines.append(f"choice      none: {result.reason}")
    else:
        lines.append(f"choice      {choice.shotid} {choice.track}, azimuth {_azimuth(choice)}, "
                     f"window {_when(choice.window_start)} to {_when(choice.window_end)} UTC: "
                     f"{choice.reason}")
    candidates = result.candidates
    shown = candidates if limit is None else candidates[:limit]
    lines.append("")
    if not shown:
        lines.append("no candidates")
        return "\n".join(lines)
    day = result.when.date()
    rows = [("shotid", "track", "azimuth", "window start", "window end", "prio", "n_obs",
             "status")]
    for c in shown:
        rows.append((c.shotid, c.track, _azimuth(c), _when(c.window_start, day),
                     _when(c.window_end, day), str(c.shot.priority), str(c.shot.n_obs),
                     c.reason))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    right = {2, 5, 6}
    for row in rows:
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                 for i, cell in enumerate(row[:-1])]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
    if len(shown) < len(candidates):
        lines.append(f"({len(shown)} of {len(candidates)} candidates shown: --top N or --all "
                     "for more; times UTC, HH:MM on "
                     f"{day:%Y-%m-%d})")
    else:
        lines.append(f"(all {len(candidates)} candidates; times UTC, HH:MM on {day:%Y-%m-%d})")
    return "\n".join(lines)
