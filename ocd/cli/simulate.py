"""``ocd simulate``: whole nights through OCD's decision core in virtual time."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "simulate"
HELP = "simulate whole nights in virtual time: every shot, every idle stretch and why"
DESCRIPTION = """\
Runs ocd run's own decision core (the orchestrator, state machines, scheduler, observation-
number rules and shot life cycle) through whole nights on a virtual clock, against a
simulated TCS and weather: no sockets, no waiting, the same night for the same seed. A night
goes from sunset to sunrise at HET; the RA allows HETDEX shots at sunset.

Prints, per night, every shot (times, shot, track, observation number, outcome, why it was
chosen) and every idle stretch with its reason (twilight, no observable shot, conditions, TCS
down, forbidden, error pause), the totals, and whether OCD's rules held (exit status 1 when
one broke, with the command that replays the night). The shot list is a copy: n_obs goes down
night after night (--save-shots writes it); observation numbers come from an in-memory
vl_obsnum table. See doc/simulate.md."""


def _count(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    when = parser.add_argument_group("which nights")
    when.add_argument("--night", metavar="DATE",
                      help="the night beginning on the evening of DATE (local date at HET, "
                           "e.g. 2017-11-18); default: tonight by OCD's clock")
    when.add_argument("--from", dest="start", metavar="TIME",
                      help="simulate from this UTC time instead (with --to)")
    when.add_argument("--to", dest="end", metavar="TIME", help="until this UTC time")
    when.add_argument("--nights", type=_count, default=1, metavar="K",
                      help="K consecutive nights (default 1), one shot list carried over")
    season = parser.add_argument_group("a season forecast")
    season.add_argument("--from-date", metavar="DATE",
                        help="every night from DATE (local evening date at HET) to "
                             "--to-date, in order, the list carried over, the weather drawn "
                             "from [climate]: expected visits, completion date, time lost")
    season.add_argument("--to-date", metavar="DATE", help="the last night of the season")
    season.add_argument("--runs", type=_count, default=1, metavar="K",
                        help="K seasons with seeds N to N+K-1, for the spread (default 1)")
    world = parser.add_argument_group("the world")
    world.add_argument("--weather", choices=["steady", "drifting", "cloudy", "random"],
                       help="the simulated sky (default: [sim_tcs] weather)")
    world.add_argument("--seed", type=_count, default=1, metavar="N",
                       help="seed of the weather and of --faults (night k uses N+k-1; "
                            "default 1)")
    world.add_argument("--faults", action="store_true",
                       help="a night of trouble drawn from the seed: forbid/allow, aborts, "
                            "shots by hand, TCS and database outages, failing commands")
    world.add_argument("--replay", type=Path, metavar="NIGHT",
                       help="a recorded night (ocd record) as the TCS and weather, looped")
    world.add_argument("--exact", action="store_true",
                       help="tick by tick, as ocd run: a TCS step every heartbeat interval "
                            "and a tick every [simulate] tick_interval, rather than jumping "
                            "from one moment that can change a decision to the next (the "
                            "same decisions, some 10x slower; doc/simulate.md)")
    world.add_argument("--shots", type=Path, metavar="FILE",
                       help="shot list to start from (default: [shots] shot_file; never "
                            "changed)")
    out = parser.add_argument_group("output")
    out.add_argument("--save-shots", type=Path, metavar="FILE",
                     help="write the simulated shot list (n_obs after each night) to FILE")
    out.add_argument("--json", action="store_true",
                     help="print one JSON document instead of the tables")
    out.add_argument("--plot", type=Path, metavar="FILE.png",
                     help="draw each night: shots by track against twilight and dark time, "
                          "seeing and transparency, a sky chart (FILE-DATE.png for several)")


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app.simulation.simulate import simulate, simulate_season
    from ocd.clock import clock_from_config
    from ocd.errors import UsageError

    if args.from_date is not None or args.to_date is not None:
        if args.from_date is None or args.to_date is None:
            raise UsageError("--from-date and --to-date go together")
        others = [flag for flag, given in (("--night", args.night), ("--from", args.start),
                                           ("--to", args.end), ("--nights", args.nights != 1),
                                           ("--weather", args.weather),
                                           ("--faults", args.faults), ("--replay", args.replay),
                                           ("--save-shots", args.save_shots)) if given]
        if others:
            raise UsageError(f"a season (--from-date/--to-date) draws its nights and weather: "
                             f"not with {', '.join(others)}")
        return simulate_season(cfg, first=args.from_date, last=args.to_date, runs=args.runs,
                               seed=args.seed, shots=args.shots, as_json=args.json,
                               plot=args.plot, exact=args.exact)
    if args.runs != 1:
        raise UsageError("--runs repeats a season: give --from-date and --to-date")

    return simulate(cfg, clock_from_config(cfg), night=args.night, start=args.start,
                    end=args.end, nights=args.nights, weather=args.weather, seed=args.seed,
                    faults=args.faults, shots=args.shots, save_shots=args.save_shots,
                    replay=args.replay, as_json=args.json, plot=args.plot, exact=args.exact)
