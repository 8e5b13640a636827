"""Which stretch of time a simulated night covers: from sunset to sunrise at HET, the night
named by the local date of its evening (as an observer's log names it)."""

from __future__ import annotations

import datetime as dt

from ocd.sky import het

#: HET's local mean time minus UTC (its longitude in hours: about -6.93 h).
LOCAL_OFFSET = dt.timedelta(hours=het.LONGITUDE / 15.0)


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


def night_date(when: dt.datetime) -> dt.date:
    """The local date of the evening of the night ``when`` belongs to (the coming night's,
    in daytime)."""
    local = when.astimezone(dt.timezone.utc) + LOCAL_OFFSET
    return (local - dt.timedelta(hours=12)).date()


def morning_twilight(when: dt.datetime, sun_limit: float) -> dt.datetime:
    """The end of the dark time (the Sun rising through ``sun_limit``) of the night ``when``
    is in, or of the coming night in daytime."""
    return _utc(het.dark_interval(when, sun_limit)[1])
