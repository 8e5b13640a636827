"""``ocd time``: what time OCD thinks it is, for the RA's sanity check."""

from __future__ import annotations

from ocd.clock import clock_from_config
from ocd.config import Config


def show_time(cfg: Config) -> int:
    """``ocd time``: OCD's clock in UTC and JD, and whether it is mocked."""
    clock = clock_from_config(cfg)
    now = clock.utc()
    print(f"UTC:   {now.isoformat(timespec='seconds')}")
    print(f"JD:    {clock.jd():.6f}")
    print(f"clock: {'MOCKED' if clock.is_mock else 'real'} ({clock.describe()})")
    return 0
