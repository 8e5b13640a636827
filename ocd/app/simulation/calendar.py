"""Which stretch of time a simulated night covers: from sunset to sunrise at HET, the night
named by the local date of its evening (as an observer's log names it)."""

from __future__ import annotations

import datetime as dt

from ocd.sky import het
from ocd.sky.nights import LOCAL_OFFSET, night_date

__all__ = ["LOCAL_OFFSET", "morning_twilight", "night_date", "night_of"]


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(round(seconds), dt.timezone.utc)


def night_of(date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Sunset and the next sunrise (UTC) at HET for the night that begins on the evening of
    ``date`` (HET's local date)."""
    noon = dt.datetime(date.year, date.month, date.day, 12, tzinfo=dt.timezone.utc) \
        - LOCAL_OFFSET
    sunset = het.sun_crossing(noon, 0.0, rising=False)
    assert sunset is not None  # the Sun sets every day at HET's latitude
    sunrise = het.sun_crossing(sunset + 60.0, 0.0, rising=True)
    assert sunrise is not None
    return _utc(sunset), _utc(sunrise)


def morning_twilight(when: dt.datetime, sun_limit: float) -> dt.datetime:
    """The end of the dark time (the Sun rising through ``sun_limit``) of the night ``when``
    is in, or of the coming night in daytime."""
    return _utc(het.dark_interval(when, sun_limit)[1])
