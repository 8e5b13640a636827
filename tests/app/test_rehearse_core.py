"""The pure parts of ``ocd rehearse``: durations, the plan, forced settings, and the tally of
shots, observation numbers, topics and gaps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ocd.app.rehearsal.layout import Layout, make_layout
from ocd.app.rehearsal.plan import forced_settings, parse_duration, plan_from_config
from ocd.config import load_config, rehearsal_config, sample_night
from ocd.errors import ConfigError, UsageError
from ocd.monitor.tally import SUMMARY_KEYS, Tally


@pytest.mark.parametrize("text, seconds", [("3600", 3600), ("90s", 90), ("20m", 1200),
                                           ("20min", 1200), ("1h", 3600), ("1h30m", 5400),
                                           ("1.5h", 5400), (" 2 m ", 120)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1d", "-5", "0", "h"])
def test_bad_durations_say_what_is_expected(text):
    with pytest.raises(UsageError, match="--duration .*OCD-clock time|longer than zero"):
        parse_duration(text)


def test_default_plan_replays_the_sample_night_in_step():
    plan = plan_from_config(load_config([rehearsal_config()]))
    assert (plan.tcs, plan.night, plan.speed, plan.duration) == ("replay", sample_night(), 60,
                                                                 3600)
    assert plan.mock_start == dt.datetime(2017, 11, 19, 3, tzinfo=dt.timezone.utc)
    assert plan.replay_speedup == pytest.approx(1.0, rel=0.01)  # recorded at 60x too
    assert plan.replay_topics == ("pas.Guider1.metrology_data", "pas.Guider2.metrology_data",
                                  "tcs.receiver.heartbeat", "tcs.root.ra_dec")
    faster = plan_from_config(load_config([rehearsal_config()]), speed=240, duration=600)
    assert faster.replay_speedup == pytest.approx(4.0, rel=0.01)
    assert faster.end == plan.mock_start + dt.timedelta(minutes=10)


def test_a_rehearsal_needs_a_mock_time():
    with pytest.raises(ConfigError, match=r"\[dates\] mock_time is not set"):
        plan_from_config(load_config([]))


def test_forced_settings_isolate_the_rehearsal(tmp_path):
    layout = Layout(tmp_path / "files", tmp_path / "s")
    plan = plan_from_config(load_config([rehearsal_config()]))
    forced = {(s, o): v for s, o, v in forced_settings(layout, plan)}
    for option in ("ocd_main_loop", "ocd_run_shot", "ocd_allow_hetdex", "ocd_db_replay", "tcs",
                   "virus", "pfip", "pas"):
        assert forced[("urls", option)].startswith(f"ipc://{tmp_path}/s/"), option
    assert forced[("urls", "event_urls")] == ""  # never both inputs of ocd run
    assert forced[("database", "backend")] == "sqlite"
    assert forced[("database", "sqlite_path")] == str(layout.root / "obsnum.sqlite")
    assert forced[("shots", "shot_file")] == str(layout.root / "shots.dat")
    assert forced[("tcs", "backend")] == "simulated"
    sim = {(s, o): v for s, o, v in forced_settings(layout, plan_from_config(
        load_config([rehearsal_config()]), tcs="sim"))}
    assert (sim[("urls", "ocd_db_replay")], sim[("tcs", "backend")]) == ("", "gateway")
    assert sim[("urls", "event_urls")].startswith("ipc://")
    # the children accept every forced value
    cfg = load_config([rehearsal_config()], list(forced_settings(layout, plan)))
    assert cfg.get("dates", "mock_speed") == 60


def test_with_a_board_its_commands_have_an_address_of_their_own(tmp_path):
    layout = Layout(tmp_path / "files", tmp_path / "s")
    plan = plan_from_config(load_config([rehearsal_config()]), board=True)
    cfg = load_config([rehearsal_config()], list(forced_settings(layout, plan)))
    allow = cfg.get_urls("urls", "ocd_allow_hetdex")
    assert allow == [layout.url("allow"), layout.url("board")]
    assert (cfg.get_int("allow_hetdex", "n_ocd_allow_hetdex"),
            cfg.get_int("board", "n_ocd_allow_hetdex")) == (0, 1)
    without = load_config([rehearsal_config()], list(forced_settings(
        layout, plan_from_config(load_config([rehearsal_config()])))))
    assert without.get_urls("urls", "ocd_allow_hetdex") == [layout.url("allow")]


def run_event(status: int, observation: int, origin: str = "ocd_run_shot@h:1", **more):
    return ("ocd.run_shot.run", {"__origin": origin, "exec_status": status,
                                 "shotid": f"DEX{observation:05d}", "obs_track": "W",
                                 "observation": observation, **more})


def test_tally_follows_shots_and_says_what_happened():
    tally = Tally(exposures_per_shot=3)
    lines = tally.feed(*run_event(0, 1))
    assert lines == ["shot DEX00001 (W) started: observation 1"]
    assert tally.feed("ocd.run_shot.exp_hetdex", {"__origin": "ocd_run_shot@h:1",
                                                  "exec_status": 1, "exposure": 2,
                                                  "observation": 1}) == [
        "  exposure 2/3 done (observation 1)"]
    assert tally.feed(*run_event(1, 1, error=False)) == [
        "shot DEX00001 W (observation 1) completed"]
    tally.feed(*run_event(0, 2))
    assert "FAILED: TcsError: tcs.goto failed" in tally.feed(*run_event(
        1, 2, error=True, exc_type="TcsError", exc_value="tcs.goto failed"))[0]
    tally.feed(*run_event(0, 3))
    tally.stopping = True
    assert "interrupted" in tally.feed(*run_event(1, 3, error=True, exc_type="ShotAborted",
                                                  exc_value="shutdown"))[0]
    tally.feed(*run_event(0, 4, origin="ocd_run_shot@h:2"))  # a shot by hand, never finished
    tally.feed(*run_event(1, 4))  # a finish from another publisher does not end it
    tally.gap("tcs@h:3", 10, 12, 2)
    tally.finish()
    summary = tally.summary()
    assert tuple(summary) == SUMMARY_KEYS
    assert summary == {"shots_completed": 1, "shots_failed": 1, "obsnums": [1, 2, 3, 4],
                       "events_by_topic": {"ocd.run_shot.exp_hetdex": 1,
                                           "ocd.run_shot.run": 8},
                       "gaps": 1}
    assert [s.state for s in tally.shots] == ["completed", "failed", "interrupted",
                                              "interrupted"]


def test_tally_report_lists_shots_topics_and_gaps():
    tally = Tally()
    tally.feed(*run_event(0, 7))
    tally.feed(*run_event(1, 7, error=False))
    tally.gap("tcs@h:3", 10, 13, 3)
    plan = plan_from_config(load_config([rehearsal_config()]))
    text = tally.report(plan.mock_start, plan.duration, plan.speed, 61.5, plan.end)
    assert "shots completed:     1  DEX00007 W (observation 7)" in text
    assert "observation numbers: 7" in text
    assert "ocd.run_shot.run" in text and "sequence gaps:       1 (3 event(s) lost)" in text
    assert "OCD clock 2017-11-19 03:00:00 UTC (21:00:00 CST at HET) to 04:00:00 UTC" in text
    assert "61.5 s of wall time at 60x" in text
    # what the recorder stored is what the summary counts, and a difference is explained
    stored = {"ocd.run_shot.run": 2, "tcs.receiver.heartbeat": 5}
    text = tally.report(plan.mock_start, plan.duration, plan.speed, 61.5, plan.end, stored)
    assert "events recorded, by topic (7 in all):" in text
    assert "(the rehearsal's own monitor received 2: it connects before" in text
    assert tally.summary(stored)["events_by_topic"] == stored
    same = tally.report(plan.mock_start, plan.duration, plan.speed, 61.5, plan.end,
                        {"ocd.run_shot.run": 2})
    assert "own monitor" not in same


def test_layout_urls_are_short():
    layout = make_layout()
    try:
        assert all(len(url) < 107 for url in [*layout.service_urls(), layout.replay_url])
        assert layout.root == layout.ipc and layout.ipc.is_dir()
    finally:
        layout.ipc.rmdir()


def test_keep_wants_a_new_directory(tmp_path: Path):
    (tmp_path / "old.txt").write_text("mine")
    with pytest.raises(UsageError, match="not an empty directory"):
        make_layout(tmp_path)
