"""``ocd rehearse``: a dress rehearsal of a night in one command."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "rehearse"
HELP = "rehearse a night in one command: ocd run, a replayed (or simulated) TCS, shots, summary"
DESCRIPTION = """\
Runs a daytime dress rehearsal on a mock clock: starts ocd run, the TCS (ocd db_replay of a
recorded night, or ocd sim_tcs), ocd allow_hetdex start and ocd record as child processes in a
private temporary directory (ipc addresses, a copy of the shot list, a fresh SQLite
observation-number file), shows the shots, exposures and observation numbers as they happen,
stops everything at the end of the night segment and prints a summary: shots completed and
failed, observation numbers, events per topic, sequence gaps.

Configuration: the shipped rehearsal.cfg (the sample night, shots and inputs), then your
--config files and --set values; the addresses, clock speed, shot-list copy and database are
always the rehearsal's own. With no options it rehearses one hour of the night of 2017-11-19
from 03:00 UTC at 60x, in about a minute. Exit status 0; 1 if a process failed (the message
names it, with the end of its stderr); 130 if interrupted. Every process is stopped in all
cases."""


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("--speed", type=float, metavar="N",
                        help="mock clock speed, OCD-clock seconds per real second (default: "
                             "[rehearse] speed, 60)")
    parser.add_argument("--duration", metavar="D",
                        help="length of the night segment in OCD-clock time, from [dates] "
                             "mock_time: seconds or e.g. 20m, 1h, 1h30m (default: [rehearse] "
                             "duration, 1 hour)")
    parser.add_argument("--summary", type=Path, metavar="FILE",
                        help="also write the summary as JSON: shots_completed, shots_failed, "
                             "obsnums, events_by_topic, gaps")
    parser.add_argument("--tcs", choices=["replay", "sim"],
                        help="replay the recorded night (ocd db_replay) or simulate the TCS "
                             "(ocd sim_tcs) (default: [rehearse] tcs, replay)")
    parser.add_argument("--board", action="store_true",
                        help="also run ocd board on the rehearsal and print its address "
                             "([board] url; sign-in with your [board] users)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="work in DIR and keep it: logs of every process, the shot list, "
                             "observation numbers and the recording of the rehearsal")


def config_files(args: argparse.Namespace) -> list[str]:
    """The shipped rehearsal.cfg first, then the user's files."""
    from ocd.config import rehearsal_config

    return [str(rehearsal_config()), *(args.config or [])]


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app.rehearsal import parse_duration, rehearse

    duration = parse_duration(args.duration) if args.duration is not None else None
    return rehearse(cfg, speed=args.speed, duration=duration, tcs=args.tcs, keep=args.keep,
                    summary=args.summary, board=args.board)
