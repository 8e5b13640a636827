"""``ocd board``: the night on one web page."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "board"
HELP = "serve the web page of the night: live state, shot progress, plots, commands"
DESCRIPTION = """\
Serves one web page on [board] url (default http://127.0.0.1:8600) that shows the night live:
OCD's clock, TCS and HETDEX states, metrology now and over the night, the shot in progress
with its exposures, the last decision and why OCD waits, a sky chart of HET's annulus with the
shot list and the pointing, the shots of the night, the event log and the health of the bus.
It follows the OCD processes and the TCS stream (or the replayed night when ocd run does:
[run] input), and pushes updates to every open page. Everything the page needs ships
with OCD: it works without internet.

Anyone who can open the page sees it; commanding (allow, stop after the current shot, abort)
needs a sign-in as one of the [board] users (ocd board --hash-password NAME makes an entry).
Commands go out on [urls] ocd_allow_hetdex at index [board] n_ocd_allow_hetdex and are
acknowledged like ocd allow_hetdex; the acknowledgement and ocd run's window name the user. See
doc/board.md."""


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", metavar="URL",
                        help="serve on this http://HOST:PORT instead of [board] url (port 0: "
                             "any free port, printed at start)")
    parser.add_argument("--hash-password", metavar="NAME",
                        help="ask for a password for user NAME and print the [board] users "
                             "entry (scrypt hash), then exit")


def overrides(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    return [("board", "url", args.url)] if args.url else []


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app.board import hash_password_entry, run_board  # aiohttp: only when it runs

    if args.hash_password is not None:
        return hash_password_entry(args.hash_password)
    return run_board(cfg)
