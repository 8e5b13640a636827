"""``ocd run_shot``: run one HETDEX shot by hand."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "run_shot"
HELP = "run one shot by hand (with -e a running ocd run follows it)"
DESCRIPTION = """\
Runs the shot SHOTID of [shots] shot_file: telescope set-up and the dithered exposures, with
an observation number from [database]. With -e/--emit-events its events are published on
[urls] ocd_run_shot at index [run_shot] n_ocd_run_shot, so ocd run and monitors follow it and
ocd abort can stop it. On success n_obs goes down by one and the shot file is rewritten.
Exit 0 on success, 1 if the shot failed or was aborted."""


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("shotid", metavar="SHOTID", help="the shot to run")
    parser.add_argument("-e", "--emit-events", action="store_true",
                        help="publish the shot's events (recommended whenever ocd run is up)")
    parser.add_argument("--track", choices=["E", "W"], type=str.upper,
                        help="track to use (default: the shot's forced track, else the one "
                             "observable now)")
    parser.add_argument("--shots", metavar="FILE", help="shot file instead of [shots] shot_file")
    parser.add_argument("--n-ocd-run-shot", type=int, metavar="N",
                        help="bind the N-th address of [urls] ocd_run_shot "
                             "(default: [run_shot] n_ocd_run_shot)")
    parser.add_argument("-y", "--yes", action="store_true",
                        help="proceed with [dates] mock_time without asking")


def overrides(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    result = []
    if args.shots:
        result.append(("shots", "shot_file", args.shots))
    if args.n_ocd_run_shot is not None:
        result.append(("run_shot", "n_ocd_run_shot", str(args.n_ocd_run_shot)))
    return result


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app.manual_shot import run_shot

    return run_shot(cfg, args.shotid, track=args.track, emit=args.emit_events,
                    assume_yes=args.yes)
