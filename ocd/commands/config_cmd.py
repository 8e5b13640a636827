"""``ocd config copy`` and ``ocd config show``."""

from __future__ import annotations

import argparse
import asyncio
import shutil
from pathlib import Path

from ocd.config import (
    COMPANION_NAMES,
    MASTER_NAME,
    Config,
    Origin,
    master_specs,
    parse_override,
    static_file,
)
from ocd.control import check, send_command
from ocd.errors import OcdError, UsageError
from ocd.obsnum import choose_backend

NAME = "config"
HELP = "copy the shipped configuration, or show the effective one"
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
    if args.action == "copy":
        return copy_files(Path(args.dir), args.force)
    if args.action == "send":
        return send_changes(cfg, args.changes, args.timeout)
    choice = choose_backend(cfg)
    note = f"observation numbers: {choice.name}, {choice.reason}"
    print(cfg.render(mask=True, notes={("database", "backend"): note}))
    return 0


def send_changes(cfg: Config, texts: list[str], timeout: float | None) -> int:
    """Check the changes locally (known, modifiable, well typed), then send them."""
    changes = [parse_override(text) for text in texts]
    for section, option, _ in changes:
        spec = master_specs().get((section, option))
        if spec is None:
            raise UsageError(f"[{section}] {option}: unknown option")
        if not spec.modifiable:
            raise UsageError(f"[{section}] {option} is {{{spec.modify}}}: it cannot change in "
                             "a running ocd run (restart it with the new value)")
    for section, option, value in changes:
        cfg.check_value(section, option, value, Origin("command line", Path.cwd()))
    wait = timeout if timeout is not None else cfg.get("allow_hetdex", "timeout")
    ack = asyncio.run(send_command(cfg, "ocd.command.config_send",
                                   {"changes": [list(c) for c in changes]}, timeout=wait))
    print(check(ack))
    return 0


def copy_files(directory: Path, force: bool) -> int:
    """Copy the master and companion files; refuse to overwrite any of them without force."""
    if not directory.is_dir():
        raise OcdError(f"{directory}: no such directory")
    names = (MASTER_NAME, *COMPANION_NAMES)
    existing = [directory / name for name in names if (directory / name).exists()]
    if existing and not force:
        raise OcdError(f"{', '.join(map(str, existing))} already exist(s): use --force to "
                       "overwrite")
    for name in names:
        shutil.copyfile(static_file(name), directory / name)
        print(f"wrote {directory / name}")
    return 0
