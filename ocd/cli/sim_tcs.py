"""``ocd sim_tcs``: a simulated TCS for rehearsals and tests."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "sim_tcs"
HELP = "simulate the TCS: heartbeats, pointing, guider metrology and the command gateway"
DESCRIPTION = """\
Publishes tcs.receiver.heartbeat (one per [sim_tcs] heartbeat_interval of OCD-clock time),
tcs.root.ra_dec and pas.Guider1/2.metrology_data (weather from [sim_tcs]) on [urls] event_urls
at index [sim_tcs] n_event_urls, and serves the TCS gateway protocol on [urls] tcs (and virus,
pfip, pas) so shots run against it; slews and exposures take simulated time on OCD's clock
([dates] mock_time and mock_speed). SIGUSR1 switches the heartbeats off and on. Stops on Ctrl+C
or SIGTERM."""


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("--weather", choices=["steady", "drifting", "cloudy"],
                        help="simulated weather (default: [sim_tcs] weather)")


def overrides(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    return [("sim_tcs", "weather", args.weather)] if args.weather else []


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app.sim_tcs import run_sim_tcs

    return run_sim_tcs(cfg)
