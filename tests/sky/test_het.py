"""HET geometry checked against astropy's AltAz transform at the computed times."""

from __future__ import annotations

import datetime as dt
import socket

import numpy as np
import pytest

from ocd.sky import het

UTC = dt.timezone.utc
NIGHT = dt.datetime(2017, 11, 19, 3, 0, tzinfo=UTC)
TOLERANCE = 0.05  # degrees, the bound


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Nothing here may touch the network (astropy must not fetch IERS tables)."""
    het.no_iers_download()

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def astropy_altaz(ra_hours, dec_deg, unix_times):
    """Altitude and azimuth (degrees) by astropy, no refraction, as SkyCoord objects."""
    import astropy.units as u
    from astropy.coordinates import AltAz, EarthLocation, SkyCoord
    from astropy.time import Time

    site = EarthLocation(lon=het.LONGITUDE * u.deg, lat=het.LATITUDE * u.deg,
                         height=het.ELEVATION * u.m)
    frame = AltAz(obstime=Time(np.asarray(unix_times), format="unix"), location=site)
    return SkyCoord(np.asarray(ra_hours) * 15 * u.deg, np.asarray(dec_deg) * u.deg,
                    frame="icrs").transform_to(frame)


def separation_from_park(ra_hours, dec_deg, unix_times, park_az):
    """Angle (degrees) between targets and the parked (azimuth, 55.055 deg) points, by astropy."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    target = astropy_altaz(ra_hours, dec_deg, unix_times)
    park = SkyCoord(az=np.asarray(park_az) * u.deg,
                    alt=np.full(np.shape(park_az), het.ALTITUDE) * u.deg, frame=target.frame)
    return target.separation(park).deg


def angle_difference(a, b):
    return np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)


@pytest.fixture(scope="module")
def two_track_targets():
    rng = np.random.default_rng(5)
    ra = rng.uniform(0, 24, 300)
    dec = rng.uniform(het.DEC_TWO_TRACK_MIN + 0.3, het.DEC_TWO_TRACK_MAX - 0.3, 300)
    return ra, dec


def test_band_limits_match_the_documented_ones():
    assert pytest.approx(-4.3, abs=0.05) == het.DEC_TWO_TRACK_MIN
    assert pytest.approx(65.6, abs=0.05) == het.DEC_TWO_TRACK_MAX
    assert pytest.approx(-4.3 - 8.4, abs=0.05) == het.DEC_MIN
    assert pytest.approx(65.6 + 8.4, abs=0.05) == het.DEC_MAX


def test_track_azimuth_formula():
    dec = np.array([-4.0, 0.0, 20.0, 51.0, 65.0])
    lat, alt = np.radians(30.681436), np.radians(55.055223)
    p, q = np.cos(alt) * np.cos(lat), np.sin(alt) * np.sin(lat)
    expected = np.degrees(np.arccos((np.sin(np.radians(dec)) - q) / p))
    az_e, az_w = het.track_azimuths(dec)
    np.testing.assert_allclose(az_e, expected, atol=1e-9)
    np.testing.assert_allclose(az_w, 360.0 - expected, atol=1e-9)
    assert np.all(np.isnan(het.track_azimuths([-5.0, 66.0])[0]))


@pytest.mark.parametrize("track", ["e", "w"])
def test_crossing_times_put_the_target_at_55_degrees_on_its_azimuth(two_track_targets, track):
    ra, dec = two_track_targets
    found = het.tracks(ra, dec, NIGHT)
    assert np.all(found.n_tracks == 2)
    centre = getattr(found, f"centre_{track}")
    altaz = astropy_altaz(ra, dec, centre)
    assert np.abs(altaz.alt.deg - het.ALTITUDE).max() < TOLERANCE
    azimuth = getattr(found, f"az_{track}")
    assert angle_difference(altaz.az.deg, azimuth).max() < TOLERANCE
    # the azimuth is the formula's for the declination of date (precession since J2000)
    formula_e, formula_w = het.track_azimuths(found.dec_of_date)
    np.testing.assert_allclose(azimuth, formula_e if track == "e" else formula_w, atol=1e-9)
    assert np.all((found.az_e > 0) & (found.az_e < 180) & (found.az_w > 180))


@pytest.mark.parametrize("track", ["e", "w"])
def test_windows_end_where_the_target_leaves_the_tracker_reach(two_track_targets, track):
    ra, dec = two_track_targets
    found = het.tracks(ra, dec, NIGHT)
    start, end = getattr(found, f"start_{track}"), getattr(found, f"end_{track}")
    azimuth = getattr(found, f"az_{track}")
    for edge in (start, end):
        assert np.abs(separation_from_park(ra, dec, edge, azimuth) - het.REACH).max() < TOLERANCE
    assert separation_from_park(ra, dec, (start + end) / 2, azimuth).max() < TOLERANCE
    outside = separation_from_park(np.tile(ra, 2), np.tile(dec, 2),
                                   np.concatenate([start - 300, end + 300]), np.tile(azimuth, 2))
    assert outside.min() > het.REACH
    length = getattr(found, f"length_{track}")
    assert length.min() > 0.9 * 3600 and length.max() < 3 * 3600  # "about an hour" or more


