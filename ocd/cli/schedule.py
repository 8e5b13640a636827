"""``ocd schedule``: what OCD would observe now (or at a given time), and why not the rest."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "schedule"
HELP = "show which shot OCD would choose now (or at TIME), and why not the others"
DESCRIPTION = """\
Runs the configured scheduler ([schedule] scheduler) on the shot list at OCD's clock (the mock
clock when [dates] mock_time is set) or at --at TIME, and prints the choice and the best
candidates: shotid, track, azimuth, track window, priority, n_obs and why each one is or is not
observable. Reads the shot list only; never changes it. Useful to plan a night: try
--at 2017-11-19T03:00 --all."""


#: How many candidates ``ocd schedule`` shows without --top or --all.
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
                        help="assume this seeing, against [run] max_seeing (default: unknown)")
    parser.add_argument("--transparency", metavar="FRACTION", type=float,
                        help="assume this transparency, against [run] min_transparency "
                             "(default: unknown)")


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app.schedule_report import schedule_report

    return schedule_report(cfg, at=args.at, shots=args.shots,
                           limit=None if args.all else args.top, as_json=args.json,
                           seeing=args.seeing, transparency=args.transparency)
