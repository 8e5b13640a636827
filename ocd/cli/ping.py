"""``ocd ping``: is anybody there? Heartbeat enquiry, replies printed."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "ping"
HELP = "send a heartbeat enquiry and print which OCD processes answer"
DESCRIPTION = """\
Binds [urls] ocd_allow_hetdex at index [allow_hetdex] n_ocd_allow_hetdex, publishes
ocd.heartbeat.enquiry and prints each process that answers with ocd.heartbeat.reply (its
service, origin and round-trip time). Exit status 0 if at least one answered, 1 if none did."""


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=3.0, metavar="SECONDS",
                        help="how long to collect replies (default: 3)")
    parser.add_argument("--first", action="store_true",
                        help="stop at the first reply instead of waiting the whole timeout")


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app.ping import run_ping

    return run_ping(cfg, args.timeout, args.first)
