"""``ocd time``: what time OCD thinks it is, for the RA's sanity check."""

from __future__ import annotations

import argparse

from ocd.clock import clock_from_config
from ocd.config import Config

NAME = "time"
HELP = "print OCD's clock (UTC and Julian Date) and whether it is mocked"


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """No options beyond the common ones."""


def run(args: argparse.Namespace, cfg: Config) -> int:
    clock = clock_from_config(cfg)
    now = clock.utc()
    print(f"UTC:   {now.isoformat(timespec='seconds')}")
    print(f"JD:    {clock.jd():.6f}")
    print(f"clock: {'MOCKED' if clock.is_mock else 'real'} ({clock.describe()})")
    return 0
