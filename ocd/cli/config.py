"""``ocd config copy`` and ``ocd config show``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "config"
HELP = "copy the shipped configuration, show the effective one, send changes to ocd run"
DESCRIPTION = """\
copy   write ocd.cfg and loggers.cfg into DIR as a starting point for your own files
show   print the merged configuration (master file, --config files, OCD__SECTION__OPTION
       environment variables, --set flags) with the origin of every value, and which
       observation-number backend [database] backend gives and why; passwords masked
send   change {conf modifiable} options of the running ocd run; all or nothing, acknowledged"""


NESTED = True


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    copy = actions.add_parser("copy", parents=[common],
                              help="write ocd.cfg and loggers.cfg into DIR")
    copy.add_argument("dir", nargs="?", default=".", metavar="DIR",
                      help="destination directory (default: the current one)")
    copy.add_argument("-f", "--force", action="store_true", help="overwrite existing files")
    actions.add_parser("show", parents=[common],
                       help="print the effective configuration, passwords masked")
    send = actions.add_parser("send", parents=[common],
                              help="change modifiable options of the running ocd run")
    send.add_argument("changes", nargs="+", metavar="SECTION.OPTION=VALUE",
                      help="options to change; refused as a whole if any is not "
                           "{conf modifiable} or has a bad value")
    send.add_argument("--timeout", type=float, metavar="SECONDS",
                      help="how long to wait for the acknowledgement "
                           "(default: [allow_hetdex] timeout)")


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app.commander import config_send
    from ocd.app.config_tool import copy_files, show_config

    if args.action == "copy":
        return copy_files(Path(args.dir), args.force)
    if args.action == "send":
        return config_send(cfg, args.changes, args.timeout)
    return show_config(cfg)