def test_windows_are_the_ones_open_now_or_next(two_track_targets):
    ra, dec = two_track_targets
    now = NIGHT.timestamp()
    found = het.tracks(ra, dec, NIGHT)
    for start, end in ((found.start_e, found.end_e), (found.start_w, found.end_w)):
        assert np.all(end > now)
        assert np.all(start < now + 86164.1)
        open_now = start <= now
        assert 0 < open_now.sum() < len(ra)


@pytest.mark.parametrize("dec,meridian_az", [(68.5, 0.0), (72.0, 0.0), (-7.0, 180.0),
                                             (-11.5, 180.0)])
def test_single_track_just_outside_the_band(dec, meridian_az):
    ras = np.array([1.0, 7.5, 13.0, 20.25])
    decs = np.full(4, dec)
    found = het.tracks(ras, decs, NIGHT)
    assert np.all(found.n_tracks == 1)
    np.testing.assert_array_equal(found.az_e, meridian_az)
    np.testing.assert_array_equal(found.start_e, found.start_w)
    altaz = astropy_altaz(ras, decs, found.centre_e)  # the centre is the meridian passage
    assert angle_difference(altaz.az.deg, meridian_az).max() < TOLERANCE
    assert np.all(altaz.alt.deg < het.ALTITUDE)
    for edge in (found.start_e, found.end_e):
        separation = separation_from_park(ras, decs, edge, found.az_e)
        assert np.abs(separation - het.REACH).max() < TOLERANCE


def test_never_observable_beyond_the_single_tracks():
    found = het.tracks([3.0, 3.0, 12.0], [het.DEC_MAX + 0.2, 85.0, het.DEC_MIN - 0.2], NIGHT)
    assert found.n_tracks.tolist() == [0, 0, 0]
    assert np.all(np.isnan(found.start_e)) and np.all(np.isnan(found.az_w))


def test_parked_elsewhere_the_window_is_shorter_and_still_exact():
    ra, dec = np.array([2.0, 11.0]), np.array([0.5, 52.0])
    found = het.tracks(ra, dec, NIGHT)
    same = het.windows_at(ra, dec, NIGHT, found.az_w)
    np.testing.assert_allclose(same[0], found.start_w, atol=1.0)
    np.testing.assert_allclose(same[2], found.end_w, atol=1.0)
    moved = found.az_w + np.array([2.0, -3.0])
    start, _, end = het.windows_at(ra, dec, NIGHT, moved)
    assert np.all(end - start < found.length_w)
    for edge in (start, end):
        assert np.abs(separation_from_park(ra, dec, edge, moved) - het.REACH).max() < TOLERANCE
    never = het.windows_at([2.0], [50.0], NIGHT, [90.0])
    assert np.isnan(never[0][0])


def test_altaz_matches_astropy():
    rng = np.random.default_rng(9)
    ra, dec = rng.uniform(0, 24, 200), rng.uniform(-40, 85, 200)
    alt, az = het.altaz(ra, dec, NIGHT)
    reference = astropy_altaz(ra, dec, np.full(200, NIGHT.timestamp()))
    assert np.abs(alt - reference.alt.deg).max() < 0.01
    high = alt < 89
    assert angle_difference(az[high], reference.az.deg[high]).max() < 0.05


def test_sun_altitude_and_dark_time_match_astropy():
    import astropy.units as u
    from astropy.coordinates import AltAz, EarthLocation, get_body
    from astropy.time import Time

    site = EarthLocation(lon=het.LONGITUDE * u.deg, lat=het.LATITUDE * u.deg,
                         height=het.ELEVATION * u.m)

    def reference(unix: float) -> float:
        when = Time(unix, format="unix")
        return float(get_body("sun", when, site).transform_to(
            AltAz(obstime=when, location=site)).alt.deg)

    for hours in range(0, 24, 5):
        moment = NIGHT.timestamp() + hours * 3600
        assert het.sun_altitude(moment) == pytest.approx(reference(moment), abs=TOLERANCE)
    start, end = het.dark_interval(NIGHT)
    assert start < NIGHT.timestamp() < end
    assert 9 * 3600 < end - start < 12 * 3600  # a November night at 30 deg north
    assert reference(start) == pytest.approx(-18, abs=TOLERANCE)
    assert reference(end) == pytest.approx(-18, abs=TOLERANCE)
    noon = dt.datetime(2017, 11, 18, 19, 0, tzinfo=UTC)
    later_start, later_end = het.dark_interval(noon)  # daytime: the coming night
    assert later_start == pytest.approx(start, abs=1) and later_end == pytest.approx(end, abs=1)
    nautical, _ = het.dark_interval(NIGHT, -12.0)
    assert nautical < start and reference(nautical) == pytest.approx(-12, abs=TOLERANCE)


def test_vectorised_over_thousands():
    rng = np.random.default_rng(1)
    found = het.tracks(rng.uniform(0, 24, 10000), rng.uniform(-20, 80, 10000), NIGHT)
    assert found.start_e.shape == (10000,)
    counts = np.bincount(found.n_tracks, minlength=3)
    assert counts.min() > 0
    both = found.n_tracks == 2
    assert np.all(found.length_e[both] > 0)
