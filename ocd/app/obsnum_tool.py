"""``ocd obsnum``: create the observation-number table, allocate numbers, show a date's."""

from __future__ import annotations

import datetime as dt
import logging

from ocd.config import Config
from ocd.obsnum import TABLE, allocator_from_config, format_rows
from ocd.shell.clock_source import choose_clock_now

log = logging.getLogger("ocd.obsnum")


def obsnum_tool(cfg: Config, action: str, *, count: int = 1, dry_run: bool = False,
               date: dt.date | None = None) -> int:
    """``ocd obsnum init|next|show``."""
    clock = choose_clock_now(cfg).clock  # a running main loop's mock clock, if any
    update = False if dry_run else None
    with allocator_from_config(cfg, clock, update=update) as allocator:
        if action == "init":
            created = allocator.init()
            state = "created" if created else "already present"
            print(f"table {TABLE} {state} in {allocator.describe()}")
            return 0
        if action == "next":
            if clock.is_mock:
                log.warning("the clock is mocked: numbers are for %s", allocator.obsdate())
            numbers = allocator.allocate(count)
            if not allocator.update:
                log.info("not written (%s): %s", "--dry-run" if dry_run else
                         "[database] mysql_update_obsnum = false", allocator.describe())
            print("\n".join(map(str, numbers)))
            return 0
        date = date or allocator.obsdate()
        rows = allocator.rows(date)
        if rows:
            print(format_rows(rows))
        else:
            print(f"no observation numbers for {date.isoformat()} in {allocator.describe()}")
        return 0
