"""What the built-in scheduler keeps between decisions (the windows of the night, the answer
that nothing is observable until a window opens or closes) never changes what it answers:
every kept answer is the one it computes afresh."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest

from ocd.config import sample_shot_file
from ocd.shots.model import ShotTable
from ocd.shots.store import load_shots
from ocd.sky import het, scheduler
from ocd.sky.scheduler import Conditions, ScheduleSettings, choose
from tests.schedule_helpers import UTC, make_shot

CONDITIONS = (None, Conditions(1.2, 0.9), Conditions(3.4, 0.9), Conditions(1.0, 0.3))


def afresh(table: ShotTable, when: dt.datetime, conditions: Conditions | None,
           settings: ScheduleSettings) -> scheduler.ScheduleResult:
    """The decision with nothing kept: no answer, no windows of the night."""
    scheduler._QUIET.clear()
    scheduler._WINDOWS.clear()
    return choose(table, when, conditions, settings)


def summary(result: scheduler.ScheduleResult) -> tuple[object, ...]:
    choice = result.choice
    return (result.reason, None if choice is None else (choice.shotid, choice.track),
            result.sun_altitude, result.dark_start, result.dark_end)


def random_table(draw: random.Random) -> ShotTable:
    """Shots all over HET's band, some done, some on one track, some parked."""
    shots = []
    for n in range(draw.randint(1, 30)):
        forced = draw.choice([None] * 6 + [draw.uniform(0.0, 360.0)])
        shots.append(make_shot(f"S{n:03d}", draw.uniform(0.0, 24.0), draw.uniform(-12.0, 76.0),
                               track=draw.choice([0, 1, 2, 2]), priority=draw.randint(1, 3),
                               n_obs=draw.choice([0, 1, 1, 2]), forced_az=forced))
    return ShotTable.from_shots(shots)


@pytest.mark.parametrize("seed", range(12))
def test_a_night_of_decisions_kept_and_afresh_agree(seed):
    """A scheduler asked as a main loop asks it (every two minutes while waiting, sometimes
    sooner, the conditions changing) answers word for word what it computes afresh."""
    draw = random.Random(f"kept-{seed}")
    table = load_shots(sample_shot_file()).table(remaining=False) if seed % 3 == 0 \
        else random_table(draw)
    settings = ScheduleSettings(shot_duration=draw.choice([600.0, 1200.0, 2400.0]),
                                max_seeing=3.0, min_transparency=0.5)
    when = dt.datetime(2017, 10, 1, 0, 0, tzinfo=UTC) + dt.timedelta(
        days=draw.randrange(150), seconds=draw.randrange(86400))
    scheduler._QUIET.clear()
    kept_answers = 0
    for _ in range(300):
        when += dt.timedelta(seconds=draw.choice([1, 30, 120, 120, 120, 121, 600, 3599]))
        conditions = draw.choice(CONDITIONS)
        before = scheduler._QUIET.get(table)
        kept = choose(table, when, conditions, settings)
        kept_answers += before is not None and scheduler._QUIET.get(table) is before \
            and kept.choice is None
        kept_candidates = [c.as_dict() for c in kept.candidates[:5]]
        quiet, windows = scheduler._QUIET.get(table), dict(scheduler._WINDOWS)
        fresh = afresh(table, when, conditions, settings)
        assert summary(kept) == summary(fresh), when
        assert kept_candidates == [c.as_dict() for c in fresh.candidates[:5]], when
        scheduler._WINDOWS.update(windows)  # the next decision may keep them, as it would
        if quiet is not None:
            scheduler._QUIET[table] = quiet
    assert kept_answers > 0  # the night did keep answers: the comparison compared them


def test_the_windows_of_the_night_are_those_of_the_minute():
    """A window computed for the night's noon and carried to any minute of it is the one
    the sky gives at that minute, to a millisecond (only the Earth's rotation moves within
    the night)."""
    draw = random.Random("night-windows")
    table = random_table(draw)
    vectors = het.unit_vectors(table.ra, table.dec)
    for _ in range(200):
        reference = dt.datetime(2017, 11, 1, tzinfo=UTC).timestamp() + draw.uniform(0, 90 * 86400)
        scheduler._WINDOWS.clear()
        start, end = scheduler._night_windows(table, reference).at(reference)
        found = het.sky(None, None, reference, vectors=vectors).tracks()
        n = len(table)
        plain = ~np.isnan(table.forced_az)
        rows = np.concatenate([~plain, ~plain])  # the forced rows are checked below
        expected_start = np.concatenate([found.start_e, found.start_w])
        expected_end = np.concatenate([found.end_e, found.end_w])
        np.testing.assert_allclose(start[rows], expected_start[rows], atol=1e-3, rtol=0)
        np.testing.assert_allclose(end[rows], expected_end[rows], atol=1e-3, rtol=0)
        index = np.flatnonzero(plain)
        if index.size:
            f_start, _, f_end = het.sky(None, None, reference, vectors=vectors).windows_at(
                table.forced_az[index], index)
            side = np.where(table.forced_az[index] > 180.0, index + n, index)
            np.testing.assert_allclose(start[side], f_start, atol=1e-3, rtol=0)
            np.testing.assert_allclose(end[side], f_end, atol=1e-3, rtol=0)
        assert (end[~np.isnan(end)] > reference).all()
