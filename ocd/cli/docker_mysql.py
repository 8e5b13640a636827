"""``ocd docker_mysql up|down|info``: a MySQL container holding ``vl_obsnum``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "docker_mysql"
HELP = "a MySQL container holding the observation-number table: up, info, down"
DESCRIPTION = """\
up     start the container ([docker_mysql] image, container, host, port) with the database,
       user and password of [database] and the vl_obsnum table, wait until it answers, and
       print the [database] lines to use it
info   print those lines again
down   stop and remove the container and its data

Needs the docker CLI and a running Docker engine."""

NESTED = True


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("up", parents=[common],
                       help="start the MySQL container and print where it answers")
    actions.add_parser("info", parents=[common],
                       help="print where the running MySQL container answers")
    actions.add_parser("down", parents=[common], help="stop and remove the MySQL container")


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.dev.docker_mysql import docker_mysql

    return docker_mysql(cfg, args.action)
