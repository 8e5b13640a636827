"""The board's Sun, dark time and Moon against astropy directly: within 0.1 degree and a minute,
at HET's published coordinates (typed here, not taken from the module under test)."""

from __future__ import annotations

import datetime as dt
import socket

import numpy as np
import pytest

from ocd.sky import het
from ocd.sky.almanac import almanac, moon, separation

UTC = dt.timezone.utc
DEGREES, SECONDS = 0.1, 60.0  # the bounds
STEP = 120.0  # seconds between two samples of the Sun (interpolated: to well under a second)
#: HET (McDonald Observatory), as published: not the module's constants.
HET_LAT, HET_LON, HET_HEIGHT = 30.681436, -104.0147, 2000.0
#: A full Moon and a new Moon of November 2017 (UTC, to the minute).
FULL = dt.datetime(2017, 11, 4, 5, 23, tzinfo=UTC)
NEW = dt.datetime(2017, 11, 18, 11, 42, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Nothing here may touch the network (astropy must not fetch IERS tables)."""
    het.no_iers_download()

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _site():
    import astropy.units as u
    from astropy.coordinates import EarthLocation

    return EarthLocation(lon=HET_LON * u.deg, lat=HET_LAT * u.deg, height=HET_HEIGHT * u.m)


def _altaz(body: str, unix: float):
    import astropy.units as u
    from astropy.coordinates import AltAz, get_body
    from astropy.time import Time

    when = Time(unix, format="unix")
    return get_body(body, when, _site()).transform_to(
        AltAz(obstime=when, location=_site(), pressure=0 * u.hPa))


def _crossing(unix_lo: float, unix_hi: float, altitude: float) -> float:
    """When astropy's Sun crosses ``altitude`` between two times: its altitude every STEP s in
    one call, the crossing interpolated between the two samples around it (to a second)."""
    times = np.arange(unix_lo, unix_hi, STEP)
    alt = _altaz("sun", times).alt.deg - altitude
    i = int(np.flatnonzero(np.sign(alt[:-1]) != np.sign(alt[1:]))[0])
    return float(times[i] + STEP * alt[i] / (alt[i] - alt[i + 1]))


@pytest.mark.parametrize("hours", [0, 3, 7, 13, 20])
def test_moon_place_matches_astropy(hours):
    unix = dt.datetime(2017, 11, 25, 2, 0, tzinfo=UTC).timestamp() + hours * 3600
    found = moon(unix)
    reference = _altaz("moon", unix)
    assert found.alt == pytest.approx(reference.alt.deg, abs=DEGREES)
    # azimuth on the sky: the difference shrinks with the cosine of the altitude
    daz = (found.az - reference.az.deg + 180) % 360 - 180
    assert abs(daz) * np.cos(np.radians(reference.alt.deg)) < DEGREES


def test_illumination_full_and_new_and_between():
    assert moon(FULL.timestamp()).illumination > 0.99
    assert moon(NEW.timestamp()).illumination < 0.01
    # a week after new: about half lit; the elongation gives it to well under a percent
    unix = (NEW + dt.timedelta(days=7)).timestamp()
    import astropy.units as u
    from astropy.coordinates import get_body
    from astropy.time import Time

    when = Time(unix, format="unix")
    elongation = get_body("sun", when).separation(get_body("moon", when)).to_value(u.rad)
    assert moon(unix).illumination == pytest.approx((1 - np.cos(elongation)) / 2, abs=0.01)
    assert 0.3 < moon(unix).illumination < 0.7


def test_sun_and_dark_time_match_astropy():
    night = dt.datetime(2017, 11, 19, 3, 0, tzinfo=UTC).timestamp()
    found = almanac(night)
    assert found.sun == pytest.approx(_altaz("sun", night).alt.deg, abs=DEGREES)
    dusk = _crossing(night - 6 * 3600, night, -18.0)
    dawn = _crossing(night, night + 12 * 3600, -18.0)
    assert found.dark_start == pytest.approx(dusk, abs=SECONDS)
    assert found.dark_end == pytest.approx(dawn, abs=SECONDS)
    # in daytime, the coming night's dark time (the countdown to dark)
    day = dt.datetime(2017, 11, 18, 20, 0, tzinfo=UTC).timestamp()
    coming = almanac(day, -12.0)
    assert coming.sun > 0 and coming.dark_start > day
    assert coming.dark_start == pytest.approx(_crossing(day, day + 8 * 3600, -12.0),
                                              abs=SECONDS)


def test_separation_matches_astropy():
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    pairs = [(1.0, 51.0, 3.5, 49.0), (23.9, -10.0, 0.1, 10.0), (12.0, 89.0, 0.0, 89.0)]
    for ra1, dec1, ra2, dec2 in pairs:
        reference = SkyCoord(ra1 * 15 * u.deg, dec1 * u.deg).separation(
            SkyCoord(ra2 * 15 * u.deg, dec2 * u.deg)).deg
        assert separation(ra1, dec1, ra2, dec2) == pytest.approx(reference, abs=1e-6)


def test_as_dict_is_json_ready():
    data = almanac(dt.datetime(2017, 11, 19, 3, 0, tzinfo=UTC).timestamp()).as_dict()
    assert set(data) == {"t", "sun", "sun_limit", "dark_start", "dark_end", "moon"}
    assert set(data["moon"]) == {"alt", "az", "ra", "dec", "illumination"}
    assert all(isinstance(v, float) for v in data["moon"].values())
