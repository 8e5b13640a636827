"""Reading values out of event payloads, which come from untrusted publishers.

One copy of each reader, so the main loop, the recorder, the replay and the monitors agree on
what counts as a number or a time: a boolean is not a number, and neither is NaN or infinity.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any


def finite_number(value: Any) -> float | None:
    """``value`` as a float if it is a finite JSON number (not a boolean), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return number if math.isfinite(number) else None


def utc_time(value: Any) -> dt.datetime | None:
    """An ISO-8601 text (``__ocd_utc``) as an aware UTC datetime, None when it is not one.
    A time without a zone is taken as UTC; ``Z`` is accepted."""
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(dt.timezone.utc) if when.tzinfo else when.replace(
        tzinfo=dt.timezone.utc)


def ocd_time(payload: dict[str, Any]) -> dt.datetime | None:
    """OCD's clock when the event was made (``__ocd_utc``), None for events without it."""
    return utc_time(payload.get("__ocd_utc"))
