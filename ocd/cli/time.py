"""``ocd time``: what time OCD thinks it is, for the RA's sanity check."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocd.config import Config

NAME = "time"
HELP = "print OCD's clock (UTC and Julian Date) and whether it is mocked"


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """No options beyond the common ones."""


def run(args: argparse.Namespace, cfg: Config) -> int:
    from ocd.app.clock_report import show_time

    return show_time(cfg)
