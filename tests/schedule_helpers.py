"""Shots placed on the sky so that their track windows fall where a test needs them."""

from __future__ import annotations

import datetime as dt

from ocd.shots.model import Shot
from ocd.sky import het

UTC = dt.timezone.utc
#: A dark November night at HET: dark time runs from about 01:21 to 12:02 UTC.
NIGHT = dt.datetime(2017, 11, 19, 5, 0, tzinfo=UTC)


def make_shot(shotid: str, ra: float, dec: float, track: int = 2, priority: int = 1,
              n_obs: int = 1, forced_az: float | None = None) -> Shot:
    return Shot(shotid, ra, dec, track, priority, n_obs, forced_az, 1, "HET18-2-100",
                f"OBJ_{shotid}", "000", "00:00:00.00", "+00:00:00.00", 2000.0, 0.0, 0.0, 2000.0)


def placed(shotid: str, dec: float, side: str, centre_minutes: float,
           when: dt.datetime = NIGHT, **fields) -> Shot:
    """A shot at ``dec`` whose ``side`` ("E"/"W") window is centred ``centre_minutes`` after
    ``when`` (negative: before; the window must still be open or ahead at ``when``)."""
    target = when.timestamp() + centre_minutes * 60
    ra = 0.0
    for _ in range(4):  # precession depends on RA: a few corrections converge
        found = het.tracks([ra], [dec], when)
        centre = float(getattr(found, f"centre_{side.lower()}")[0])
        ra = (ra + (target - centre) / 3600 * 1.00273790935) % 24
    shot = make_shot(shotid, ra, dec, **fields)
    landed = float(getattr(het.tracks([ra], [dec], when), f"centre_{side.lower()}")[0])
    assert abs(landed - target) < 1, (shotid, landed - target)
    return shot


def window(shot: Shot, side: str, when: dt.datetime = NIGHT) -> tuple[float, float, float]:
    """Start, end and azimuth of the shot's window on ``side`` by the geometry module."""
    found = het.tracks([shot.ra], [shot.dec], when)
    letter = side.lower()
    return (float(getattr(found, f"start_{letter}")[0]),
            float(getattr(found, f"end_{letter}")[0]),
            float(getattr(found, f"az_{letter}")[0]))
