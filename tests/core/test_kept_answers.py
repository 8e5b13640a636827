"""The answers the core keeps between inputs (metrology conditions, the meta machine's
reasons) are always the ones it would compute afresh."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from ocd.core.states import (
    HetdexAllowedState,
    MetaState,
    MetrologyLimits,
    MetrologyState,
    RunShotState,
    TcsState,
)

LIMITS = MetrologyLimits(max_seeing=3.0, min_transparency=0.5, stale_after=300.0)


def afresh(kept: MetrologyState, now: float) -> tuple[float | None, float | None]:
    """The conditions of a new machine given the same readings: nothing kept."""
    new = MetrologyState(kept.limits)
    for guider, reading in kept.readings.items():
        new._readings[guider] = reading
    return new.conditions(now)


def test_a_reading_goes_stale_exactly_when_its_age_passes_the_limit():
    metrology = MetrologyState(LIMITS)
    metrology.reading("g1", 1.0, 0.9, 100.0)
    metrology.reading("g2", 2.0, 0.7, 250.0)
    assert metrology.conditions(300.0) == (1.5, 0.8)
    assert metrology.conditions(400.0) == (1.5, 0.8)      # g1 is 300 s old: still fresh
    assert metrology.conditions(400.5) == (2.0, 0.7)      # g1 stale
    assert metrology.conditions(550.0) == (2.0, 0.7)
    assert metrology.conditions(550.5) == (None, None)    # both stale


def test_new_limits_and_earlier_times_are_computed_afresh():
    metrology = MetrologyState(LIMITS)
    metrology.reading("g1", 1.0, 0.9, 100.0)
    assert metrology.conditions(350.0) == (1.0, 0.9)
    metrology.limits = MetrologyLimits(stale_after=200.0)
    assert metrology.conditions(350.0) == (None, None)
    metrology.limits = LIMITS
    assert metrology.conditions(350.0) == (1.0, 0.9)
    assert metrology.conditions(50.0) == (1.0, 0.9)       # a reading from the future is fresh


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["reading", "ask", "limits"]),
                          st.sampled_from(["g1", "g2", "g3"]),
                          st.floats(0, 5), st.floats(0, 1),
                          st.floats(-50, 400)), max_size=60))
def test_kept_conditions_equal_fresh_ones(steps):
    metrology = MetrologyState(LIMITS)
    now = 0.0
    for action, guider, seeing, transparency, dt in steps:
        now += dt
        if action == "reading":
            metrology.reading(guider, seeing, transparency, now)
        elif action == "limits":
            metrology.limits = MetrologyLimits(stale_after=max(1.0, dt))
        assert metrology.conditions(now) == afresh(metrology, now)


def test_meta_reasons_follow_every_move_of_the_other_machines():
    rng = random.Random(7)
    tcs, hetdex, run_shot = TcsState(5), HetdexAllowedState(), RunShotState(100, 50)
    metrology = MetrologyState(LIMITS)
    meta = MetaState([run_shot, hetdex, tcs, metrology])
    for second in range(2000):
        now = float(second)
        choice = rng.randrange(4)
        if choice == 0:
            tcs.heartbeat(now)
        elif choice == 1:
            hetdex.set(rng.random() < 0.7)
        elif choice == 2:
            metrology.reading("g1", rng.uniform(0, 5), rng.uniform(0, 1), now)
        tcs.tick(now)
        meta.update()
        assert meta.last_reasons == meta.reasons()
        assert (meta.state == "satisfied") == (not meta.reasons())
