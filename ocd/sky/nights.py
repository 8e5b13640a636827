"""Which night an instant belongs to: the night named by HET's local date of its evening, as
an observer's log names it (and as ``ocd simulate`` and the archive name nights)."""

from __future__ import annotations

import datetime as dt

from ocd.sky import het

#: HET's local mean time minus UTC (its longitude in hours: about -6.93 h).
LOCAL_OFFSET = dt.timedelta(hours=het.LONGITUDE / 15.0)
#: Seconds to add to a Unix time so that the date changes at local noon (the one noon of
#: :data:`ocd.sky.het.LOCAL_NOON_UTC`).
_SHIFT = -het.LOCAL_NOON_UTC
_EPOCH = dt.date(1970, 1, 1).toordinal()


def night_date(when: dt.datetime) -> dt.date:
    """The local date of the evening of the night ``when`` belongs to (the coming night's,
    in daytime)."""
    local = when.astimezone(dt.timezone.utc) + LOCAL_OFFSET
    return (local - dt.timedelta(hours=12)).date()


def night_of_seconds(seconds: float) -> dt.date:
    """:func:`night_date` of a Unix time (the archive's path for every event: no datetime)."""
    return dt.date.fromordinal(_EPOCH + int((seconds + _SHIFT) // 86400.0))
