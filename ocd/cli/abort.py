"""``ocd abort``: stop the running shot at the next safe point."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "abort"
HELP = "abort the running shot (it finishes with error 'aborted')"
DESCRIPTION = """\
The process running the shot (ocd run, or ocd run_shot -e) stops it at the next safe point:
the exposure in progress is aborted at once, or allowed to finish, per [run_shot]
abort_exposure. The shot's run event then finishes with error true and exc_value 'aborted';
n_obs is untouched. To stop after the current shot instead, use ocd allow_hetdex stop.
Exit 0 once acknowledged; 1 if no shot is running or nobody answered."""


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="how long to wait for the acknowledgement "
                             "(default: [allow_hetdex] timeout)")


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app.commander import abort

    return abort(cfg, args.timeout)
