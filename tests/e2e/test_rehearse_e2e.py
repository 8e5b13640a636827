"""``ocd rehearse`` end to end: real children, a short night, and what happens when one of
them dies or the user presses Ctrl+C."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ocd_env
from e2e_helpers import short_tmpdir
from obsnum_helpers import NOTE_DATABASE

from ocd.config import sample_shot_file
from ocd.monitor.tally import SUMMARY_KEYS
from ocd.shots.store import load_shots

pytestmark = pytest.mark.slow

CHILDREN = ("run", "record", "alarms", "db_replay", "allow_hetdex")


class Rehearse:
    """``ocd rehearse ARGS`` with its output lines collected as they come."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.popen = subprocess.Popen([sys.executable, "-m", "ocd", "rehearse", *args],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=ocd_env(), cwd=cwd)
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(stream, into), daemon=True)
                         for stream, into in ((self.popen.stdout, self.lines),
                                              (self.popen.stderr, self.errors))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.errors)

    def wait_line(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        checked = 0
        while time.monotonic() < deadline:
            for line in self.lines[checked:]:
                match = re.search(pattern, line)
                if match:
                    return match
            checked = len(self.lines)
            if self.popen.poll() is not None and not self._readers[0].is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r}; output:\n{self.output}\n"
                             f"stderr:\n{self.stderr}")

    def finish(self, timeout: float) -> int:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(f"ocd rehearse did not finish:\n{self.output}") from None
        for reader in self._readers:
            reader.join(5)
        return self.popen.returncode

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def pids(self) -> dict[str, int]:
        return {m.group(1): int(m.group(2)) for m in
                re.finditer(r"started ocd (\w+) \(pid (\d+)\)", self.output)}


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_short_night_runs_shots_and_summarises(tmp_path):
    sample_before = sample_shot_file().read_bytes()
    keep = short_tmpdir()
    # the user's own file carries the original OCD's [database] section: still SQLite
    (tmp_path / "ocd.cfg").write_text(NOTE_DATABASE)
    rehearse = Rehearse("--duration", "20m", "--speed", "120", "--set",
                        "run_shot.exposure_time=60", "--summary", str(tmp_path / "s.json"),
                        "--keep", str(keep), "--config", "ocd.cfg", cwd=tmp_path)
    assert rehearse.finish(120) == 0, rehearse.stderr + rehearse.output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert tuple(summary) == SUMMARY_KEYS
    completed = summary["shots_completed"]
    assert completed >= 2 and summary["shots_failed"] == 0
    assert summary["obsnums"] == list(range(1, len(summary["obsnums"]) + 1))  # fresh numbers
    assert len(summary["obsnums"]) in (completed, completed + 1)  # + one cut by the end
    topics = summary["events_by_topic"]
    assert topics["tcs.receiver.heartbeat"] > 0 and topics["pas.Guider1.metrology_data"] > 0
    assert topics["ocd.run_shot.exp_hetdex"] >= 2 * 3 * completed
    # the command that started the night, its acknowledgement and the state it changed: the
    # command went out before the recorder subscribed, and all three were missing
    assert topics["ocd.command.allow_hetdex"] >= 1 and topics["ocd.main_loop.ack"] >= 1
    assert topics["ocd.states.hetdex_allowed"] >= 1
    assert summary["gaps"] == 0
    out = rehearse.output
    assert "shot DEX00009 (W) started: observation 1" in out
    assert "exposure 3/3 done (observation 1)" in out
    assert f"shots completed:     {completed}" in out
    assert "sequence gaps:       none" in out
    pids = rehearse.pids()
    assert set(pids) == set(CHILDREN)
    assert all(gone(pid) for pid in pids.values())
    # the rehearsal's own copy of the shot list took the completed shots; the sample did not
    after = sum(s.n_obs for s in load_shots(keep / "shots.dat").all())
    assert after == sum(s.n_obs for s in load_shots(sample_shot_file()).all()) - completed
    assert sample_shot_file().read_bytes() == sample_before
    assert (keep / "rehearsal.db").stat().st_size > 0 and (keep / "run.err").exists()
    # the summary counts exactly what the recorder stored
    with sqlite3.connect(keep / "rehearsal.db") as conn:
        recorded = dict(conn.execute("SELECT topic, count(*) FROM events GROUP BY topic"))
    assert topics == recorded
    assert f"events recorded, by topic ({sum(recorded.values())} in all)" in out
    assert f"recording ({keep}/rehearsal.db): {sum(recorded.values())} events stored" in out
    assert (f"observation numbers: vl_obsnum in SQLite file {keep}/obsnum.sqlite, because "
            "[database] backend = sqlite on the command line; the mysql_* options set "
            "(mysql_host in ocd.cfg:2 and 4 more) are not used") in (keep / "run.err").read_text()
    shutil.rmtree(keep, ignore_errors=True)


def running_rehearsal(cwd: Path) -> Rehearse:
    """A long rehearsal, returned once its main loop follows the TCS (killed if it never
    does, so the failing test leaves no process behind)."""
    rehearse = Rehearse("--duration", "3h", cwd=cwd)
    try:
        rehearse.wait_line(r"tcs: dead -> alive", 60)
    except AssertionError:
        rehearse.popen.kill()
        raise
    return rehearse


