"""``ocd config copy`` and ``ocd config show``."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ocd.config import COMPANION_NAMES, MASTER_NAME, Config, static_file
from ocd.errors import OcdError

NAME = "config"
HELP = "copy the shipped configuration, or show the effective one"
DESCRIPTION = """\
copy   write ocd.cfg and loggers.cfg into DIR as a starting point for your own files
show   print the merged configuration (master file, --config files, OCD__SECTION__OPTION
       environment variables, --set flags) with the origin of every value; passwords masked"""


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


def run(args: argparse.Namespace, cfg: Config) -> int:
    if args.action == "copy":
        return copy_files(Path(args.dir), args.force)
    print(cfg.render(mask=True))
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
