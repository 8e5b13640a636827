"""``ocd obsnum init|next|show``: the observation-number table by hand."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ocd.cli.argtypes import date_argument
from ocd.obsnum import MAX_COUNT, TABLE

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "obsnum"
HELP = "the observation-number table: init it, next (allocate numbers), show a date's rows"
DESCRIPTION = f"""\
init   create the {TABLE} table if it is missing (MySQL: in [database] mysql_database;
       SQLite: the file is created on demand anyway)
next   allocate the next observation number(s) for the clock's UTC date and
       [database] instrument, one per line (written unless --dry-run or
       [database] mysql_update_obsnum = false)
show   print the rows of one date (default: the clock's UTC date)

[database] backend chooses MySQL (HET's table) or the embedded SQLite file."""

NESTED = True


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 1 <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and {MAX_COUNT}")
    return value



def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("init", parents=[common], help=f"create the {TABLE} table if missing")
    nxt = actions.add_parser("next", parents=[common],
                             help="allocate the next observation number(s), one per line")
    nxt.add_argument("-n", "--count", type=_count, default=1, metavar="N",
                     help=f"how many consecutive numbers (1 to {MAX_COUNT}; default 1)")
    nxt.add_argument("--dry-run", action="store_true",
                     help="print the number(s) that would come next, write nothing")
    show = actions.add_parser("show", parents=[common], help="print the rows of one date")
    show.add_argument("--date", type=date_argument, metavar="YYYY-MM-DD",
                      help="the observation date (default: the clock's UTC date)")


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app.obsnum_tool import obsnum_tool

    return obsnum_tool(cfg, args.action, count=getattr(args, "count", 1),
                       dry_run=getattr(args, "dry_run", False), date=getattr(args, "date", None))
