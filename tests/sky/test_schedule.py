"""The built-in scheduler: every rule, every reason, the ranking."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ocd.clock import MockClock
from ocd.config import load_config, sample_shot_file
from ocd.errors import ConfigError
from ocd.shots.model import ShotTable
from ocd.shots.store import ShotStore, load_shots
from ocd.sky import het
from ocd.sky.autoschedule import schedule_with_config
from ocd.sky.scheduler import Conditions, ScheduleSettings, choose, span
from tests.schedule_helpers import NIGHT, UTC, make_shot, placed, window

NOW = NIGHT.timestamp()


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Scheduling never touches the network (no IERS downloads, nothing else)."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def by_row(result):
    return {(c.shotid, c.track): c for c in result.candidates}


def test_chooses_the_shot_whose_window_is_open_long_enough():
    good = placed("GOOD", 0.0, "E", 0)  # 33 min of track left
    short = placed("SHORT", 0.0, "E", -25)  # about 8 min left
    later = placed("LATER", 50.0, "W", 60)
    result = choose([short, later, good], NIGHT)
    assert result.choice is not None
    assert (result.choice.shotid, result.choice.track) == ("GOOD", "E")
    start, end, azimuth = window(good, "E")
    assert result.choice.azimuth == pytest.approx(azimuth)
    assert result.choice.window_start.timestamp() == pytest.approx(start, abs=0.01)
    assert result.choice.window_end.timestamp() == pytest.approx(end, abs=0.01)
    assert result.choice.track_left == pytest.approx(end - NOW, abs=0.01)
    assert result.choice.observable and result.choice.rank == 1
    assert result.reason == result.choice.reason
    assert result.reason.startswith(f"chosen: priority 1, {span(end - NOW)} of track left")
    rows = by_row(result)
    short_end = window(short, "E")[1]
    assert rows[("SHORT", "E")].reason == (f"only {span(short_end - NOW)} of track left, a "
                                           "shot needs 20 min")
    later_start = window(later, "W")[0]
    assert rows[("LATER", "W")].reason.startswith(
        f"window opens at {het.to_datetime(later_start):%H:%M} UTC (in "
        f"{span(later_start - NOW)})")
    assert not rows[("SHORT", "E")].observable and not rows[("LATER", "W")].observable


def test_nothing_long_enough_says_so_and_the_duration_is_a_setting():
    shots = [placed(f"S{i}", dec, "W", minutes) for i, (dec, minutes) in
             enumerate([(0.0, -25), (10.0, -27), (50.0, -50)])]
    shots.append(placed("AHEAD", 0.0, "E", 90))
    result = choose(shots, NIGHT)
    assert result.choice is None
    assert result.reason == "3 shots observable, none with 20 min of track left"
    relaxed = choose(shots, NIGHT, settings=ScheduleSettings(shot_duration=300))
    assert relaxed.choice is not None and relaxed.choice.shotid in {"S0", "S1", "S2"}
    assert result.candidates[0].observable is False


def test_next_window_summary():
    shots = [placed("A", 0.0, "E", 80), placed("B", 45.0, "W", 150)]
    result = choose(shots, NIGHT)
    opens = window(shots[0], "E")[0]
    assert result.reason == (f"no shot observable now; next window opens at "
                             f"{het.to_datetime(opens):%H:%M} UTC (in {span(opens - NOW)}): A E")


def test_priority_ranks_first_and_its_order_is_a_setting():
    low = placed("LOW", 0.0, "E", 0, priority=2, track=0)
    high = placed("HIGH", 20.0, "E", 5, priority=1)
    assert choose([low, high], NIGHT).choice.shotid == "HIGH"
    descending = ScheduleSettings(priority_order="descending")
    assert choose([low, high], NIGHT, settings=descending).choice.shotid == "LOW"
    rows = by_row(choose([low, high], NIGHT))
    assert rows[("LOW", "E")].rank == 2
    assert rows[("LOW", "E")].reason.startswith("observable, rank 2: priority 2")


def test_least_remaining_opportunity_breaks_priority_ties():
    # both in their East window with the same time left; EITHER can still use its West track
    # later tonight, EAST_ONLY cannot: EAST_ONLY goes first whatever the file order
    either = placed("EITHER", 0.0, "E", 0, track=2)
    east_only = placed("EAST_ONLY", 0.0, "E", 0.5, track=0)
    for order in ([either, east_only], [east_only, either]):
        result = choose(order, NIGHT)
        assert result.choice.shotid == "EAST_ONLY"
    rows = by_row(result)
    west_start, west_end, _ = window(either, "W")
    assert rows[("EITHER", "E")].opportunity == pytest.approx(
        rows[("EITHER", "E")].track_left + (west_end - west_start), abs=1)
    assert rows[("EAST_ONLY", "E")].opportunity == pytest.approx(
        rows[("EAST_ONLY", "E")].track_left, abs=1)


def test_track_codes_are_honoured():
    west_only = placed("WEST_ONLY", 0.0, "E", 0, track=1)
    east_only = placed("EAST_ONLY", 0.0, "W", 0, track=0)
    result = choose([west_only, east_only], NIGHT)
    assert result.choice is None
    rows = by_row(result)
    assert rows[("WEST_ONLY", "E")].reason == "track 1 forces West"
    assert rows[("EAST_ONLY", "W")].reason == "track 0 forces East"
    assert rows[("WEST_ONLY", "W")].reason.startswith("window opens at")


def test_forced_azimuth_parks_the_structure_there():
    base = placed("F", 0.0, "W", 0)
    _, _, az_w = window(base, "W")
    forced = make_shot("F", base.ra, base.dec, forced_az=round(az_w + 1.0, 2))
    result = choose([forced], NIGHT)
    assert result.choice.track == "W" and result.choice.azimuth == forced.forced_az
    free = choose([base], NIGHT).choice
    assert (result.choice.window_end - result.choice.window_start
            < free.window_end - free.window_start)
    assert [c.track for c in result.candidates] == ["W"]  # one track only: the forced one

    conflict = make_shot("C", base.ra, base.dec, track=0, forced_az=forced.forced_az)
    [row] = choose([conflict], NIGHT).candidates
    assert row.reason == (f"forced azimuth {forced.forced_az:.1f} is on the West side but "
                          "track 0 forces East")
    far = make_shot("FAR", 11.0, 50.0, forced_az=90.0)
    [row] = choose([far], NIGHT).candidates
    assert row.reason == "never within 8.4 deg of the forced azimuth 90.0"
    assert row.window_start is None and row.azimuth is None


def test_single_track_and_never_observable():
    south = placed("SOUTH", -8.0, "E", 0)
    result = choose([south], NIGHT)
    assert result.choice.shotid == "SOUTH" and result.choice.azimuth == 180.0
    assert [c.track for c in result.candidates] == ["E"]
    as_west = make_shot("SOUTH", south.ra, south.dec, track=1)
    assert choose([as_west], NIGHT).choice.track == "W"
    polar = make_shot("POLAR", 3.0, 80.0)
    [row] = choose([polar], NIGHT).candidates
    assert row.reason == (f"never observable: dec +80.00 is outside {het.DEC_MIN:+.1f} to "
                          f"{het.DEC_MAX:+.1f}")
    assert choose([polar], NIGHT).reason == ("none of the 1 shots with n_obs > 0 can be "
                                             "observed from HET")


def test_not_dark_and_the_sun_limit_setting():
    shot = placed("S", 0.0, "E", 0)
    afternoon = dt.datetime(2017, 11, 18, 22, 0, tzinfo=UTC)
    result = choose([shot], afternoon)
    sun = het.sun_altitude(afternoon)
    assert result.choice is None
    assert result.reason.startswith(f"not dark: sun at {sun:.1f} deg, above the limit -18 deg; "
                                    "dark time starts at")
    assert all(c.window_end > result.dark_start for c in result.candidates)  # tonight's

    dusk = het.sun_crossing(NIGHT, -15.0, rising=False, forward=False)
    at_dusk = het.to_datetime(dusk)
    evening = placed("EVENING", 0.0, "E", 0, when=at_dusk)
    assert choose([evening], at_dusk).reason.startswith("not dark: sun at -15.0 deg")
    nautical = ScheduleSettings(sun_altitude=-12.0)
    assert choose([evening], at_dusk, settings=nautical).choice.shotid == "EVENING"


def test_dark_time_must_last_a_whole_shot():
    _, dark_end = het.dark_interval(NIGHT)
    late = het.to_datetime(dark_end - 600)
    shot = placed("LATE", 50.0, "E", 0, when=late)
    result = choose([shot], late)
    assert result.choice is None
    assert result.reason == (f"dark time ends at {het.to_datetime(dark_end):%H:%M} UTC, in "
                             "10 min: too short for a 20 min shot")
    assert result.candidates[0].reason == result.reason


def test_seeing_and_transparency_limits():
    shots = [placed("S", 0.0, "E", 0)]
    limits = ScheduleSettings(max_seeing=1.8, min_transparency=0.7)
    assert choose(shots, NIGHT, Conditions(), limits).choice is not None  # unknown: no limit
    bad_seeing = choose(shots, NIGHT, Conditions(seeing=2.0, transparency=0.9), limits)
    assert bad_seeing.choice is None
    assert bad_seeing.reason == "seeing 2.00 arcsec is above the limit 1.80"
    cloudy = choose(shots, NIGHT, Conditions(seeing=1.2, transparency=0.5), limits)
    assert cloudy.reason == "transparency 0.50 is below the limit 0.70"
    assert choose(shots, NIGHT, Conditions(seeing=1.79, transparency=0.7), limits).choice
    assert choose(shots, NIGHT, Conditions(seeing=5.0)).choice  # no limits configured


def test_done_shots_are_listed_never_chosen():
    done = placed("DONE", 0.0, "E", 0, n_obs=0)
    other = placed("OTHER", 0.0, "E", -5)
    result = choose([done, other], NIGHT)
    assert result.choice.shotid == "OTHER"
    assert by_row(result)[("DONE", "E")].reason == "n_obs is 0: nothing left to observe"
    assert result.candidates[-1].shotid == "DONE"
    assert choose([done], NIGHT).reason == "no shots with n_obs > 0 (all 1 done)"
    assert choose([], NIGHT).reason == "no shots" and choose([], NIGHT).candidates == []


def test_candidates_are_ordered_and_serialisable():
    store = load_shots(sample_shot_file())
    when = dt.datetime(2017, 11, 19, 3, 0, tzinfo=UTC)
    result = choose(store.all(), when)
    ranks = [c.rank for c in result.candidates if c.observable]
    assert ranks == list(range(1, len(ranks) + 1)) and len(ranks) >= 2
    assert all(c.observable for c in result.candidates[:len(ranks)])
    document = json.loads(json.dumps(result.as_dict()))
    assert document["choice"]["shotid"] == result.choice.shotid
    for item in document["candidates"]:
        assert {"shotid", "track", "observable", "window_start", "window_end",
                "reason"} <= set(item)
        assert item["track"] in ("E", "W")
        if item["window_start"] is not None:
            assert dt.datetime.fromisoformat(item["window_start"]).utcoffset() == dt.timedelta(0)
    expected_rows = sum(2 if n == 2 and s.forced_az is None else 1 for s, n in zip(
        store.all(), het.tracks([s.ra for s in store.all()], [s.dec for s in store.all()],
                                when).n_tracks, strict=True))
    assert len(result.candidates) == expected_rows
    same = choose(ShotTable.from_shots(store.all()), when)
    assert (same.choice.shotid, same.choice.track) == (result.choice.shotid, result.choice.track)
    for candidate in result.candidates:  # one at a time, without building the list
        assert same.candidate(candidate.shotid, candidate.track) == candidate
    assert same.candidate("DEX00010", "E") is not None  # exists, track forced out
    assert same.candidate("DEX00005", "E") is None  # forced_az 322: West only
    assert same.candidate("NOPE", "E") is None


def test_every_choice_over_the_sample_night_obeys_the_rules():
    store = load_shots(sample_shot_file())
    start, end = het.dark_interval(NIGHT)
    chosen = set()
    moment = start - 1800
    while moment < end + 1800:
        when = het.to_datetime(moment)
        result = choose(store.all(), when)
        if result.choice is not None:
            c = result.choice
            assert c.shot.n_obs > 0
            assert c.window_start <= when and (c.window_end - when).total_seconds() >= 1200
            assert het.sun_altitude(moment) < -18 and het.sun_altitude(moment + 1200) < -18
            alt, az = het.altaz(c.shot.ra, c.shot.dec, moment)
            park_alt, park_az = het.ALTITUDE, c.azimuth
            assert abs(float(alt) - park_alt) < het.REACH + 0.01
            assert abs((float(az) - park_az + 180) % 360 - 180) < 20
            if c.shot.track != 2:
                assert c.track == "EW"[c.shot.track]
            chosen.add(c.shotid)
        moment += 900
    assert len(chosen) >= 8  # a realistic sample: many shots usable on this night


def test_settings_from_configuration():
    settings = ScheduleSettings.from_config(load_config([], environ={}))
    assert settings == ScheduleSettings(max_seeing=3.0, min_transparency=0.5)  # [run]'s limits
    cfg = load_config([], [("run", "max_seeing", "1.6"),
                           ("schedule", "shot_duration", "900"),
                           ("schedule", "priority_order", "descending")], environ={})
    settings = ScheduleSettings.from_config(cfg)
    assert (settings.max_seeing, settings.shot_duration, settings.priority_order) == (
        1.6, 900.0, "descending")
    with pytest.raises(ConfigError, match=r"shot_duration = 0: expected a finite number > 0"):
        ScheduleSettings.from_config(load_config([], [("schedule", "shot_duration", "0")],
                                                 environ={}))


def test_schedule_with_config_reads_the_mock_clock():
    store = ShotStore.from_text(sample_shot_file().read_text())
    start = dt.datetime(2017, 11, 19, 3, 0, tzinfo=UTC)
    cfg = load_config([], environ={})
    result = schedule_with_config(cfg, store, MockClock(start, 1.0))
    assert abs((result.when - start).total_seconds()) < 5
    direct = choose(store.all(), result.when)
    assert (result.choice.shotid, result.choice.track) == (direct.choice.shotid,
                                                           direct.choice.track)
    assert result.scheduler == "builtin" and result.fallback is None
