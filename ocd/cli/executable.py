"""The ``ocd`` executable: argument parsing, configuration loading and error reporting.

Each subcommand lives in a module of :mod:`ocd.cli` with ``NAME``, ``HELP``,
``add_arguments(parser, common)`` and ``run(args, cfg) -> int``, which makes one call into
:mod:`ocd.app`; it may also define ``overrides(args)`` returning ``(section, option, value)``
triples that command line flags set, and ``config_files(args)`` when it reads other files
than ``--config`` (``ocd rehearse`` puts its own first).
A module with actions of its own (``ocd config copy``) sets ``NESTED = True`` and gives the
``common`` options parent to each action's parser, since argparse lets the innermost parser's
defaults win.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import re
import select
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from ocd import __version__
from ocd.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_RUNTIME,
    OcdError,
    printable,
    printable_lines,
    suggestion,
)

log = logging.getLogger("ocd")

#: Subcommand modules, in the order ``ocd --help`` lists them.
COMMANDS = (
    "ocd.cli.run",
    "ocd.cli.rehearse",
    "ocd.cli.simulate",
    "ocd.cli.plan",
    "ocd.cli.run_shot",
    "ocd.cli.allow_hetdex",
    "ocd.cli.abort",
    "ocd.cli.alarms",
    "ocd.cli.sim_tcs",
    "ocd.cli.listen",
    "ocd.cli.board",
    "ocd.cli.record",
    "ocd.cli.db_replay",
    "ocd.cli.archive",
    "ocd.cli.ping",
    "ocd.cli.schedule",
    "ocd.cli.obsnum",
    "ocd.cli.config",
    "ocd.cli.time",
    "ocd.cli.docker_mysql",
    "ocd.cli.keys",
)

DESCRIPTION = """\
OCD drives HETDEX observations at the Hobby-Eberly Telescope. Its processes talk over
ZeroMQ PUB/SUB: they listen to the telescope control system and to each other, and publish
every step as events. See the documentation in doc/ for the full guide."""


#: ``--config`` given without FILE: ``./ocd.cfg``, optional (made an ``ImplicitFile`` once the
#: configuration package is imported, which ``ocd --help`` does not need).
IMPLICIT_CONFIG = object()


class OcdParser(argparse.ArgumentParser):
    """argparse, with the closest name suggested for a mistyped choice or option."""

    def error(self, message: str) -> NoReturn:
        wrong = re.match(r"argument [^:]+: invalid choice: '([^']*)' \(choose from (.*)\)$",
                         message)
        if wrong:
            choices = re.findall(r"'([^']*)'", wrong.group(2))
            message += suggestion(wrong.group(1), choices)
        super().error(message)

    def unrecognized(self, extras: Sequence[str]) -> NoReturn:
        """Stop with this parser's usage (the subcommand's, not ``ocd``'s) and the closest
        known option for each unknown one."""
        known = [o for action in self._actions for o in action.option_strings]
        words = [f"{extra}{suggestion(extra.split('=')[0], known)}" if extra.startswith("-")
                 else extra for extra in extras]
        self.error(f"unrecognized arguments: {' '.join(words)}")


def _common_options() -> OcdParser:
    common = OcdParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument(
        "--config", action="append", nargs="?", const=IMPLICIT_CONFIG, metavar="FILE",
        help="user configuration file merged over the shipped master file (repeatable; "
             "a FILE that does not exist is an error; without FILE: ./ocd.cfg, skipped with a "
             "warning when absent)")
    group.add_argument(
        "--set", action="append", default=[], metavar="SECTION.OPTION=VALUE",
        help="override one configuration option (repeatable; wins over files and environment)")
    group.add_argument(
        "--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], type=str.upper,
        help="console log level (default: [general] log_level)")
    group.add_argument(
        "--debug", action="store_true",
        help="show tracebacks of errors (and set the log level to DEBUG)")
    return common


def _common_option_names() -> dict[str, bool]:
    """The options every command takes -> whether they take a value."""
    return {name: action.nargs != 0 for action in _common_options()._actions
            for name in action.option_strings}


def _load_commands() -> list[ModuleType]:
    return [importlib.import_module(name) for name in COMMANDS]


def build_parser() -> OcdParser:
    """The full argument parser (also used to check that ``--help`` is complete)."""
    parser = OcdParser(
        prog="ocd", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ocd {__version__}")
    common = _common_options()
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _load_commands():
        nested = getattr(module, "NESTED", False)
        command = sub.add_parser(
            module.NAME, parents=[] if nested else [common], help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(command, common)
        command.set_defaults(module=module)
    _remember_parsers(parser)
    return parser


def _remember_parsers(parser: argparse.ArgumentParser) -> None:
    """Let every parser put itself in the namespace (the innermost one wins), so that an
    unknown option is reported with the usage of the (sub)command it was given to."""
    parser.set_defaults(parser=parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _remember_parsers(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    takes_value = _common_option_names()
    name = words[0].split("=")[0] if words else ""
    if name in takes_value:
        # argparse would call the option's value an invalid command: say where it goes instead
        example = words[0] if "=" in words[0] or not takes_value[name] else " ".join(words[:2])
        parser.error(f"{name} is an option of each command: give it after the command's name, "
                     f"e.g. ocd run {example}")
    args, extras = parser.parse_known_args(words)
    if extras:
        owner = getattr(args, "parser", parser)
        (owner if isinstance(owner, OcdParser) else parser).unrecognized(extras)
    debug = args.debug
    try:
        # imported here, not at the top: ``ocd --help`` and a mistyped option need neither
        from ocd.cli.logs import setup_logging
        from ocd.config import MASTER_NAME, ImplicitFile, load_config, parse_override

        if args.config:
            args.config = [ImplicitFile(MASTER_NAME) if name is IMPLICIT_CONFIG else name
                           for name in args.config]
        overrides = [parse_override(item) for item in args.set]
        extra = getattr(args.module, "overrides", None)
        if extra is not None:
            overrides.extend(extra(args))
        files = getattr(args.module, "config_files", None)
        cfg = load_config(files(args) if files is not None else (args.config or []), overrides)
        level = "DEBUG" if debug else (args.log_level or cfg.get_str("general", "log_level"))
        setup_logging(level, cfg)
        for warning in cfg.warnings:
            log.warning("%s", warning)
        return int(args.module.run(args, cfg) or 0)
    except OcdError as exc:
        if debug:
            traceback.print_exc()
        print(printable_lines(f"ocd: error: {exc}"), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ocd: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError as exc:
        if _stdout_closed():
            return _output_closed()
        return _internal_error(exc, debug)
    except Exception as exc:  # a bug: say so in one line, keep the traceback for --debug
        return _internal_error(exc, debug)


def _internal_error(exc: Exception, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(printable(f"ocd: error: internal error {type(exc).__name__}: {exc} "
                    "(run again with --debug for the traceback and report it)"),
          file=sys.stderr)
    return EXIT_RUNTIME


def _stdout_closed() -> bool:
    """Whether the standard output is a pipe whose reader went away (and not some other pipe,
    e.g. to a child process, that broke)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError):
        return False


def _output_closed() -> int:
    """The reader of the standard output went away (``ocd schedule | head -1``): end quietly,
    as a command the closed pipe stops does, without a message; what is still buffered goes
    nowhere, so Python's last flush cannot complain either."""
    with contextlib.suppress(OSError, ValueError):  # no standard output at all
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    raise SystemExit(main())
