"""OCD's rules across two thousand randomized nights (``ocd simulate --faults``).

Each seed draws a night: a stretch of 0.5 to 2.5 hours of a night between October and
February (twilight included), a sky (steady, drifting, cloudy or random) and a night of
trouble (forbid and allow again, aborts, shots by hand, TCS and database outages, a slow
database, failing subsystem commands). The main loop is ``ocd run``'s engine and core; the
checker (:mod:`ocd.monitor.invariants`) follows the inputs and what happened, and every rule
must hold: observation numbers unique and increasing per date, ``n_obs`` down once per
completed shot and never below 0, no shot of the main loop started while HETDEX shots are
forbidden, the TCS is dead, metrology is bad or another shot runs, every started shot ends,
no start leaves the loop waiting; no handling fails, no event is dropped.

The TCS is coarse (a heartbeat every 20 s, dead after 60 s; metrology every minute; a tick
every 10 s) and the nights run event-driven, so that two thousand of them take seconds; a
failing night is printed as the ``ocd simulate`` command line that replays it exactly. A
few whole nights (sunset to sunrise) run with the default TCS.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ocd_env

from ocd.app.simulation.calendar import night_of
from ocd.app.simulation.report import results_document
from ocd.app.simulation.simulate import Request, again, simulate_nights
from ocd.config import load_config, rehearsal_config
from ocd.shots.store import ShotStore, load_shots

#: How many random nights, in how many test items (each reports all its failing seeds).
NIGHTS = 2000
CHUNK = 50
#: The coarse world of the random nights.
COARSE = (("sim_tcs", "heartbeat_interval", "20"), ("sim_tcs", "metrology_interval", "60"),
          ("tcs", "heartbeat_timeout", "60"), ("simulate", "tick_interval", "10"),
          ("run_shot", "exposure_time", "120"))
KINDS = ("steady", "drifting", "cloudy", "random")


def random_night(seed: int) -> tuple[dt.datetime, dt.datetime, str]:
    """The stretch and sky of seed ``seed``."""
    draw = random.Random(f"ocd-test-night-{seed}")
    sunset, sunrise = night_of(dt.date(2017, 10, 1) + dt.timedelta(days=draw.randrange(150)))
    length = draw.uniform(1800.0, 9000.0)
    offset = draw.uniform(0.0, (sunrise - sunset).total_seconds() - length)
    start = (sunset + dt.timedelta(seconds=offset)).replace(microsecond=0)
    return start, start + dt.timedelta(seconds=round(length)), draw.choice(KINDS)


def replay_command(seed: int, overrides=COARSE) -> str:
    start, end, kind = random_night(seed)
    sets = " ".join(f"--set {s}.{o}={v}" for s, o, v in overrides)
    line = again([(start, end)], kind, seed, True, None, None)
    return line.replace("ocd simulate", f"ocd simulate --config {rehearsal_config()} {sets}")


@pytest.fixture(scope="module")
def world():
    cfg = load_config([str(rehearsal_config())], list(COARSE))
    text = load_shots(cfg.get_path("shots", "shot_file")).text()
    return cfg, text


def night_result(cfg, text: str, seed: int):
    start, end, kind = random_night(seed)
    request = Request([(start, end)], kind, seed, faults=True, check_events=True)
    return simulate_nights(cfg, request, ShotStore.from_text(text, "shots.dat"))[0]


@pytest.mark.parametrize("first", range(1, NIGHTS + 1, CHUNK),
                         ids=lambda first: f"seeds {first}-{first + CHUNK - 1}")
def test_random_nights_keep_the_rules(world, first):
    cfg, text = world
    broken = []
    shots = 0
    for seed in range(first, first + CHUNK):
        result = night_result(cfg, text, seed)
        shots += len(result.report.shots)
        if not result.ok:
            problems = [*result.violations, *result.failures, *result.dropped]
            broken.append(f"seed {seed}: {'; '.join(problems)}\n  replay: "
                          f"{replay_command(seed)}")
    assert not broken, "\n".join(broken)
    assert shots > 2 * CHUNK  # nights that observe, not nights where nothing happens


def test_the_random_nights_meet_every_kind_of_trouble(world):
    """The scenarios do what they say: over the first hundred seeds there are shots by hand,
    aborts, forbids, TCS outages seen by the main loop, failed and aborted shots, database
    errors and bad conditions."""
    cfg, text = world
    seen = {"by hand": 0, "failed": 0, "aborted": 0, "TCS down": 0, "forbidden": 0,
            "conditions": 0, "obsnum error": 0}
    for seed in range(1, 101):
        result = night_result(cfg, text, seed)
        report = result.report
        seen["by hand"] += sum(s.by_hand for s in report.shots)
        seen["failed"] += report.count("failed")
        seen["aborted"] += report.count("aborted")
        idle = report.idle_by_reason()
        for reason in ("TCS down", "forbidden", "conditions"):
            seen[reason] += reason in idle
        seen["obsnum error"] += sum(error.startswith("obsnum") for _, error in report.errors)
    assert all(count > 0 for count in seen.values()), seen


@pytest.mark.parametrize("seed", range(1, 4))  # one test each: workers run them side by side
def test_whole_nights_with_trouble_keep_the_rules(seed):
    """Sunset to sunrise, the default TCS (a heartbeat a second), trouble drawn from the
    seed."""
    cfg = load_config([str(rehearsal_config())], [])
    text = load_shots(cfg.get_path("shots", "shot_file")).text()
    request = Request([night_of(dt.date(2017, 11, 10 + seed))], "random", seed, True,
                      check_events=True)
    result = simulate_nights(cfg, request, ShotStore.from_text(text, "shots.dat"))[0]
    assert result.report.count("completed") >= 5
    assert result.ok, f"seed {seed}: {result.violations + result.failures}"


def test_the_printed_command_replays_the_night_exactly(world, tmp_path: Path):
    """What a failing seed prints is what ``ocd simulate`` runs: the same night, to the
    second."""
    cfg, text = world
    seed = 17
    expected = results_document([night_result(cfg, text, seed)], "", 0.0)["nights"][0]
    command = replay_command(seed).split()[2:]  # after "ocd simulate"
    done = subprocess.run([sys.executable, "-m", "ocd", "simulate", *command, "--json"],
                          capture_output=True, text=True, env=ocd_env(), timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    replayed = json.loads(done.stdout)["nights"][0]
    for key in ("shots", "idle", "errors", "totals", "obsnums", "n_obs_after", "happenings"):
        assert replayed[key] == expected[key], key
