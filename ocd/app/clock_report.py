"""``ocd time``: what time OCD thinks it is, for the RA's sanity check."""

from __future__ import annotations

import datetime as dt
import time

from ocd.clock import utc_to_jd
from ocd.config import Config
from ocd.shell.clock_source import choose_clock_now


def show_time(cfg: Config) -> int:
    """``ocd time``: OCD's clock in UTC and JD, whether it is mocked, and whose it is (the
    running main loop's, pinned by ``[dates] mock_anchor``, or this command's own)."""
    choice = choose_clock_now(cfg)
    clock = choice.clock
    real = time.time()
    now = clock.utc()
    print(f"UTC:   {now.isoformat(timespec='milliseconds')}")
    print(f"JD:    {utc_to_jd(now):.6f}")
    if clock.is_mock:
        moment = dt.datetime.fromtimestamp(real, dt.timezone.utc)
        print(f"real:  {moment.isoformat(timespec='milliseconds')}  (the real time it was then)")
        print(f"clock: MOCKED: {choice.how}")
        print(f"       {clock.describe()}")
    else:
        print("clock: real")
    return 0
