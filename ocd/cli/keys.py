"""``ocd keys init|add|list|remove``: the CURVE keys of the bus."""

from __future__ import annotations

import argparse
from pathlib import Path

from ocd.config import Config

NAME = "keys"
HELP = "the CURVE keys of the bus: init them, add, list and remove readers"
DESCRIPTION = """\
init [DIR]    create a bus: its server pair, the members' client pair and the allowed-clients
              directory in DIR (default: [security] keys_dir); files 0600, directories 0700
add NAME      create a reader's key pair, allow it, and pack what to hand to the reader
list          show the client keys allowed to connect
remove NAME   refuse reader NAME from its next connection on

Turn CURVE on with [security] curve = true and keys_dir = DIR (doc/security.md)."""

NESTED = True


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = actions.add_parser("init", parents=[common], help="create the keys of a new bus")
    init.add_argument("dir", nargs="?", type=Path, metavar="DIR",
                      help="the keys directory (default: [security] keys_dir)")
    init.add_argument("--force", action="store_true",
                      help="replace existing keys (every process then needs the new ones)")
    add = actions.add_parser("add", parents=[common], help="create and allow a reader's keys")
    add.add_argument("name", metavar="NAME", help="the reader's name (letters, digits, ._-)")
    actions.add_parser("list", parents=[common], help="show the allowed client keys")
    remove = actions.add_parser("remove", parents=[common], help="refuse a reader's key")
    remove.add_argument("name", metavar="NAME", help="the reader to remove")


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app import keys

    directory = keys.keys_dir(cfg, getattr(args, "dir", None))
    if args.action == "init":
        return keys.init_keys(directory, args.force)
    if args.action == "add":
        return keys.add_reader(directory, args.name)
    if args.action == "remove":
        return keys.remove_reader(directory, args.name)
    return keys.list_keys(directory)
