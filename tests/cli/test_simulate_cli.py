"""``ocd simulate`` and ``ocd plan`` as a user runs them: real subprocesses, their output, the
files they write, their errors; ``ocd plan`` reading the conditions of a running ``ocd run``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ocd_env, run_ocd
from e2e_helpers import EventTap, OcdProcess, night_config, short_tmpdir, topic_is

from ocd.config import rehearsal_config, sample_night, sample_shot_file
from ocd.shots.store import load_shots

CONFIG = ("--config", str(rehearsal_config()))
PNG = b"\x89PNG\r\n\x1a\n"


def many_visits(path: Path, n_obs: int) -> Path:
    """The sample shot list with ``n_obs`` visits left for every shot."""
    lines = []
    for line in sample_shot_file().read_text().splitlines():
        words = line.split()
        if words and not line.startswith("#"):
            words[5] = str(n_obs)
            line = " ".join(words)
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_two_nights_with_plots_and_the_shot_list_carried_over(tmp_path: Path):
    shots = many_visits(tmp_path / "shots.dat", 2)
    before = shots.read_bytes()
    done = run_ocd("simulate", *CONFIG, "--night", "2017-11-18", "--nights", "2",
                   "--shots", str(shots), "--plot", str(tmp_path / "night.png"),
                   "--save-shots", str(tmp_path / "after.dat"), cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("night from 2017-11-1") == 2
    assert "night from 2017-11-18 23:53 to 2017-11-19 13:30 UTC" in out
    assert "twilight" in out and out.count("rules: all held") == 2
    assert "2 night(s), 27.3 h of OCD time simulated" in out
    for day in ("2017-11-18", "2017-11-19"):
        picture = tmp_path / f"night-{day}.png"
        assert picture.read_bytes().startswith(PNG) and picture.stat().st_size > 30_000
        assert f"ocd simulate: drew {picture}" in done.stderr
    # the second night starts from what the first left: its shots are fewer
    completed = [int(line.split()[1]) for line in out.splitlines()
                 if line.strip().startswith("shots:")]
    assert completed[0] > completed[1] >= 1
    after = sum(s.n_obs for s in load_shots(tmp_path / "after.dat").all())
    assert after == sum(s.n_obs for s in load_shots(shots).all()) - sum(completed)
    assert shots.read_bytes() == before  # never the list it started from
    # each night's numbers start again at 1 on its own date
    assert "observation numbers 2017-11-19: 1 to " in out
    assert "observation numbers 2017-11-20: 1 to " in out


def test_json_for_tools(tmp_path: Path):
    done = run_ocd("simulate", *CONFIG, "--from", "2017-11-19T03:00", "--to",
                   "2017-11-19T05:00", "--weather", "random", "--seed", "4", "--faults",
                   "--json", cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    night = document["nights"][0]
    assert night["weather"] == {"kind": "random", "seed": 4} and night["happenings"]
    assert night["rules_held"] is True and night["violations"] == []
    for shot in night["shots"]:
        assert set(shot) >= {"start", "end", "shotid", "track", "observation", "reason",
                             "outcome"}
    assert {p["reason"] for p in night["idle"]} <= {
        "twilight", "no observable shot", "conditions", "TCS down", "forbidden",
        "error pause", "shot by hand", "starting"}
    assert night["metrology"] and document["simulated_hours"] == 2.0


@pytest.mark.parametrize("args, message", [
    (("--night", "tomorrow"), "--night 'tomorrow': expected a date like 2017-11-18"),
    (("--from", "2017-11-19T03:00"), "--from and --to go together"),
    (("--from", "2017-11-19T05:00", "--to", "2017-11-19T03:00"),
     "the end must come after the start"),
    (("--night", "2017-11-18", "--from", "2017-11-19T03:00", "--to", "2017-11-19T04:00"),
     "--night and --from/--to: give one or the other"),
    (("--nights", "0"), "--nights 0: give 1 to 550"),
    (("--plot", "night.jpg"), "--plot night.jpg: the file name must end in .png"),
    (("--replay", "nowhere.db", "--night", "2017-11-18"), "nowhere.db: no such recording"),
    (("--weather", "rainy"), "invalid choice: 'rainy'"),
    (("--set", "simulate.tick_interval=0"),
     "[simulate] tick_interval = 0: expected a finite number >= 0.01 and <= 60"),
])
def test_bad_requests_get_one_line(tmp_path: Path, args, message):
    done = run_ocd("simulate", *CONFIG, *args, cwd=tmp_path)
    assert done.returncode in (1, 2), done.stdout
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("command", ["simulate", "plan"])
def test_without_a_shot_list_one_line_says_how_to_name_one(tmp_path: Path, command):
    """A newcomer's first try, in a directory with no shots.dat and no configuration."""
    done = run_ocd(command, cwd=tmp_path)
    assert done.returncode == 2, done.stdout
    assert done.stderr.strip().splitlines() == [
        f"ocd: error: {tmp_path / 'shots.dat'}: no shot list there ([shots] shot_file): give "
        "--shots FILE, or a configuration naming one (the sample night's: --config "
        "conf/rehearsal.cfg in OCD's source tree)"], done.stderr


