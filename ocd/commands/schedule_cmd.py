"""``ocd schedule``: what OCD would observe now (or at a given time), and why not the rest."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from ocd.autoschedule import schedule_with_config
from ocd.clock import clock_from_config, utc_to_jd
from ocd.config import Config, parse_time
from ocd.errors import UsageError
from ocd.schedule import Candidate, Conditions, ScheduleResult, span
from ocd.shots import load_shots

NAME = "schedule"
HELP = "show which shot OCD would choose now (or at TIME), and why not the others"
DESCRIPTION = """\
Runs the configured scheduler ([schedule] scheduler) on the shot list at OCD's clock (the mock
clock when [dates] mock_time is set) or at --at TIME, and prints the choice and the best
candidates: shotid, track, azimuth, track window, priority, n_obs and why each one is or is not
observable. Reads the shot list only; never changes it. Useful to plan a night: try
--at 2017-11-19T03:00 --all."""

DEFAULT_TOP = 10


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("--at", metavar="TIME",
                        help="schedule at this UTC time (anything astropy.time.Time parses, "
                             "e.g. 2017-11-19T03:00:00) instead of OCD's clock")
    parser.add_argument("--shots", metavar="FILE", type=Path,
                        help="shot list to use (default: [shots] shot_file)")
    count = parser.add_mutually_exclusive_group()
    count.add_argument("--top", metavar="N", type=_positive, default=DEFAULT_TOP,
                       help=f"show the N best candidates (default {DEFAULT_TOP})")
    count.add_argument("--all", action="store_true",
                       help="show every candidate: each shot on each of its tracks")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document (the choice and the candidates)")
    parser.add_argument("--seeing", metavar="ARCSEC", type=float,
                        help="assume this seeing for [schedule] max_seeing (default: unknown)")
    parser.add_argument("--transparency", metavar="FRACTION", type=float,
                        help="assume this transparency for [schedule] min_transparency "
                             "(default: unknown)")


def run(args: argparse.Namespace, cfg: Config) -> int:
    clock = clock_from_config(cfg)
    when = None
    source = "mock clock" if clock.is_mock else "real clock"
    if args.at is not None:
        try:
            when = parse_time(args.at)
        except ValueError as exc:
            raise UsageError(f"--at {args.at!r}: {exc}") from None
        source = "--at"
    path = args.shots if args.shots is not None else cfg.get("shots", "shot_file")
    store = load_shots(path)
    conditions = Conditions(seeing=args.seeing, transparency=args.transparency)
    result = schedule_with_config(cfg, store, clock, conditions, when=when)
    limit = None if args.all else args.top
    if args.json:
        document = result.as_dict(limit)
        document["shot_file"] = str(path)
        document["clock"] = source
        print(json.dumps(document, indent=2))
    else:
        print(render(result, limit, source, path))
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
