"""``ocd plan``: tonight's expected sequence of shots, to morning twilight."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "plan"
HELP = "tonight's expected shots from now (or --at) to morning twilight"
DESCRIPTION = """\
What OCD is expected to observe from now (or --at TIME) to morning twilight, if HETDEX shots
are allowed and the TCS stays up: the same simulation as ocd simulate, on the current shot
list (read only), under steady conditions: --seeing and --transparency, else the latest ones
of a running ocd run, else [sim_tcs] seeing and transparency. Prints each shot (times, shot,
track, why it is chosen) and each idle stretch with its reason; --plot draws the night. Takes
under a second. See doc/simulate.md."""


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("--at", metavar="TIME",
                        help="plan from this UTC time (e.g. 2017-11-19T03:00) instead of now")
    parser.add_argument("--seeing", metavar="ARCSEC", type=float,
                        help="assume this seeing all night")
    parser.add_argument("--transparency", metavar="FRACTION", type=float,
                        help="assume this transparency all night")
    parser.add_argument("--shots", metavar="FILE", type=Path,
                        help="shot list to plan from (default: [shots] shot_file)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--plot", type=Path, metavar="FILE.png",
                        help="draw the plan: shots by track against twilight and dark time, "
                             "and a sky chart")


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app.simulation.plan import plan

    return plan(cfg, at=args.at, seeing=args.seeing, transparency=args.transparency,
                shots=args.shots, as_json=args.json, plot=args.plot)