def test_a_plan_under_poor_seeing_waits_for_conditions(tmp_path: Path):
    done = run_ocd("plan", *CONFIG, "--at", "2017-11-19T03:00", "--seeing", "3.5",
                   cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("tonight's plan from 03:00 (--at) to morning twilight at "
                               "12:02 UTC, seeing 3.50\" and transparency 0.95 all night")
    assert "conditions" in done.stdout and "planned" not in done.stdout


def test_a_plan_to_morning_twilight(tmp_path: Path):
    done = run_ocd("plan", *CONFIG, "--at", "2017-11-19T03:00", "--plot",
                   str(tmp_path / "plan.png"), cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if "planned" in line]
    assert rows[0].split()[:3] == ["03:00-03:20", "DEX00009", "W"]
    assert len(rows) >= 10 and "11:42-12:02" in done.stdout  # the last stretch: twilight
    assert (tmp_path / "plan.png").read_bytes().startswith(PNG)


@pytest.mark.slow
def test_a_plan_takes_the_conditions_of_the_running_main_loop():
    root = short_tmpdir()
    config = night_config(root)
    sim = OcdProcess(("sim_tcs", "--config", str(config), "--set", "sim_tcs.seeing=2.2",
                      "--set", "sim_tcs.transparency=0.7"), root, "sim_tcs")
    run = OcdProcess(("run", "--config", str(config), "--yes"), root, "run")
    tap = EventTap([f"ipc://{root}/main.ipc"])
    try:
        tap.wait_for(lambda e: topic_is("ocd.main_loop.status")(e)
                     and e.payload.get("seeing") is not None, 60, what="a status with seeing")
        done = run_ocd("plan", "--config", str(config), cwd=root, timeout=60)
        assert done.returncode == 0, done.stderr
        first = done.stdout.splitlines()[0]
        assert "(OCD's mock clock)" in first
        assert "seeing from the status of the ocd run of process" in first
        seeing = float(first.split("seeing ")[1].split('"')[0])
        assert 2.0 < seeing < 2.4
    finally:
        tap.close()
        for process in (run, sim):
            process.signal(signal.SIGTERM)
            process.stop()


def test_a_hostile_recording_is_refused_event_by_event(tmp_path: Path):
    """A recording is input like any other: its bad events are refused as a subscriber
    refuses them (counted, said), the good ones drive the night, nothing breaks."""
    import shutil
    import sqlite3

    from ocd.config import sample_night

    night = tmp_path / "hostile.db"
    shutil.copyfile(sample_night(), night)
    with sqlite3.connect(night) as conn:
        received = conn.execute("SELECT max(received) FROM events").fetchone()[0]
        bad = [("pas.Guider1.metrology_data", '{"seeing": -5, "transparency": 0.9}'),
               ("pas.Guider2.metrology_data", '{"seeing": NaN, "transparency": 0.9}'),
               ("tcs.root.ra_dec", '{"ra": 99, "dec": 1e400}'),
               ("tcs.receiver.heartbeat", "not json at all"),
               ("tcs.receiver.heartbeat", "[1, 2, 3]")]
        conn.executemany("INSERT INTO events (topic, payload, received) VALUES (?, ?, ?)",
                         [(topic, payload, received + 0.01 * n)
                          for n, (topic, payload) in enumerate(bad, start=1)])
    done = run_ocd("simulate", *CONFIG, "--set", "run_shot.exposure_time=60", "--from",
                   "2017-11-19T03:00", "--to", "2017-11-19T04:30", "--replay", str(night),
                   cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "rules: all held" in done.stdout
    # the bad events come at the end of the 70-minute recording: played once in 90 minutes
    assert "the recording: 5 event(s) refused as a subscriber refuses them" in done.stdout
    assert "1x pas.Guider1.metrology_data: invalid payload: seeing = -5 is out of range" \
        in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", [
    ("simulate", "--from", "2017-11-19T03:00", "--to", "2017-11-19T04:00"),
    ("plan", "--at", "2017-11-19T11:00"),
], ids=["simulate", "plan"])
def test_shots_without_input_files_are_named_at_the_start(tmp_path: Path, command):
    """The sample shot list away from its star files and ACAM images: said in one line before
    the report (the night went by in error pauses, 114 of them, without a word why); with the
    files where ``[run_shot]`` says, nothing is said."""
    shots = tmp_path / "shots.dat"
    shots.write_bytes(sample_shot_file().read_bytes())
    lacking = list(load_shots(shots).all())
    done = subprocess.run([sys.executable, "-m", "ocd", *command, "--shots", str(shots)],
                          cwd=tmp_path, env=ocd_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=120)
    lines = done.stdout.splitlines()
    said = [n for n, line in enumerate(lines) if "lack their input files" in line]
    assert len(said) == 1, done.stdout
    line = lines[said[0]]
    assert line.startswith(f"ocd {command[0]}: ") and "DEX00001 E" in line, line
    assert f"shuffle_dir {tmp_path / 'HETcommands'} or acam_dir {tmp_path / 'ACAMimages'}" \
        in line
    assert len(lacking) > 8 and line.rstrip().endswith("(doc/shot-inputs.md)")
    report = [n for n, text in enumerate(lines) if text.startswith(("night from", "tonight's"))]
    assert report and said[0] < report[0], done.stdout  # at the start, before the report
    with_files = run_ocd(*command, *CONFIG, cwd=tmp_path, timeout=120)
    assert with_files.returncode == 0, with_files.stderr
    assert "lack their input files" not in with_files.stderr


def test_a_stretch_ending_in_a_shot_leaves_no_noise_on_stderr(tmp_path: Path):
    """The shot cut by the end of the stretch (its slew still sleeping) is cancelled with the
    night, not destroyed pending with an asyncio error line."""
    done = run_ocd("simulate", *CONFIG, "--from", "2017-11-19T03:00", "--to",
                   "2017-11-19T03:30", "--replay", str(sample_night()), cwd=tmp_path,
                   timeout=120)
    assert done.returncode == 0, done.stderr
    assert "1 cut by the end of the stretch" in done.stdout
    assert done.stderr == ""
