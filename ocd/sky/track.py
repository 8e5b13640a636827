"""Which track a shot run by hand takes: the one asked for, else the shot's forced track, else
the first the built-in scheduler finds observable now (pure: a time and settings in)."""

from __future__ import annotations

import datetime as dt

from ocd.errors import UsageError
from ocd.shots.model import Shot
from ocd.sky.scheduler import ScheduleSettings, choose


def choose_track(shot: Shot, track: str | None, when: dt.datetime,
                 settings: ScheduleSettings) -> str:
    """The track to use at ``when``: ``track`` (``--track``), else the shot's forced track,
    else the one the built-in scheduler finds observable; none observable is a usage error
    that says why for each track and how to run the shot anyway."""
    if track is not None:
        return track
    if shot.track in (0, 1):
        return "EW"[shot.track]
    result = choose([shot], when, settings=settings)
    usable = [c for c in result.candidates if c.observable]
    if not usable:
        reasons = "; ".join(f"{c.track}: {c.reason}" for c in result.candidates) or result.reason
        raise UsageError(f"shot {shot.shotid} has no observable track now ({reasons}): "
                         "give --track E or --track W to run it anyway")
    return usable[0].track
