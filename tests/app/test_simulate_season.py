"""Season forecasts (``ocd simulate --from-date --to-date``): the climate model, its
configuration, the forecast end to end (a real ``ocd simulate`` process), its plot."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ocd_env

from ocd.app.simulation.plot import plot_season
from ocd.app.simulation.season import (
    WEATHER,
    Climate,
    climate_from_config,
    field_of,
    forecast,
    run_season,
)
from ocd.config import load_config, rehearsal_config
from ocd.errors import OcdError
from ocd.shots.store import load_shots


def test_the_default_climate_is_mcdonalds_by_month():
    climate = climate_from_config(load_config([], []))
    assert climate.usable[0] == pytest.approx(0.73)  # January: 27% lost (HET report 2003-1)
    assert climate.usable[8] == pytest.approx(0.45)  # September: the monsoon's end, 55% lost
    assert climate.seeing[11] > climate.seeing[5]  # winter seeing a third worse


def test_nights_open_as_often_as_the_month_says():
    climate = Climate(usable=(0.2,) * 6 + (0.9,) * 6, seeing=(1.5,) * 12, seeing_spread=0.25,
                      transparency=(0.9,) * 12)
    winter = [climate.sky(dt.date(2018, 1, 1) + dt.timedelta(days=n), seed)
              for n in range(31) for seed in range(20)]
    autumn = [climate.sky(dt.date(2018, 10, 1) + dt.timedelta(days=n), seed)
              for n in range(31) for seed in range(20)]
    assert 0.15 < sum(s is not None for s in winter) / len(winter) < 0.25
    assert 0.85 < sum(s is not None for s in autumn) / len(autumn) < 0.95
    seeing = sorted(s[0] for s in autumn if s is not None)
    assert seeing[len(seeing) // 2] == pytest.approx(1.5, rel=0.05)  # the month's median
    assert climate.sky(dt.date(2018, 10, 3), 7) == climate.sky(dt.date(2018, 10, 3), 7)


@pytest.mark.parametrize(("option", "value", "said"), [
    ("usable_nights", "0.5, 0.5", "expected 12 numbers"),
    ("usable_nights", "0.5, " * 11 + "1.5", "dec: 1.5 is not within 0 to 1"),
    ("seeing", "1, " * 11 + "x", "dec: 'x' is not a number"),
])
def test_a_bad_climate_is_one_line_naming_the_option(option, value, said):
    cfg = load_config([], [("climate", option, value)])
    with pytest.raises(OcdError) as caught:
        climate_from_config(cfg)
    assert "[climate]" in str(caught.value) and option in str(caught.value)
    assert said in str(caught.value)


def test_a_season_carries_the_list_over_and_accounts_for_the_dark_hours(tmp_path: Path):
    """Four nights, two runs, in process: visits never above those left, a closed night's
    dark hours lost to the weather, and the plot drawn by the code that draws the doc's."""
    cfg = load_config([str(rehearsal_config())], [])
    store = load_shots(cfg.get_path("shots", "shot_file"))
    climate = Climate(usable=(0.5,) * 12, seeing=(1.4,) * 12, seeing_spread=0.2,
                      transparency=(0.9,) * 12)
    dates = [dt.date(2017, 11, 18) + dt.timedelta(days=n) for n in range(4)]
    runs = [run_season(cfg, store, dates, climate, seed, 1.0) for seed in (1, 2)]
    document = forecast(store, dates, runs)
    assert all(s.n_obs == load_shots(store.source).get(s.shotid).n_obs for s in store.all())
    for run in runs:
        assert run.open_nights + run.closed_nights <= len(dates)
        assert not run.broken
        assert (run.hours.get(WEATHER, 0.0) > 0) == (run.closed_nights > 0)
        assert all(run.visits[s.shotid] <= s.n_obs for s in store.all())
        assert run.so_far == sorted(run.so_far) and len(run.so_far) == len(dates)
    assert document["visits"]["max"] > 0
    fields = document["fields"]
    assert set(fields) == {field_of(s) for s in store.all()} == {"HF", "HS"}
    assert sum(f["left"] for f in fields.values()) == document["visits_left"]
    drawn = plot_season(document, tmp_path / "season.png")
    assert drawn.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and drawn.stat().st_size > 20_000


def test_ocd_simulate_forecasts_a_season(tmp_path: Path):
    command = [sys.executable, "-m", "ocd", "simulate", "--config", str(rehearsal_config()),
               "--from-date", "2017-11-18", "--to-date", "2017-11-21", "--runs", "2",
               "--seed", "3", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env=ocd_env(), timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["seeds"] == [3, 4] and document["nights"] == 4
    assert set(document["completion"]) >= {"runs_completed", "runs"}
    assert {"mean", "min", "max"} <= set(document["visits"])
    bad = subprocess.run([*command[:-1], "--weather", "random"], capture_output=True,
                         text=True, env=ocd_env(), timeout=60, cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("ocd: error:") and "--weather" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
