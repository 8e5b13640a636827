"""Times for people: what narration, ``ocd listen`` and reports print.

A person at the console reads ``03:00:00`` UTC, to the second, never microseconds nor an
ISO offset; where a person plans the night (a narration or report header) the local time at
HET is added. Machine fields (``__ocd_utc``, ``retry_at``, JSON reports) keep ISO-8601.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

#: The time zone of the Hobby-Eberly Telescope (McDonald Observatory, West Texas).
HET_ZONE = ZoneInfo("America/Chicago")


def _utc(when: dt.datetime | float) -> dt.datetime:
    """An aware UTC datetime from Unix seconds or a datetime (a naive one is taken as UTC)."""
    if isinstance(when, dt.datetime):
        return when.replace(tzinfo=dt.timezone.utc) if when.tzinfo is None \
            else when.astimezone(dt.timezone.utc)
    return dt.datetime.fromtimestamp(when, dt.timezone.utc)


def hms(when: dt.datetime | float) -> str:
    """``03:00:00``: the UTC time of day, to the second (truncated, as a clock shows it)."""
    return f"{_utc(when):%H:%M:%S}"


def hms_utc(when: dt.datetime | float) -> str:
    """``03:00:00 UTC``."""
    return f"{_utc(when):%H:%M:%S} UTC"


def day_hms_utc(when: dt.datetime | float) -> str:
    """``2017-11-19 03:00:00 UTC``: for a header, where the night's date matters."""
    return f"{_utc(when):%Y-%m-%d %H:%M:%S} UTC"


def het_local(when: dt.datetime | float) -> str:
    """``21:00:00 CST at HET``: the same instant on the clocks of the observatory."""
    local = _utc(when).astimezone(HET_ZONE)
    return f"{local:%H:%M:%S %Z} at HET"


def day_hms_utc_local(when: dt.datetime | float) -> str:
    """``2017-11-19 03:00:00 UTC (21:00:00 CST at HET)``: a header a person reads."""
    return f"{day_hms_utc(when)} ({het_local(when)})"
