"""Hobby-Eberly Telescope geometry: when a target can be observed, for thousands at once.

The HET's primary mirror is fixed at altitude 55.055223 deg; the structure turns in azimuth
and stays parked while the tracker follows the target across the focal surface, up to about
8.4 deg from the parked (azimuth, 55 deg) point. A target whose declination lies in the
two-track band crosses the 55 deg circle twice a day: rising on the East track, setting on the
West track. Just outside the band a single track on the meridian (north at azimuth 0, south at
azimuth 180) still brings it within reach; beyond that it is never observable.

Everything here is vectorised numpy. Positions are taken to the true equator of date with
pyerfa (frame bias, precession, nutation and annual aberration of the IAU 2006/2000A model,
the same routines astropy uses), so results agree with an astropy ``AltAz`` transform to a few
thousandths of a degree while costing a fraction of it. Approximations, all below 0.005 deg:
UT1 is taken equal to UTC (|UT1 - UTC| < 0.9 s), polar motion, diurnal aberration and light
deflection are ignored, and there is no refraction (altitudes are geometric). Nothing here
reads IERS tables or touches the network.

Times are Unix seconds (UTC, as :meth:`datetime.timestamp` gives) in and out; angles are
degrees at the interface and radians inside.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import lru_cache

import erfa
import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Site latitude, degrees north (McDonald Observatory, Mount Fowlkes).
LATITUDE = 30.681436
#: Site longitude, degrees east (negative: west of Greenwich).
LONGITUDE = -104.0147
#: Site elevation, metres (only for astropy comparisons: nothing here depends on it).
ELEVATION = 2000.0
#: Fixed altitude of the primary mirror's axis, degrees.
ALTITUDE = 55.055223
#: How far from the parked (azimuth, ALTITUDE) point the tracker can follow a target, degrees.
REACH = 8.4

#: Declination band (degrees) where a target crosses the 55 deg circle: two tracks, E and W.
DEC_TWO_TRACK_MIN = LATITUDE - (90.0 - ALTITUDE)
DEC_TWO_TRACK_MAX = LATITUDE + (90.0 - ALTITUDE)
#: Declination limits (degrees) of the single meridian tracks; beyond them never observable.
DEC_MIN = DEC_TWO_TRACK_MIN - REACH
DEC_MAX = DEC_TWO_TRACK_MAX + REACH

#: Earth rotation rate relative to the stars, radians per second of UTC.
SIDEREAL_RATE = 2.0 * math.pi * 1.00273781191135448 / 86400.0
#: Apparent daily motion of the Sun in hour angle, radians per second (one turn a solar day).
SOLAR_RATE = 2.0 * math.pi / 86400.0

_LAT = math.radians(LATITUDE)
_LON = math.radians(LONGITUDE)
_ALT = math.radians(ALTITUDE)
_SIN_LAT, _COS_LAT = math.sin(_LAT), math.cos(_LAT)
_SIN_ALT, _COS_ALT = math.sin(_ALT), math.cos(_ALT)
_COS_REACH = math.cos(math.radians(REACH))
#: The points at 55 deg on the meridian, north (azimuth 0) and south (azimuth 180).
_SIN_NORTH, _COS_NORTH = math.sin(_LAT + math.pi / 2 - _ALT), math.cos(_LAT + math.pi / 2 - _ALT)
_SIN_SOUTH, _COS_SOUTH = math.sin(_LAT - math.pi / 2 + _ALT), math.cos(_LAT - math.pi / 2 + _ALT)
#: With P = cos(alt) cos(lat) and Q = sin(alt) sin(lat): cos(az_E) = (sin dec - Q) / P.
_P = _COS_ALT * _COS_LAT
_Q = _SIN_ALT * _SIN_LAT
_UNIX_EPOCH_JD = 2440587.5
_TWO_PI = 2.0 * math.pi
# (the constants are Python floats: the Sun's scalar arithmetic is several times faster
# with them than with numpy scalars, and arrays take them alike)

FloatArray = NDArray[np.float64]


def unix_seconds(when: dt.datetime | float) -> float:
    """Unix seconds of an aware datetime (a naive one is taken as UTC) or of a number."""
    if isinstance(when, dt.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        return when.timestamp()
    return float(when)


def to_datetime(seconds: float) -> dt.datetime:
    """The aware UTC datetime of Unix seconds (the inverse of :func:`unix_seconds`)."""
    return dt.datetime.fromtimestamp(float(seconds), tz=dt.timezone.utc)


# -- apparent places ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Epoch:
    """What one instant needs for apparent places: the erfa astrometry context and the ERA."""

    unix: float
    tt: tuple[float, float]
    astrom: np.ndarray
    local_era: float  # Earth rotation angle plus longitude: hour angle = local_era - CIRS ra

    def shifted(self, unix: float) -> _Epoch:
        """The same context at another instant of the same night: only the Earth's rotation is
        recomputed (precession, nutation and aberration change by under 1" a day)."""
        days = (unix - self.unix) / 86400.0
        utc1, utc2 = _utc_jd(unix)
        return _Epoch(unix, (self.tt[0], self.tt[1] + days), self.astrom,
                      float(erfa.era00(utc1, utc2)) + _LON)


def _utc_jd(unix: float) -> tuple[float, float]:
    day, frac = divmod(unix, 86400.0)
    return _UNIX_EPOCH_JD + day, frac / 86400.0


@lru_cache(maxsize=16)
def _epoch_at(unix: float) -> _Epoch:
    utc1, utc2 = _utc_jd(unix)
    tai1, tai2 = erfa.utctai(utc1, utc2)
    tt1, tt2 = erfa.taitt(tai1, tai2)
    astrom, _ = erfa.apci13(tt1, tt2)
    era = erfa.era00(utc1, utc2)  # UT1 taken as UTC
    return _Epoch(unix, (float(tt1), float(tt2)), astrom, float(era) + _LON)


#: Seconds after 00:00 UTC of the mean local noon at HET: where a night begins, for the
#: astrometry (:func:`noon_before`), the night's date (:mod:`ocd.sky.nights`) and the board's
#: alarms of tonight.
LOCAL_NOON_UTC = (12.0 - LONGITUDE / 15.0) * 3600.0


def noon_before(when: dt.datetime | float) -> float:
    """Unix seconds of the mean local noon at HET at or before ``when``: the astrometry of a
    night (the aberration and precession context, the Sun's path) is read there once."""
    unix = unix_seconds(when)
    return math.floor((unix - LOCAL_NOON_UTC) / 86400.0) * 86400.0 + LOCAL_NOON_UTC


def _epoch(when: dt.datetime | float) -> _Epoch:
    unix = unix_seconds(when)
    noon = _epoch_at(noon_before(unix))
    # one ephemeris context a night (a scheduler asks every two minutes of a simulated
    # night): within it only the Earth's rotation is recomputed (the rest moves under 1")
    return noon if noon.unix == unix else noon.shifted(unix)


@dataclass(frozen=True)
class _Place:
    """Apparent places of date: local hour angle now (radians), sine and cosine of the
    declination of date."""

    ha: FloatArray
    sin_dec: FloatArray
    cos_dec: FloatArray

    @property
    def dec(self) -> FloatArray:
        return np.arctan2(self.sin_dec, self.cos_dec)


def unit_vectors(ra_hours: ArrayLike, dec_deg: ArrayLike) -> FloatArray:
    """ICRS unit vectors (shape ``(..., 3)``) of RA (hours) and Dec (degrees): the form every
    function here takes as ``vectors=`` to skip recomputing them for the same targets."""
    ra = np.radians(np.asarray(ra_hours, dtype=float) * 15.0)
    dec = np.radians(np.asarray(dec_deg, dtype=float))
    ra, dec = np.broadcast_arrays(ra, dec)
    cos_dec = np.cos(dec)
    out = np.empty(ra.shape + (3,))
    out[..., 0] = cos_dec * np.cos(ra)
    out[..., 1] = cos_dec * np.sin(ra)
    out[..., 2] = np.sin(dec)
    return out


def _apparent(vectors: FloatArray, epoch: _Epoch) -> _Place:
    """Apparent places at ``epoch`` of ICRS unit ``vectors``.

    Annual aberration then bias-precession-nutation, as erfa's ``atciq`` does minus the light
    deflection by the Sun (below a milliarcsecond away from the Sun).
    """
    astrom = epoch.astrom
    p = erfa.ab(vectors, astrom["v"], astrom["em"], astrom["bm1"])
    q = p @ astrom["bpn"].T
    x, y, z = q[..., 0], q[..., 1], q[..., 2]
    return _Place(epoch.local_era - np.arctan2(y, x), z, np.sqrt(x * x + y * y))


def _vectors(ra_hours: ArrayLike | None, dec_deg: ArrayLike | None,
             vectors: FloatArray | None) -> FloatArray:
    if vectors is not None:
        return np.asarray(vectors, dtype=float)
    if ra_hours is None or dec_deg is None:
        raise TypeError("give ra_hours and dec_deg, or vectors")
    return unit_vectors(ra_hours, dec_deg)


def _altaz(ha: FloatArray, sin_dec: FloatArray,
           cos_dec: FloatArray) -> tuple[FloatArray, FloatArray]:
    cos_ha = np.cos(ha)
    sin_alt = sin_dec * _SIN_LAT + cos_dec * _COS_LAT * cos_ha
    alt = np.arcsin(np.clip(sin_alt, -1.0, 1.0))
    az = np.arctan2(-cos_dec * np.sin(ha), sin_dec * _COS_LAT - cos_dec * _SIN_LAT * cos_ha)
    return np.degrees(alt), np.degrees(az) % 360.0


def altaz(ra_hours: ArrayLike, dec_deg: ArrayLike,
          when: dt.datetime | float) -> tuple[FloatArray, FloatArray]:
    """Geometric altitude and azimuth (degrees, azimuth from north through east) at ``when``."""
    place = _apparent(unit_vectors(ra_hours, dec_deg), _epoch(when))
    return _altaz(place.ha, place.sin_dec, place.cos_dec)


# -- the 55 degree circle ----------------------------------------------------------------------

def track_azimuths(dec_deg: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """East and West track azimuths (degrees) of targets at ``dec_deg``; NaN outside the band.

    ``az_E = acos((sin dec - Q) / P)``, ``az_W = 360 - az_E``, with ``P = cos(alt) cos(lat)``
    and ``Q = sin(alt) sin(lat)``. Give the declination of date for exact azimuths; a J2000
    one is off by the precession since 2000 (up to a few hundredths of a degree per decade).
    """
    return _track_azimuths(np.sin(np.radians(np.asarray(dec_deg, dtype=float))))


def _track_azimuths(sin_dec: FloatArray) -> tuple[FloatArray, FloatArray]:
    cos_az = (sin_dec - _Q) / _P
    az_e = np.degrees(np.arccos(np.where(np.abs(cos_az) <= 1.0, cos_az, np.nan)))
    return az_e, 360.0 - az_e


def park_point(azimuth_deg: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Hour angle and declination (radians) of the point (azimuth, ALTITUDE) on the sky."""
    az = np.radians(np.asarray(azimuth_deg, dtype=float))
    sin_dec = _SIN_ALT * _SIN_LAT + _COS_ALT * _COS_LAT * np.cos(az)
    ha = np.arctan2(-np.sin(az) * _COS_ALT, _SIN_ALT * _COS_LAT - _COS_ALT * _SIN_LAT * np.cos(az))
    return ha, np.arcsin(np.clip(sin_dec, -1.0, 1.0))


def _half_width(sin_dec: FloatArray, cos_dec: FloatArray, sin_dec0: FloatArray,
                cos_dec0: FloatArray) -> FloatArray:
    """Hour-angle half width (radians) of the stretch of a target's diurnal circle within REACH
    of a fixed point at declination ``dec0``; NaN if it never comes that close."""
    cos_h = (_COS_REACH - sin_dec * sin_dec0) / (cos_dec * cos_dec0)
    return np.arccos(np.where(cos_h <= 1.0, np.maximum(cos_h, -1.0), np.nan))


def _window_times(ha_now: FloatArray, h0: FloatArray, half: FloatArray,
                  now: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Start, centre and end (Unix seconds) of the window around hour angle ``h0`` that is open
    now or opens next: the first whose end is after ``now``."""
    ahead = h0 - ha_now + half
    ahead -= _TWO_PI * np.floor(ahead / _TWO_PI)
    centre = now + (ahead - half) / SIDEREAL_RATE
    span = half / SIDEREAL_RATE
    return centre - span, centre, centre + span


@dataclass(frozen=True)
class Tracks:
    """Each target's East and West tracks, as arrays of the targets' shape.

    ``n_tracks`` is 2 in the two-track band, 1 for the single meridian track just outside it
    (then the E and W fields hold the same track, at azimuth 0 or 180) and 0 when the target is
    never observable (NaN everywhere). Times are Unix seconds of the window open now or opening
    next (a window that closed is replaced by the next day's); the centre is the 55 deg
    crossing (the meridian passage for a single track).
    """

    n_tracks: NDArray[np.int8]
    dec_of_date: FloatArray
    az_e: FloatArray
    az_w: FloatArray
    start_e: FloatArray
    centre_e: FloatArray
    end_e: FloatArray
    start_w: FloatArray
    centre_w: FloatArray
    end_w: FloatArray

    @property
    def length_e(self) -> FloatArray:
        """Length of the East window, seconds."""
        return self.end_e - self.start_e

    @property
    def length_w(self) -> FloatArray:
        """Length of the West window, seconds."""
        return self.end_w - self.start_w


@dataclass(frozen=True)
class Sky:
    """Apparent places of many targets at one instant: compute once, then ask for their tracks
    and for windows at any parked azimuth without redoing the astrometry."""

    epoch: _Epoch
    place: _Place

    def tracks(self) -> Tracks:
        """East/West track azimuths and windows (see :func:`tracks`)."""
        place = self.place
        sin_dec, cos_dec = place.sin_dec, place.cos_dec
        with np.errstate(invalid="ignore", divide="ignore"):
            cos_hc = (_SIN_ALT - sin_dec * _SIN_LAT) / (cos_dec * _COS_LAT)
            two = np.abs(cos_hc) <= 1.0
            north = sin_dec > _SIN_LAT  # outside the band: the nearer meridian point
            h_cross = np.arccos(np.where(two, cos_hc, np.nan))
            # the structure parks at the target's own crossing point (declination dec), or at
            # the meridian point at 55 deg on the target's side for a single track
            sin_dec0 = np.where(two, sin_dec, np.where(north, _SIN_NORTH, _SIN_SOUTH))
            cos_dec0 = np.where(two, cos_dec, np.where(north, _COS_NORTH, _COS_SOUTH))
            half = _half_width(sin_dec, cos_dec, sin_dec0, cos_dec0)
            az_e, az_w = _track_azimuths(sin_dec)
        single = ~two & ~np.isnan(half)
        h0_e = np.where(two, -h_cross, 0.0)
        meridian_az = np.where(north, 0.0, 180.0)
        az_e = np.where(single, meridian_az, az_e)
        az_w = np.where(single, meridian_az, az_w)
        start_e, centre_e, end_e = _window_times(place.ha, h0_e, half, self.epoch.unix)
        start_w, centre_w, end_w = _window_times(place.ha, -h0_e, half, self.epoch.unix)
        n_tracks = np.where(two, 2, np.where(single, 1, 0)).astype(np.int8)
        return Tracks(n_tracks, np.degrees(place.dec), az_e, az_w, start_e, centre_e, end_e,
                      start_w, centre_w, end_w)

    def windows_at(self, park_az: ArrayLike, index: ArrayLike | None = None
                   ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Windows with the structure parked at ``park_az`` (see :func:`windows_at`), for the
        targets selected by ``index`` (default: all)."""
        place = self.place
        ha, sin_dec, cos_dec = place.ha, place.sin_dec, place.cos_dec
        if index is not None:
            chosen = np.asarray(index)
            ha, sin_dec, cos_dec = ha[chosen], sin_dec[chosen], cos_dec[chosen]
        h0, dec0 = park_point(park_az)
        with np.errstate(invalid="ignore"):
            half = _half_width(sin_dec, cos_dec, np.sin(dec0), np.cos(dec0))
        return _window_times(ha, h0, half, self.epoch.unix)


def sky(ra_hours: ArrayLike | None, dec_deg: ArrayLike | None, when: dt.datetime | float,
        vectors: FloatArray | None = None) -> Sky:
    """Apparent places at ``when`` of ICRS targets given by RA (hours) and Dec (degrees), or by
    their unit ``vectors`` (:func:`unit_vectors`, to reuse them across calls)."""
    epoch = _epoch(when)
    return Sky(epoch, _apparent(_vectors(ra_hours, dec_deg, vectors), epoch))


def tracks(ra_hours: ArrayLike | None, dec_deg: ArrayLike | None, when: dt.datetime | float,
           vectors: FloatArray | None = None) -> Tracks:
    """East/West track azimuths and windows of ICRS targets (RA in hours, Dec in degrees).

    For each track the window is the time the target spends within REACH of the point where
    the structure parks: its own 55 deg crossing point for two tracks, the meridian point at
    55 deg (azimuth 0 or 180) for a single track.
    """
    return sky(ra_hours, dec_deg, when, vectors).tracks()


def crossing_times(ra_hours: ArrayLike, dec_deg: ArrayLike,
                   when: dt.datetime | float) -> tuple[FloatArray, FloatArray]:
    """UTC Unix seconds of the East and West 55 deg crossings of the windows open now or next."""
    found = tracks(ra_hours, dec_deg, when)
    return found.centre_e, found.centre_w


def windows_at(ra_hours: ArrayLike | None, dec_deg: ArrayLike | None,
               when: dt.datetime | float, park_az: ArrayLike,
               vectors: FloatArray | None = None) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Start, centre and end (Unix seconds) of the windows with the structure parked at
    ``park_az`` (degrees; a shot's ``forced_az``): while the target is within REACH of
    (park_az, ALTITUDE). NaN where it never comes that close."""
    return sky(ra_hours, dec_deg, when, vectors).windows_at(park_az)


# -- the Sun -----------------------------------------------------------------------------------

def _sun_place(epoch: _Epoch) -> tuple[float, float]:
    """Apparent right ascension and declination of date (radians) of the Sun's centre."""
    heliocentric, _ = erfa.epv00(*epoch.tt)  # TDB - TT < 2 ms: negligible here
    direction = -heliocentric[0]  # the Sun seen from the Earth, ICRS axes
    place = _apparent(direction / np.sqrt(direction @ direction), epoch)
    return float(epoch.local_era - place.ha), float(place.dec)


@dataclass(frozen=True)
class _SunPath:
    """The Sun's apparent place around an instant, linear in time (its right ascension and
    declination change by about a degree a day, smoothly: the error over a day stays within
    a few arcseconds), so that twilight times need no further ephemeris calls."""

    unix: float
    local_era: float
    ra: float
    dec: float
    ra_rate: float
    dec_rate: float

    @classmethod
    def at(cls, when: dt.datetime | float) -> _SunPath:
        base = _epoch(when)
        ra0, dec0 = _sun_place(base)
        ra1, dec1 = _sun_place(base.shifted(base.unix + 86400.0))
        return cls(base.unix, base.local_era, ra0, dec0, _wrap(ra1 - ra0) / 86400.0,
                   (dec1 - dec0) / 86400.0)

    def place(self, seconds: float) -> tuple[float, float]:
        """Local hour angle and declination (radians) ``seconds`` after the path's instant."""
        ha = self.local_era + SIDEREAL_RATE * seconds - (self.ra + self.ra_rate * seconds)
        return ha, self.dec + self.dec_rate * seconds

    def altitude(self, seconds: float = 0.0) -> float:
        # (scalars: the math module, a tenth of numpy's cost per call)
        ha, dec = self.place(seconds)
        sin_alt = math.sin(dec) * _SIN_LAT + math.cos(dec) * _COS_LAT * math.cos(ha)
        return math.degrees(math.asin(sin_alt))

    def crossing(self, altitude: float, rising: bool, after: float = 0.0,
                 forward: bool = True) -> float | None:
        """Seconds from the path's instant to the first crossing of ``altitude`` degrees after
        (``forward``) or before ``after`` seconds; None if the Sun does not reach it."""
        sin_alt = math.sin(math.radians(altitude))
        seconds = after
        for step in range(4):
            ha, dec = self.place(seconds)
            cos_h = (sin_alt - math.sin(dec) * _SIN_LAT) / (math.cos(dec) * _COS_LAT)
            if abs(cos_h) > 1.0:
                return None
            target = -math.acos(cos_h) if rising else math.acos(cos_h)
            if step == 0:
                ahead = (target - ha) % _TWO_PI
                seconds += (ahead if forward else ahead - _TWO_PI) / SOLAR_RATE
            else:
                seconds += _wrap(target - ha) / SOLAR_RATE
        return float(seconds)


@lru_cache(maxsize=64)
def _sun_path_from(noon: float) -> _SunPath:
    """The Sun's path from a local noon (:func:`noon_before`) to the next: a scheduler asks
    for the night at every try (every two minutes of a simulated night), and one ephemeris
    reading a night is as good (the linear path is within 4" of the Sun over the day, its
    -18 deg crossings within a second of :func:`sun_crossing`'s); the whole night then has
    one dark time, to the microsecond."""
    return _SunPath.at(noon)


def sun_altitude(when: dt.datetime | float) -> float:
    """Geometric altitude of the Sun's centre at ``when``, degrees."""
    return _SunPath.at(when).altitude()


def _wrap(angle: float) -> float:
    return (angle + math.pi) % _TWO_PI - math.pi


def sun_crossing(when: dt.datetime | float, altitude: float, rising: bool,
                 forward: bool = True) -> float | None:
    """Unix seconds when the Sun next (``forward``) or last crosses ``altitude`` degrees,
    rising or setting; None if it does not reach that altitude (not at HET's latitude).
    Accurate to about a second."""
    path = _SunPath.at(when)
    found = path.crossing(altitude, rising, forward=forward)
    return None if found is None else path.unix + found


def dark_interval(when: dt.datetime | float, sun_limit: float = -18.0) -> tuple[float, float]:
    """Start and end (Unix seconds) of the night's dark time (Sun below ``sun_limit`` degrees)
    containing ``when``, or of the next one when it is not dark at ``when``."""
    return night(when, sun_limit)[1:]


@lru_cache(maxsize=64)
def _tonight(noon: float, sun_limit: float) -> tuple[float, float] | None:
    """Seconds from a local noon to the start and the end of the dark time after it (Sun
    below ``sun_limit``), on that night's path; None when the Sun does not get there. A
    scheduler asks at every try; the night has one answer."""
    path = _sun_path_from(noon)
    start = path.crossing(sun_limit, rising=False)
    end = None if start is None else path.crossing(sun_limit, rising=True, after=start)
    return None if start is None or end is None else (start, end)


def night(when: dt.datetime | float, sun_limit: float = -18.0) -> tuple[float, float, float]:
    """The Sun's altitude at ``when`` (degrees) and the start and end of the dark time as
    :func:`dark_interval` gives them, from one ephemeris reading."""
    unix = unix_seconds(when)
    noon = noon_before(unix)
    path = _sun_path_from(noon)
    offset = unix - path.unix
    altitude = path.altitude(offset)
    tonight = _tonight(noon, sun_limit)
    if tonight is not None and (altitude < sun_limit or offset < tonight[0]):
        return altitude, path.unix + tonight[0], path.unix + tonight[1]
    if altitude < sun_limit:
        start = path.crossing(sun_limit, rising=False, after=offset, forward=False)
        end = path.crossing(sun_limit, rising=True, after=offset)
    else:
        start = path.crossing(sun_limit, rising=False, after=offset)
        end = None if start is None else path.crossing(sun_limit, rising=True, after=start)
    if start is None or end is None:
        raise ValueError(f"the Sun does not cross {sun_limit} deg at HET's latitude")
    return altitude, path.unix + start, path.unix + end


def no_iers_download() -> None:
    """Keep astropy from fetching IERS tables (this code needs none; tests and benchmarks that
    compare with astropy's AltAz call this so that nothing tries the network)."""
    from astropy.utils import iers

    iers.conf.auto_download = False
