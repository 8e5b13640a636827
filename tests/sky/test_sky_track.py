"""The track of a shot run by hand (``ocd run_shot``, and the simulation's shots by hand)."""

from __future__ import annotations

import pytest

from ocd.errors import UsageError
from ocd.sky import het
from ocd.sky.scheduler import ScheduleSettings
from ocd.sky.track import choose_track
from tests.schedule_helpers import NIGHT, make_shot, placed

SETTINGS = ScheduleSettings()


def test_the_track_asked_for_wins_even_when_not_observable():
    polar = make_shot("POLAR", 3.0, 80.0)
    assert choose_track(polar, "W", NIGHT, SETTINGS) == "W"


def test_a_forced_track_is_taken_without_asking_the_scheduler():
    polar_east = make_shot("PE", 3.0, 80.0, track=0)
    polar_west = make_shot("PW", 3.0, 80.0, track=1)
    assert choose_track(polar_east, None, NIGHT, SETTINGS) == "E"
    assert choose_track(polar_west, None, NIGHT, SETTINGS) == "W"


def test_otherwise_the_track_the_scheduler_finds_observable_now():
    west_now = placed("WN", 0.0, "W", 0)
    east_now = placed("EN", 0.0, "E", 0)
    assert choose_track(west_now, None, NIGHT, SETTINGS) == "W"
    assert choose_track(east_now, None, NIGHT, SETTINGS) == "E"


def test_no_observable_track_says_why_and_how_to_run_it_anyway():
    polar = make_shot("POLAR", 3.0, 80.0)
    with pytest.raises(UsageError) as caught:
        choose_track(polar, None, NIGHT, SETTINGS)
    message = str(caught.value)
    assert message.startswith("shot POLAR has no observable track now (")
    assert f"outside {het.DEC_MIN:+.1f}" in message
    assert message.endswith("give --track E or --track W to run it anyway")
