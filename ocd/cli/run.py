"""``ocd run``: the main loop."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "run"
HELP = "the main loop: follow the TCS and OCD events, decide and run HETDEX shots"
DESCRIPTION = """\
Subscribes to the TCS event stream ([urls] event_urls) or a replayed night ([urls]
ocd_db_replay), and to the OCD processes; keeps the state machines; when HETDEX is allowed
(ocd allow_hetdex start) and conditions are good, picks a shot, takes an observation number
and runs it, publishing every step on [urls] ocd_main_loop and ocd_run_shot. The window
narrates the night: one line per decision (on change), shot start, exposure, shot end, state
change, command received (from whom, and the answer) and error. Stops cleanly on Ctrl+C or
SIGTERM (a running shot is aborted at its next safe point first) and says what it stopped."""


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("-u", "--event-urls", nargs="+", metavar="URL",
                        help="TCS event addresses, instead of [urls] event_urls")
    parser.add_argument("--replay", action="store_true",
                        help="follow the replayed night of ocd db_replay ([urls] ocd_db_replay) "
                             "instead of the live TCS (sets [run] input = replay)")
    parser.add_argument("-t", "--extra-topics", nargs="+", default=[], metavar="TOPIC",
                        help="further topic prefixes to subscribe to")
    parser.add_argument("-a", "--all-topics", choices=["yes", "no"], default="yes",
                        help="'no' subscribes only to the -t topics (default: yes)")
    parser.add_argument("--n-ocd-main-loop", type=int, metavar="N",
                        help="bind the N-th address of [urls] ocd_main_loop "
                             "(default: [run] n_ocd_main_loop)")
    parser.add_argument("--n-ocd-run-shot", type=int, metavar="N",
                        help="bind the N-th address of [urls] ocd_run_shot "
                             "(default: [run] n_ocd_run_shot)")
    parser.add_argument("-y", "--yes", action="store_true",
                        help="proceed with [dates] mock_time without asking")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="show warnings and errors only, not the narration of the night "
                             "(sets [general] log_level = WARNING)")


def overrides(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    result = []
    if args.quiet:
        result.append(("general", "log_level", "WARNING"))
    if args.replay:
        result.append(("run", "input", "replay"))
    if args.event_urls:
        result.append(("urls", "event_urls", ", ".join(args.event_urls)))
    if args.n_ocd_main_loop is not None:
        result.append(("run", "n_ocd_main_loop", str(args.n_ocd_main_loop)))
    if args.n_ocd_run_shot is not None:
        result.append(("run", "n_ocd_run_shot", str(args.n_ocd_run_shot)))
    return result


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app.main_loop import run_main_loop

    return run_main_loop(cfg, extra_topics=args.extra_topics,
                         all_topics=args.all_topics == "yes", assume_yes=args.yes)
