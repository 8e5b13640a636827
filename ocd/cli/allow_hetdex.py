"""``ocd allow_hetdex {start,stop}``: allow or forbid automatic HETDEX shots."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "allow_hetdex"
HELP = "allow (start) or forbid (stop) automatic HETDEX shots in the running ocd run"
DESCRIPTION = """\
start  let the main loop run shots whenever conditions allow (it starts forbidden)
stop   no new automatic shot; a shot in progress finishes (use ocd abort to stop it)

Binds [urls] ocd_allow_hetdex at index [allow_hetdex] n_ocd_allow_hetdex, waits until an
ocd run is connected (heartbeat), sends the command, and exits 0 only once the main loop has
acknowledged the new state; exit 1 with "no ocd run answered ..." otherwise."""


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["start", "stop"], help="allow or forbid shots")
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="how long to wait for the acknowledgement "
                             "(default: [allow_hetdex] timeout)")
    parser.add_argument("--subscribers", type=int, default=1, metavar="N",
                        help="send only once N processes subscribe to the command (the main "
                             "loop, and a recorder or monitor that must keep it too; "
                             "default 1)")


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app.commander import allow_hetdex

    return allow_hetdex(cfg, args.action == "start", args.timeout, args.subscribers)
