"""What an astronomer reads first at HET, for one instant: the Sun's altitude, the dark time
around it (for the countdowns to dark and to dawn), and the Moon: where it is, how much of it
is lit, and how far it is from a shot.

The Sun comes from :mod:`ocd.sky.het` (the scheduler's own twilight, so the board and the
scheduler agree); the Moon from astropy (``get_body``: its topocentric place matters, the Moon
is up to a degree off its geocentric place). astropy takes tens of milliseconds a call and a
second to import: callers compute this off their event loop, about once a minute.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ocd.sky import het


@dataclass(frozen=True)
class Moon:
    """The Moon seen from HET: topocentric, geometric (no refraction), degrees."""

    alt: float
    az: float
    #: Apparent right ascension (hours) and declination (degrees), GCRS axes (the shots'
    #: ICRS axes to well under an arcminute): what a distance to a shot is measured from.
    ra: float
    dec: float
    #: Fraction of the disc lit, 0 (new) to 1 (full).
    illumination: float


@dataclass(frozen=True)
class Almanac:
    """One instant at HET (Unix seconds ``t``)."""

    t: float
    sun: float
    #: Sun altitude (degrees) that makes the dark time, and that dark time: the one containing
    #: ``t``, or the next one (Unix seconds).
    sun_limit: float
    dark_start: float
    dark_end: float
    moon: Moon

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, rounded as a page shows it."""
        data = asdict(self)
        data["sun"] = round(self.sun, 2)
        data["moon"] = {k: round(v, 4 if k == "illumination" else 3)
                        for k, v in data["moon"].items()}
        return data


def _site() -> Any:
    from astropy import units as u
    from astropy.coordinates import EarthLocation

    return EarthLocation.from_geodetic(het.LONGITUDE * u.deg, het.LATITUDE * u.deg,
                                       het.ELEVATION * u.m)


def moon(when: float) -> Moon:
    """The Moon at ``when`` (Unix seconds), seen from HET."""
    from astropy import units as u
    from astropy.coordinates import AltAz, get_body
    from astropy.time import Time

    het.no_iers_download()
    time = Time(when, format="unix", scale="utc")
    site = _site()
    body = get_body("moon", time, site)
    sun = get_body("sun", time, site)
    altaz = body.transform_to(AltAz(obstime=time, location=site, pressure=0 * u.hPa))
    # the phase angle, Sun-Moon-Earth, from the elongation and the two distances
    elongation = float(sun.separation(body).rad)
    sun_km, moon_km = float(sun.distance.to_value(u.km)), float(body.distance.to_value(u.km))
    phase = math.atan2(sun_km * math.sin(elongation), moon_km - sun_km * math.cos(elongation))
    return Moon(alt=float(altaz.alt.deg), az=float(altaz.az.deg),
                ra=float(body.ra.hour), dec=float(body.dec.deg),
                illumination=(1.0 + math.cos(phase)) / 2.0)


def almanac(when: float, sun_limit: float = -18.0) -> Almanac:
    """The Sun, the dark time and the Moon at ``when`` (Unix seconds)."""
    sun, start, end = het.night(when, sun_limit)
    return Almanac(t=when, sun=sun, sun_limit=sun_limit, dark_start=start, dark_end=end,
                   moon=moon(when))


def separation(ra1_hours: float, dec1_deg: float, ra2_hours: float, dec2_deg: float) -> float:
    """Angle on the sky between two places, degrees."""
    a = het.unit_vectors(ra1_hours, dec1_deg)
    b = het.unit_vectors(ra2_hours, dec2_deg)
    cos = float(np.clip(np.sum(a * b), -1.0, 1.0))
    return math.degrees(math.acos(cos))
