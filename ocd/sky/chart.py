"""The data of a sky chart of HET's fixed-altitude annulus: where each shot of the list is now,
whether it is done, remaining or observable now, and where the telescope points.

Pure: the shot table, a time and the scheduler's settings in, JSON-ready data out (the board
draws it). "Observable now" is the built-in scheduler's own verdict (:func:`choose`), so the
chart and the scheduler never disagree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ocd.shots.model import ShotTable
from ocd.sky import het
from ocd.sky.scheduler import Conditions, ScheduleSettings, choose


def _rounded(value: float, digits: int = 2) -> float | None:
    return None if np.isnan(value) else round(float(value), digits)


def shot_chart(table: ShotTable, when: float, settings: ScheduleSettings | None = None,
               conditions: Conditions | None = None) -> dict[str, Any]:
    """Every shot's altitude and azimuth at ``when`` (Unix seconds of OCD's clock), its East
    and West track azimuths, ``n_obs`` and whether it is observable now; the scheduler's choice
    and reason; the annulus (altitude and reach, degrees)."""
    result = choose(table, het.to_datetime(when), conditions, settings)
    observable = {c.shotid for c in result.candidates if c.observable}
    shots: list[dict[str, Any]] = []
    if len(table):
        alt, az = het.altaz(table.ra, table.dec, when)
        az_e, az_w = het.track_azimuths(table.dec)
        for i, shot in enumerate(table.shots):
            shots.append({"id": shot.shotid, "alt": _rounded(alt[i]), "az": _rounded(az[i]),
                          "track_az": [_rounded(az_e[i]), _rounded(az_w[i])],
                          "n_obs": shot.n_obs, "observable": shot.shotid in observable})
    choice = result.choice
    return {"t": when, "altitude": het.ALTITUDE, "reach": het.REACH, "shots": shots,
            "choice": None if choice is None else {"id": choice.shotid, "track": choice.track},
            "reason": result.reason, "sun": _rounded(result.sun_altitude or np.nan, 1)}


def pointing_chart(ra_hours: float, dec_deg: float, when: float) -> dict[str, Any]:
    """Altitude and azimuth (degrees) at ``when`` of where the telescope points."""
    alt, az = het.altaz(ra_hours, dec_deg, when)
    return {"alt": _rounded(float(alt)), "az": _rounded(float(az))}