def test_a_dead_child_stops_the_others_and_says_which_and_why(tmp_path):
    rehearse = running_rehearsal(tmp_path)
    pids = rehearse.pids()
    os.kill(pids["db_replay"], signal.SIGKILL)
    assert rehearse.finish(60) == 1
    assert (f"ocd db_replay (pid {pids['db_replay']}) stopped unexpectedly: killed by SIGKILL"
            in rehearse.stderr)
    assert f"last lines of ocd db_replay (pid {pids['db_replay']})'s stderr" in rehearse.stderr
    assert rehearse.stderr.rstrip().splitlines()[-1].startswith("ocd: error: ocd db_replay")
    assert "rehearsal summary" in rehearse.output
    assert all(gone(pid) for pid in pids.values())


def test_ctrl_c_stops_every_child(tmp_path):
    rehearse = running_rehearsal(tmp_path)
    pids = rehearse.pids()
    rehearse.popen.send_signal(signal.SIGINT)
    assert rehearse.finish(60) == 130
    assert "interrupted; every process stopped" in rehearse.stderr
    assert "rehearsal summary" in rehearse.output
    # without --keep its directory is gone: nothing names a file in it
    assert "/rehearse-" not in rehearse.output + rehearse.stderr
    assert "recording (deleted with the temporary directory): " in rehearse.output
    assert set(pids) == set(CHILDREN) and all(gone(pid) for pid in pids.values())


def test_bad_options_stop_before_anything_starts(tmp_path):
    for args, message in ((["--duration", "soon"], "--duration 'soon'"),
                          (["--speed", "0"], "--speed 0: must be positive"),
                          (["--set", "rehearse.night=nowhere.db"],
                           "[rehearse] night = nowhere.db: expected an existing regular file: "
                           "file not found")):
        rehearse = Rehearse(*args, cwd=tmp_path)
        code = rehearse.finish(60)
        assert code in (1, 2) and message in rehearse.stderr, rehearse.stderr
        assert "started" not in rehearse.output


@pytest.mark.browser
def test_a_rehearsal_with_its_board_and_the_docs_picture_of_it(tmp_path):
    """``--board``: the board follows the rehearsal; its address is printed, its page shows
    the rehearsed night (read here through the snapshot the page gets first), with the alarm
    watcher's panel. The picture of doc/board.md is made by this rehearsal and this code
    (``python -m ocd.dev.screenshot``): here into the test's directory, checked to be a PNG
    of the whole page."""
    import urllib.request

    from browser_helpers import chromium
    from PIL import Image

    from ocd.dev.screenshot import REHEARSAL, SERVING, VIEWPORT, shoot

    rehearse = Rehearse(*REHEARSAL, cwd=tmp_path)
    url = rehearse.wait_line(SERVING.pattern, 60).group(1)
    shot = rehearse.wait_line(r"shot (DEX\d+) \(\w\) started", 60).group(1)

    def read_snapshot() -> dict:
        with urllib.request.urlopen(url + "/api/snapshot", timeout=10) as response:
            return json.load(response)

    # the board may hear the main loop's states after the shot's start line (a busy machine)
    deadline = time.monotonic() + 30
    while (snapshot := read_snapshot())["states"]["machines"].get("hetdex_allowed") != "allowed":
        assert time.monotonic() < deadline, snapshot["states"]
        time.sleep(0.2)
    assert snapshot["clock"]["mock"] is True
    assert set(snapshot["alarms"]) >= {"active", "history", "worst", "urgent"}
    picture = tmp_path / "board.png"
    with chromium(VIEWPORT) as browser:
        from playwright.sync_api import expect

        page = browser.new_page()
        shoot(page, url, picture)
        expect(page.locator("#shot-id")).to_have_text(shot)
        expect(page.locator("#clock-kind")).to_contain_text("mock clock")
        expect(page.locator("#alarm-bar")).to_be_visible()
    with Image.open(picture) as image:
        image.verify()
        assert image.format == "PNG"
        width, height = image.size
    assert width == VIEWPORT[0] and height >= VIEWPORT[1]
    assert rehearse.finish(120) == 0, rehearse.stderr
    pids = rehearse.pids()
    assert {"board", "alarms"} <= set(pids) and all(gone(pid) for pid in pids.values())


def test_a_rehearsal_with_curve_on_makes_its_own_keys(tmp_path):
    """``[security] curve = true``: the rehearsal runs its processes as members of a bus of its
    own (throw-away keys in its private directory, the simulated TCS a member too), and the
    night goes as usual; the keys go with the directory."""
    keep = short_tmpdir()
    rehearse = Rehearse("--tcs", "sim", "--duration", "20m", "--speed", "120", "--set",
                        "run_shot.exposure_time=60", "--set", "security.curve=true",
                        "--summary", str(tmp_path / "s.json"), "--keep", str(keep),
                        cwd=tmp_path)
    assert rehearse.finish(120) == 0, rehearse.stderr + rehearse.output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["shots_completed"] >= 1 and summary["shots_failed"] == 0
    assert summary["gaps"] == 0
    keys = keep / "keys"
    assert (keys / "server.key_secret").stat().st_mode & 0o077 == 0
    log = (keep / "run.err").read_text()
    assert "Traceback" not in log
    shutil.rmtree(keep, ignore_errors=True)
