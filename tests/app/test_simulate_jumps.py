"""Event-driven nights decide as tick-by-tick ones (``ocd simulate`` against ``--exact``).

Each seed draws a night: a random start within a night between October and February
(twilight included), a random length of one to three hours, a random sky (steady, drifting,
cloudy, random) and a night of trouble (``--faults``: forbid and allow again, aborts, shots by
hand, TCS and database outages, a slow database, failing subsystem commands). It runs both
ways, and :func:`~ocd.app.simulation.agreement.disagreements` must find nothing: the same
shots in the same order with the same observation numbers, tracks and outcomes, started
within one tick interval, the same idle reasons, the same ``n_obs`` after, the same rules held.

The suite runs 200 such nights on the coarse TCS of the randomized tests (a heartbeat every
20 s, dead after 60 s, metrology every minute, a tick every 10 s: the TCS steps, the readings
and the ticks on three different grids) and 12 on the default TCS (a heartbeat and a tick
every second, metrology every 10 s), which is what ``ocd simulate`` uses and the costly side
(some 0.25 s a night tick by tick). ``bench/simulate_agreement.py`` runs 200 nights on the
default TCS (about a minute).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ocd_env

from ocd.app.simulation.agreement import agreement_night, disagreements
from ocd.app.simulation.simulate import Request, simulate_nights
from ocd.config import load_config, rehearsal_config
from ocd.shots.store import ShotStore, load_shots

COARSE = (("sim_tcs", "heartbeat_interval", "20"), ("sim_tcs", "metrology_interval", "60"),
          ("tcs", "heartbeat_timeout", "60"), ("simulate", "tick_interval", "10"),
          ("run_shot", "exposure_time", "120"))
#: Coarse nights, in chunks (one test item each, so workers share them).
COARSE_NIGHTS, CHUNK = 200, 50
DEFAULT_NIGHTS = 12


def both_ways(cfg, text: str, seed: int) -> list[str]:
    """What differs between the night of ``seed`` tick by tick and event-driven."""
    start, end, kind = agreement_night(seed)
    nights = [simulate_nights(cfg, Request([(start, end)], kind, seed, True, exact=exact,
                                           check_events=True),
                              ShotStore.from_text(text, "shots.dat"))[0]
              for exact in (True, False)]
    found = disagreements(*nights)
    return [f"seed {seed} ({kind}, {start:%Y-%m-%d %H:%M} to {end:%H:%M}): {d}" for d in found]


def world(overrides=()):
    cfg = load_config([str(rehearsal_config())], list(overrides))
    return cfg, load_shots(cfg.get_path("shots", "shot_file")).text()


@pytest.mark.parametrize("first", range(1, COARSE_NIGHTS + 1, CHUNK),
                         ids=lambda first: f"coarse seeds {first}-{first + CHUNK - 1}")
def test_event_driven_nights_decide_as_tick_by_tick_ones(first):
    cfg, text = world(COARSE)
    found = [d for seed in range(first, first + CHUNK) for d in both_ways(cfg, text, seed)]
    assert not found, "\n".join(found)


def test_event_driven_nights_agree_on_the_default_tcs():
    cfg, text = world()
    found = [d for seed in range(1, DEFAULT_NIGHTS + 1) for d in both_ways(cfg, text, seed)]
    assert not found, "\n".join(found)


def test_the_comparison_sees_a_difference():
    """:func:`disagreements` is not blind: a night against another night disagrees."""
    cfg, text = world(COARSE)
    start, end, kind = agreement_night(3)
    one, other = (simulate_nights(cfg, Request([(start, end)], kind, seed, True,
                                               check_events=True),
                                  ShotStore.from_text(text, "shots.dat"))[0]
                  for seed in (3, 4))
    assert disagreements(one, other)
    assert not disagreements(one, one)


def test_what_differs_is_what_no_decision_reads(tmp_path: Path):
    """The documented differences, on one night of the sample data with trouble, run by
    ``ocd simulate`` both ways: the event-driven night keeps fewer readings for the
    conditions curve; its shots, numbers, idle stretches (times and reasons), errors and
    rules are those of the tick-by-tick night."""
    start, end = "2017-11-19T01:00:00", "2017-11-19T05:00:00"
    documents = {}
    for exact in (True, False):
        command = [sys.executable, "-m", "ocd", "simulate", "--config", str(rehearsal_config()),
                   "--from", start, "--to", end, "--weather", "random", "--seed", "5",
                   "--faults", "--json", *(["--exact"] if exact else [])]
        done = subprocess.run(command, capture_output=True, text=True, env=ocd_env(),
                              timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        documents[exact] = json.loads(done.stdout)["nights"][0]
    exact, jumped = documents[True], documents[False]
    for key in ("shots", "idle", "errors", "obsnums", "n_obs_after", "rules_held"):
        assert jumped[key] == exact[key], key
    assert 0 < len(jumped["metrology"]) < len(exact["metrology"])


@pytest.mark.parametrize("tick", [1.0, 10.0])
def test_the_tcs_is_declared_dead_at_the_same_tick_both_ways(tick):
    """Heartbeat loss agrees: the last heartbeat before an outage is given on time, so the
    TCS is dead (and alive again) at the same moments, tick by tick or not (HETDEX shots
    forbidden all night: the idle stretches say when)."""
    from ocd.app.simulation.night import NightSetup
    from ocd.app.simulation.scenario import Scenario, Span
    from ocd.app.simulation.simulate import memory_allocator, run_night
    from ocd.shots.book import ShotCopy
    from ocd.tcs.sim.weather import Weather

    cfg, text = world((("simulate", "tick_interval", str(tick)),))
    start = dt.datetime(2017, 11, 19, 3, 0, tzinfo=dt.timezone.utc)
    down = []
    for exact in (True, False):
        setup = NightSetup(start, start + dt.timedelta(hours=1), Weather("steady"),
                           Scenario(commands=(), tcs_outages=(Span(1234.5, 1876.25),)),
                           tick=tick,
                           exact=exact)
        allocator = memory_allocator(cfg)
        try:
            result = run_night(cfg, setup, ShotCopy(ShotStore.from_text(text, "s")), allocator)
        finally:
            allocator.close()
        down.append([(p.start, p.end) for p in result.report.idle if p.reason == "TCS down"])
    assert down[0] and down[0] == down[1]
