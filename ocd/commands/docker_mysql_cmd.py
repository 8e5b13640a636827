"""``ocd docker_mysql up|down|info``: a MySQL container holding ``vl_obsnum``."""

from __future__ import annotations

import argparse
import os

from ocd.config import Config
from ocd.docker_mysql import (
    Docker,
    DockerSettings,
    database_snippet,
    remove_command,
    run_command,
    run_environment,
    start_command,
    wait_for_mysql,
)
from ocd.errors import OcdError

NAME = "docker_mysql"
HELP = "start, describe or remove a MySQL container holding the observation-number table"
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
    settings = DockerSettings.from_config(cfg)
    docker = Docker(settings)
    docker.check_engine()
    info = docker.inspect()
    if args.action == "down":
        if info is None:
            print(f"no container {settings.container}: nothing to remove")
            return 0
        docker.checked(remove_command(settings))
        print(f"removed container {settings.container} and its data")
        return 0
    if args.action == "info":
        if info is None or not info.running:
            state = "does not exist" if info is None else f"is {info.status}"
            raise OcdError(f"container {settings.container} {state}: start it with "
                           "'ocd docker_mysql up'")
        print(database_snippet(info, settings))
        return 0
    if info is None:
        # pulling the image may take a while: no short timeout for the first run
        docker.checked(run_command(settings), env=run_environment(settings, dict(os.environ)),
                       timeout=max(settings.wait_timeout, 600))
    elif not info.running:
        docker.checked(start_command(settings))
    info = docker.inspect()
    if info is None or not info.running:
        raise OcdError(f"container {settings.container} stopped right after starting: see "
                       f"'{settings.executable} logs {settings.container}'")
    wait_for_mysql(info.host or settings.host, info.port or settings.port, settings.user,
                   settings.password, settings.database, settings.wait_timeout)
    print(database_snippet(info, settings))
    return 0
