"""``ocd schedule`` as the resident astronomer runs it: real subprocesses."""

from __future__ import annotations

import datetime as dt
import json
import sys

from ocd.config import sample_shot_file
from ocd.shots.store import load_shots
from ocd.sky.scheduler import choose

SAMPLE = str(sample_shot_file())
AT = "2017-11-19T03:00:00"
WHEN = dt.datetime(2017, 11, 19, 3, 0, tzinfo=dt.timezone.utc)


def expected():
    return choose(load_shots(SAMPLE).all(), WHEN)


def test_json_document(ocd):
    result = ocd("schedule", "--shots", SAMPLE, "--at", AT, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    reference = expected()
    assert document["time"] == "2017-11-19T03:00:00+00:00"
    assert document["choice"]["shotid"] == reference.choice.shotid
    assert document["choice"]["track"] == reference.choice.track
    assert document["candidates_total"] == len(reference.candidates)
    assert len(document["candidates"]) == 10  # the default --top
    for got, want in zip(document["candidates"], reference.candidates, strict=False):
        assert (got["shotid"], got["track"], got["observable"], got["reason"]) == (
            want.shotid, want.track, want.observable, want.reason)
        assert got["window_start"] == want.window_start.isoformat(timespec="seconds")
        assert got["window_end"].endswith("+00:00")


def test_all_lists_every_shot_and_top_limits(ocd):
    everything = json.loads(ocd("schedule", "--shots", SAMPLE, "--at", AT, "--json",
                                "--all").stdout)
    assert len(everything["candidates"]) == everything["candidates_total"]
    listed = {c["shotid"] for c in everything["candidates"]}
    assert listed == {s.shotid for s in load_shots(SAMPLE).all()}
    three = json.loads(ocd("schedule", "--shots", SAMPLE, "--at", AT, "--json", "--top",
                           "3").stdout)
    assert [c["shotid"] for c in three["candidates"]] == [
        c["shotid"] for c in everything["candidates"][:3]]


def test_table(ocd):
    result = ocd("schedule", "--shots", SAMPLE, "--at", AT, "--top", "4")
    assert result.returncode == 0, result.stderr
    reference = expected()
    lines = result.stdout.splitlines()
    choice = next(line for line in lines if line.startswith("choice"))
    assert f"{reference.choice.shotid} {reference.choice.track}" in choice
    header = lines.index(next(line for line in lines if line.startswith("shotid")))
    assert lines[header].split() == ["shotid", "track", "azimuth", "window", "start", "window",
                                     "end", "prio", "n_obs", "status"]
    rows = lines[header + 1:header + 5]
    for row, candidate in zip(rows, reference.candidates[:4], strict=True):
        assert row.split()[:2] == [candidate.shotid, candidate.track]
        assert row.endswith(candidate.reason)
    assert f"(4 of {len(reference.candidates)} candidates shown" in lines[header + 5]


def test_mock_clock_and_shot_file_from_the_configuration(ocd, tmp_path):
    user = tmp_path / "ocd.cfg"
    user.write_text(f"[dates]\nmock_time = {AT}\n[shots]\nshot_file = {SAMPLE}\n")
    result = ocd("schedule", "--config", str(user), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    when = dt.datetime.fromisoformat(document["time"])
    assert 0 <= (when - WHEN).total_seconds() < 30
    assert document["clock"] == "mock clock" and document["shot_file"] == SAMPLE


def test_conditions_flags(ocd):
    result = ocd("schedule", "--shots", SAMPLE, "--at", AT, "--json", "--seeing", "2.5",
                 "--set", "run.max_seeing=1.8")
    document = json.loads(result.stdout)
    assert document["choice"] is None
    assert document["reason"] == "seeing 2.50 arcsec is above the limit 1.80"


def test_external_scheduler_from_the_command(ocd, tmp_path):
    program = tmp_path / "fake_autoschedule"
    program.write_text(f"#!{sys.executable}\nprint('DEX00012 W')\n")
    program.chmod(0o755)
    result = ocd("schedule", "--shots", SAMPLE, "--at", AT, "--set",
                 "schedule.scheduler=autoschedule", "--set",
                 f"autoschedule.executable={program}")
    assert result.returncode == 0, result.stderr
    assert "scheduler   autoschedule" in result.stdout
    assert "choice      DEX00012 W" in result.stdout


def test_errors_are_one_line(ocd, tmp_path):
    bad_time = ocd("schedule", "--shots", SAMPLE, "--at", "yesterday-ish")
    assert bad_time.returncode == 2
    assert bad_time.stderr.startswith("ocd: error: --at 'yesterday-ish': not a date/time")
    assert bad_time.stderr.count("\n") == 1
    shots = tmp_path / "bad.dat"
    shots.write_text("# list\nDEX1 12.0 95 2 1 1 -1 1 P O 000 1:0:0 +1:0:0 2000 0 0 2000\n")
    bad_file = ocd("schedule", "--shots", str(shots), "--at", AT)
    assert bad_file.returncode == 2
    assert bad_file.stderr == (f"ocd: error: {shots}:2:11: column 3 (dec) '95': out of range "
                               "[-90, 90]\n")
    both = ocd("schedule", "--top", "3", "--all")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    missing = ocd("schedule", "--shots", str(tmp_path / "none.dat"))
    assert missing.returncode == 2 and "none.dat: cannot read the shot list" in missing.stderr
