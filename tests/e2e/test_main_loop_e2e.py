"""The main loop against the TCS simulator: real processes, real sockets, MariaDB obsnums.

Each test starts ``ocd sim_tcs`` and ``ocd run`` on a mock clock running fast, drives them with
the real one-shot commands, and follows the events with a plain SUB socket.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest
from conftest import run_ocd
from e2e_helpers import EventTap, OcdProcess, night_config, short_tmpdir, topic_is

from ocd.app.main_loop import resolve_inputs
from ocd.bus import validation_errors
from ocd.config import load_config
from ocd.errors import ConfigError, OcdError
from ocd.shots.store import load_shots

pytestmark = pytest.mark.slow

SHOT_SEQUENCE = [("run", 0), ("setup_telescope", 0), ("setup_telescope", 1),
                 ("exp_hetdex", 0), ("exp_hetdex", 1), ("exp_hetdex", 0), ("exp_hetdex", 1),
                 ("exp_hetdex", 0), ("exp_hetdex", 1), ("run", 1)]


@dataclass
class Night:
    root: Path
    config: Path
    sim: OcdProcess
    run: OcdProcess
    tap: EventTap

    def ocd(self, *args: str, timeout: float = 60):
        return run_ocd(*args, "--config", str(self.config), cwd=self.root, timeout=timeout)

    def allow(self, action: str = "start") -> None:
        result = self.ocd("allow_hetdex", action, "--timeout", "20")
        assert result.returncode == 0, result.stderr
        assert f"HETDEX shots {'allowed' if action == 'start' else 'forbidden'}" in result.stdout

    def shot_events(self, start: int, origin: str | None = None) -> list:
        return [e for e in self.tap.events[start:] if e.topic.startswith("ocd.run_shot.")
                and e.topic not in ("ocd.run_shot.ack", "ocd.run_shot.progress")
                and (origin is None or e.origin == origin)]


def start_night(root: Path, config: Path, run_env: dict[str, str] | None = None) -> Night:
    """``ocd sim_tcs`` and ``ocd run`` (with ``run_env`` as its environment, if given)."""
    sim = OcdProcess(("sim_tcs", "--config", str(config)), root, "sim_tcs")
    run = OcdProcess(("run", "--config", str(config), "--yes"), root, "run", env=run_env)
    tap = EventTap([f"ipc://{root}/{name}.ipc" for name in ("main", "shot0", "shot1")])
    night = Night(root, config, sim, run, tap)
    try:  # the tap is connected once it sees the status published at each TCS heartbeat
        tap.wait_for(topic_is("ocd.main_loop.status"), 60, what="first main loop status")
    except AssertionError:
        stop_night(night)
        raise AssertionError(f"ocd run did not come up:\n{run.stderr()}\n{sim.stderr()}") from None
    return night


def schema_errors(night: Night) -> list[str]:
    """Every OCD event the tap saw that does not match its topic's schema (doc/events.md)."""
    return [f"{e.topic}: {error}" for e in night.tap.events if e.system == "ocd"
            for error in validation_errors(e.topic, e.payload)]


def stop_night(night: Night) -> None:
    night.tap.close()
    codes = {"run": night.run.stop(), "sim_tcs": night.sim.stop()}
    assert codes == {"run": 0, "sim_tcs": 0}, (codes, night.run.stderr(), night.sim.stderr())


@pytest.fixture
def night_mysql(mysql_database) -> Iterator[Night]:
    root = short_tmpdir()
    config = night_config(root, database=mysql_database)
    assert run_ocd("obsnum", "init", "--config", str(config)).returncode == 0
    night = start_night(root, config)
    yield night
    stop_night(night)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def night(request) -> Iterator[Night]:
    root = short_tmpdir()
    night = start_night(root, night_config(root, **getattr(request, "param", {})))
    yield night
    stop_night(night)
    shutil.rmtree(root, ignore_errors=True)


def sequence(events) -> list[tuple[str, int]]:
    return [(e.key, e.payload["exec_status"]) for e in events]


@pytest.mark.mysql
def test_a_shot_runs_when_allowed_then_stops_when_forbidden(night_mysql, mysql_database):
    n = night_mysql
    before = {s.shotid: s.n_obs for s in load_shots(n.root / "shots.dat").all()}
    n.allow("start")
    first, start = n.tap.wait_for(topic_is("ocd.run_shot.run", exec_status=0), 60,
                                  what="shot start")
    last, finish = n.tap.wait_for(topic_is("ocd.run_shot.run", exec_status=1), 60, first,
                                  what="shot finish")
    events = n.shot_events(first, start.origin)
    events = events[:[e.payload for e in events].index(finish.payload) + 1]
    assert sequence(events) == SHOT_SEQUENCE
    assert finish.payload["error"] is False
    exposures = [e.payload["exposure"] for e in events if e.key == "exp_hetdex"]
    assert exposures == [1, 1, 2, 2, 3, 3]
    shotid, observation = start.payload["shotid"], start.payload["observation"]
    assert {e.payload["observation"] for e in events if e.key == "exp_hetdex"} == {observation}
    conn = pymysql.connect(**mysql_database)
    with conn.cursor() as cur:
        cur.execute("SELECT obsdate, inst, obsnum FROM vl_obsnum ORDER BY id")
        rows = cur.fetchall()
    conn.close()
    assert (str(rows[0][0]), rows[0][1], rows[0][2]) == ("2017-11-19", "virus", observation)
    after = {s.shotid: s.n_obs for s in load_shots(n.root / "shots.dat").all()}
    assert after[shotid] == before[shotid] - 1
    assert {k: v for k, v in after.items() if k != shotid} == \
        {k: v for k, v in before.items() if k != shotid}
    # stop: the next shot may already be under way; once idle, nothing new starts
    n.allow("stop")
    quiet, _ = n.tap.wait_for(
        lambda e: e.topic == "ocd.main_loop.status"
        and e.payload["states"]["hetdex_allowed"] == "not_allowed"
        and e.payload["states"]["run_shot"] == "idle", 60, last, what="idle, not allowed")
    index = quiet
    for _ in range(5):  # five more heartbeats' worth of status...
        index, _ = n.tap.wait_for(topic_is("ocd.main_loop.status"), 30, index + 1)
    starts = [e for e in n.tap.events[quiet:]  # ...and no shot start among them
              if e.topic == "ocd.run_shot.run" and e.payload["exec_status"] == 0]
    assert starts == []
    assert schema_errors(n) == []
    topics = {e.topic for e in n.tap.events}
    assert {"ocd.main_loop.decision", "ocd.states.hetdex_allowed",
            "ocd.main_loop.ack", "ocd.states.change", "ocd.states.state"} <= topics


def test_dead_tcs_blocks_shots_until_heartbeats_return(night):
    night.sim.signal(signal.SIGUSR1)  # heartbeats off
    dead, _ = night.tap.wait_for(lambda e: e.topic == "ocd.states.change"
                                 and e.payload["machine_name"] == "tcs"
                                 and e.payload["new_state"] == "dead", 30, what="tcs dead")
    night.allow("start")
    waiting, event = night.tap.wait_for(
        lambda e: e.topic == "ocd.main_loop.waiting"
        and any(r.startswith("tcs is dead") for r in e.payload["reasons"]), 30, dead,
        what="waiting for the TCS")
    assert not any(e.topic == "ocd.run_shot.run" for e in night.tap.events[dead:])
    night.sim.signal(signal.SIGUSR1)  # heartbeats back
    alive, _ = night.tap.wait_for(lambda e: e.topic == "ocd.states.change"
                                  and e.payload["machine_name"] == "tcs"
                                  and e.payload["new_state"] == "alive", 30, waiting)
    started, _ = night.tap.wait_for(topic_is("ocd.run_shot.run", exec_status=0), 60, dead)
    assert started > alive


def run_shot_change(new_state: str, transition: str):
    return lambda e: (e.topic == "ocd.states.change" and e.payload["machine_name"] == "run_shot"
                      and e.payload["new_state"] == new_state
                      and e.payload["transition"] == transition)


def test_shot_by_hand_is_followed_and_blocks_automatic_shots(night):
    manual = OcdProcess(("run_shot", "-e", "DEX00009", "--track", "W", "--config",
                         str(night.config), "--yes", "--n-ocd-run-shot", "1"),
                        night.root, "run_shot")
    try:  # the main loop's own view of the manual shot, from its events
        running, event = night.tap.wait_for(run_shot_change("running", "shot_started"), 60,
                                            what="main loop following the manual shot")
    except AssertionError as exc:
        error = manual.stderr()
        manual.stop()
        raise AssertionError(f"{exc}\nrun_shot said:\n{error}") from None
    assert "ocd_run_shot@" in event.payload["msg"] and "DEX00009" in event.payload["msg"]
    assert f":{night.run.popen.pid})" not in event.payload["msg"]  # not the main loop's shot
    night.allow("start")  # allowed while the manual shot runs: the main loop must wait
    night.tap.wait_for(run_shot_change("idle", "shot_finished"), 60, running,
                       what="manual shot finished")
    assert manual.popen.wait(30) == 0, manual.stderr()
    manual.stop()
    # judged by when each event was made, not by the order the test's tap received them in: the
    # main loop's own shot is published on another socket than its state changes
    def manual_end_event(e):
        return (e.topic == "ocd.run_shot.run" and e.payload["exec_status"] == 1
                and (e.origin or "").endswith(f":{manual.popen.pid}"))

    manual_end = night.tap.wait_for(manual_end_event, 10, what="the manual shot's end")[1]
    # from the main loop's "running" (a manual shot's first events may still miss a late
    # subscriber such as this tap) to the manual shot's end
    began, ended = event.payload["__data_time"], manual_end.payload["__data_time"]
    own_during = [e for e in night.tap.events
                  if e.topic in ("ocd.main_loop.decision", "ocd.run_shot.run")
                  and (e.origin or "").endswith(f":{night.run.popen.pid}")
                  and began <= e.payload["__data_time"] <= ended]
    assert not own_during
    _, own_start = night.tap.wait_for(
        lambda e: e.topic == "ocd.run_shot.run" and e.payload["exec_status"] == 0
        and (e.origin or "").endswith(f":{night.run.popen.pid}"), 60, running,
        what="the main loop's own shot after the manual one")
    assert own_start.payload["__data_time"] > ended
    # the manual shot rewrote the shot file and the main loop reloaded it before scheduling
    assert load_shots(night.root / "shots.dat").get("DEX00009").n_obs <= 1
    if own_start.payload["shotid"] == "DEX00009":
        assert own_start.payload["n_obs"] == 1  # 2 in the sample list, minus the manual shot


@pytest.mark.parametrize("night", [{"exposure_time": 1800}], indirect=True)  # 15 s each
def test_abort_mid_exposure(night):
    before = {s.shotid: s.n_obs for s in load_shots(night.root / "shots.dat").all()}
    night.allow("start")
    start, event = night.tap.wait_for(topic_is("ocd.run_shot.run", exec_status=0), 60)
    night.tap.wait_for(topic_is("ocd.run_shot.exp_hetdex", exec_status=0, exposure=2), 60,
                       start, what="second exposure")
    result = night.ocd("abort", "--timeout", "20")
    assert result.returncode == 0, result.stderr
    assert "aborting shot" in result.stdout
    _, finish = night.tap.wait_for(topic_is("ocd.run_shot.run", exec_status=1), 60, start)
    assert (finish.payload["error"], finish.payload["exc_type"]) == (True, "ShotAborted")
    # who aborted and when
    assert re.fullmatch(r"aborted by ocd_allow_hetdex@\S+ at \d\d:\d\d:\d\d UTC",
                        finish.payload["exc_value"]), finish.payload["exc_value"]
    finished = [e for e in night.shot_events(start, event.origin)
                if e.key == "exp_hetdex" and e.payload["exec_status"] == 1]
    assert len(finished) == 1
    after = {s.shotid: s.n_obs for s in load_shots(night.root / "shots.dat").all()}
    assert after == before
    assert schema_errors(night) == []


def test_config_send_changes_a_modifiable_option(night):
    result = night.ocd("config", "send", "run.max_seeing=2.25")
    assert result.returncode == 0, result.stderr
    _, changed = night.tap.wait_for(topic_is("ocd.main_loop.config_changed"), 10)
    assert changed.payload["changes"] == [["run", "max_seeing", "2.25"]]
    refused = night.ocd("config", "send", "database.backend=mysql")
    assert refused.returncode == 2
    assert "cannot change in a running ocd run" in refused.stderr


@pytest.mark.parametrize("night", [{"exposure_time": 1800}], indirect=True)
def test_sigterm_during_a_shot_aborts_it_and_exits_cleanly(night):
    night.allow("start")
    start, _ = night.tap.wait_for(topic_is("ocd.run_shot.exp_hetdex", exec_status=0), 60)
    night.run.signal(signal.SIGTERM)
    assert night.run.popen.wait(30) == 0, night.run.stderr()
    _, finish = night.tap.wait_for(topic_is("ocd.run_shot.run", exec_status=1), 30, start)
    assert finish.payload["exc_value"] == "shutdown"
    shotid = finish.payload["shotid"]
    window = night.run.stderr()  # it says what it stopped
    assert f"SIGTERM: stopping; aborting shot {shotid} at its next safe point" in window
    assert f"ocd run stopped: shot {shotid} aborted, its end published" in window
    assert f"shot {shotid} " in window and "exposure 1/3 of" in window  # the narration


@pytest.mark.parametrize("where", [
    (),  # the same addresses
    ("--set", "urls.ocd_main_loop=ipc://{root}/other-main.ipc"),  # another main address...
    ("--set", "urls.ocd_main_loop=ipc://{root}/other-main.ipc",   # ...and shot index
     "--n-ocd-run-shot", "1"),
], ids=["same addresses", "other main address", "other main and shot addresses"])
def test_a_second_main_loop_on_the_bus_refuses_naming_the_first(night, where):
    args = [arg.format(root=night.root) for arg in where]
    result = night.ocd("run", "--yes", *args, timeout=60)
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("ocd: error: another ocd run is already running on this bus: "
                           f"process {night.run.popen.pid} on "), line
    assert "main.ipc" in line and "shot0.ipc" in line


def test_a_second_main_loop_on_the_same_shot_file_refuses_whatever_its_addresses(night):
    result = night.ocd("run", "--yes", *_private_addresses(night), timeout=60)
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("ocd: error: another ocd run already uses the shot file "), line
    assert "ocd_main_loop@" in line and f":{night.run.popen.pid} publishing on" in line


def _private_addresses(night: Night) -> list[str]:
    """``--set`` arguments giving a second main loop addresses of its own, TCS included."""
    private = {name: f"ipc://{night.root}/second/{name}.ipc"
               for name in ("ocd_main_loop", "ocd_run_shot", "ocd_allow_hetdex", "event_urls")}
    return [a for name, url in private.items() for a in ("--set", f"urls.{name}={url}")]


def test_a_second_main_loop_on_the_shot_file_through_a_symlink_is_refused(night):
    """The issue's scenario: other bus addresses, the same observation-number file, the shot
    file reached through a symbolic link in another directory."""
    other = night.root / "elsewhere"
    other.mkdir()
    link = other / "tonight.dat"
    link.symlink_to(night.root / "shots.dat")
    result = night.ocd("run", "--yes", *_private_addresses(night),
                       "--set", f"shots.shot_file={link}", timeout=60)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"ocd: error: another ocd run already uses the shot file {link} "
                                f"(= {night.root / 'shots.dat'}): ocd_main_loop@"), lines[-1]
    assert f":{night.run.popen.pid} publishing on" in lines[-1]
    assert sum("error" in line for line in lines) == 1
    assert link.is_symlink() and link.resolve() == night.root / "shots.dat"


def test_a_second_main_loop_on_the_same_obsnum_file_is_refused(night):
    """Its own shot file and addresses, but the first loop's observation numbers (through a
    symbolic link): the two would take turns on one telescope."""
    other = night.root / "elsewhere"
    other.mkdir()
    shutil.copy(night.root / "shots.dat", other / "shots.dat")
    (other / "obsnum.sqlite").symlink_to(night.root / "obsnum.sqlite")
    result = night.ocd("run", "--yes", *_private_addresses(night),
                       "--set", f"shots.shot_file={other / 'shots.dat'}",
                       "--set", f"database.sqlite_path={other / 'obsnum.sqlite'}", timeout=60)
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("ocd: error: another ocd run already uses the observation-number "
                           f"file {other / 'obsnum.sqlite'} (= {night.root / 'obsnum.sqlite'})"
                           ": ocd_main_loop@"), line
    assert f":{night.run.popen.pid} publishing on" in line
    assert not (other / "shots.dat.running").exists()


def test_run_shot_of_a_shot_with_no_visit_left_is_refused_before_an_obsnum(night):
    shots = night.root / "shots.dat"
    text = shots.read_text()
    row = next(line for line in text.splitlines() if line.startswith("DEX00001 "))
    columns = row.split()
    columns[3], columns[5] = "0", "0"  # forced East track, n_obs 0
    shots.write_text(text.replace(row, " ".join(columns)))
    result = night.ocd("run_shot", "DEX00001", "--yes")
    assert result.returncode == 2, result.stderr
    assert "shot DEX00001 has n_obs 0" in result.stderr
    assert not (night.root / "obsnum.sqlite").exists() or not _obsnum_rows(night.root)


def test_a_shot_without_its_star_file_fails_to_start_before_an_obsnum(night):
    """The main loop checks a shot's input files before it takes an observation number: a
    missing one is an error of the start, and no number of HET's is used up."""
    shutil.rmtree(night.root / "HETcommands")
    (night.root / "HETcommands").mkdir()
    mark = len(night.tap.events)
    night.allow("start")
    _, error = night.tap.wait_for(topic_is("ocd.main_loop.error", stage="start"), 60, mark,
                                  what="the start's error")
    assert "guide star file not found" in error.payload["error"], error.payload
    assert error.payload["shotid"], error.payload
    assert not [e for e in night.tap.events[mark:] if e.topic == "ocd.run_shot.run"]
    assert not _obsnum_rows(night.root)


def test_run_shot_without_its_star_file_is_refused_before_an_obsnum(night):
    for star_file in (night.root / "HETcommands").glob("DEX00001_*"):
        star_file.unlink()
    result = night.ocd("run_shot", "DEX00001", "--track", "E", "--yes")
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("ocd: error: ") and "guide star file not found" in line, line
    assert not _obsnum_rows(night.root)


def _obsnum_rows(root):
    import sqlite3

    with sqlite3.connect(root / "obsnum.sqlite") as conn:
        try:
            return conn.execute("SELECT * FROM vl_obsnum").fetchall()
        except sqlite3.OperationalError:
            return []


def test_allow_hetdex_without_main_loop_fails_clearly(tmp_path):
    root = short_tmpdir()
    config = night_config(root)
    result = run_ocd("allow_hetdex", "start", "--config", str(config), "--timeout", "1")
    assert result.returncode == 1
    assert "no ocd run answered on ipc://" in result.stderr and "within 1 s" in result.stderr
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("input_, tcs, replay, follows", [
    ("auto", "ipc:///x/tcs.ipc", "ipc:///x/replay.ipc", "tcs"),  # the shipped plan: live TCS
    ("auto", "", "ipc:///x/replay.ipc", "replay"),
    ("replay", "ipc:///x/tcs.ipc", "ipc:///x/replay.ipc", "replay"),  # ocd run --replay
    ("live", "ipc:///x/tcs.ipc", "", "tcs"),
])
def test_run_follows_one_input_never_both(input_, tcs, replay, follows):
    cfg = load_config(overrides=[("run", "input", input_), ("urls", "event_urls", tcs),
                                 ("urls", "ocd_db_replay", replay)], environ={})
    inputs = resolve_inputs(cfg, [], True)
    assert inputs.source == follows
    assert (tcs in inputs.urls, replay in inputs.urls) == (follows == "tcs", follows == "replay")


@pytest.mark.parametrize("input_, empty", [("live", "event_urls"), ("replay", "ocd_db_replay")])
def test_run_refuses_an_input_without_address(input_, empty):
    cfg = load_config(overrides=[("run", "input", input_), ("urls", empty, "")], environ={})
    with pytest.raises(ConfigError, match=rf"\[urls\] {empty} is empty"):
        resolve_inputs(cfg, [], True)


def test_config_send_of_another_shot_file_moves_the_lock_with_it(night):
    from ocd.shots.locks import OwnerLock

    other = night.root / "other.dat"
    shutil.copyfile(night.root / "shots.dat", other)
    result = night.ocd("config", "send", f"shots.shot_file={other}")
    assert result.returncode == 0, result.stderr
    with pytest.raises(OcdError, match=rf"already uses the shot file {other}: ocd_main_loop@"):
        OwnerLock(other)  # now the main loop's
    OwnerLock(night.root / "shots.dat").close()  # and the first list is free again


# -- n_obs on a full disk ------------------------------------------------------------------

@dataclass
class FullDisk:
    """The shot list on a 2 MB tmpfs of the test's own, filled up with ``fill``."""

    night: Night
    disk: Path

    @property
    def shots(self) -> Path:
        return self.disk / "shots.dat"

    def fill(self) -> None:
        """Write until the kernel says ENOSPC, in ever smaller pieces."""
        fd = os.open(self.disk / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for size in (65536, 4096, 512, 1):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * size)
        finally:
            os.close(fd)

    def free(self) -> None:
        (self.disk / "filler").unlink()


@pytest.fixture
def full_disk() -> Iterator[FullDisk]:
    """A real full disk: a tmpfs of 2 MB mounted by the test (root needed; skipped where the
    sandbox refuses the mount: a read-only directory does not stop root)."""
    root = short_tmpdir()
    config = night_config(root)
    disk = root / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        shutil.move(root / "shots.dat", disk / "shots.dat")
        config.write_text(config.read_text().replace(f"shot_file = {root}/shots.dat",
                                                      f"shot_file = {disk}/shots.dat"))
        night = start_night(root, config)
        try:
            yield FullDisk(night, disk)
        finally:
            stop_night(night)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
        shutil.rmtree(root, ignore_errors=True)


def _n_obs(path: Path, shotid: str) -> int:
    return load_shots(path).get(shotid).n_obs


def _owed_shot(fd: FullDisk) -> tuple[int, str, int, int]:
    """Run one shot with the disk filled while it exposes: its n_obs error comes before its
    finish (a success: the data are taken), the status says the decrement is owed. Returns
    the tap index of the owed status, the shot, its n_obs before, its observation."""
    night = fd.night
    night.allow("start")
    first, start = night.tap.wait_for(topic_is("ocd.run_shot.run", exec_status=0), 60,
                                      what="shot start")
    fd.fill()
    shotid, observation = start.payload["shotid"], start.payload["observation"]
    before = _n_obs(fd.shots, shotid)
    _, error = night.tap.wait_for(topic_is("ocd.main_loop.error", stage="n_obs"), 60,
                                         first, what="n_obs error")
    assert error.payload["shotid"] == shotid
    assert "No space left on device" in error.payload["error"]
    finish_at, finish = night.tap.wait_for(
        topic_is("ocd.run_shot.run", exec_status=1, observation=observation), 60, first,
        what="shot finish")
    # two publishers, two sockets: the order they were published in is their OCD-clock stamps
    assert error.payload["__data_time"] <= finish.payload["__data_time"]
    assert finish.payload["error"] is False
    owed_at, _ = night.tap.wait_for(topic_is("ocd.main_loop.status", n_obs_owed=[shotid]), 60,
                                    finish_at, what="status with the owed decrement")
    assert _n_obs(fd.shots, shotid) == before  # not written, not lost
    journal = json.loads((fd.disk / "shots.dat.running").read_bytes())
    assert (journal["completed"], journal["n_obs_written"], journal["observation"]) == \
        (True, False, observation)
    return owed_at, shotid, before, observation


def _chosen(night: Night, start: int, shotid: str) -> list:
    return [e for e in night.tap.events[start:] if e.topic == "ocd.main_loop.decision"
            and e.payload.get("shotid") == shotid and e.payload.get("started")]


def test_n_obs_owed_on_a_full_disk_is_said_kept_out_and_written_when_space_returns(full_disk):
    night = full_disk.night
    owed_at, shotid, before, _ = _owed_shot(full_disk)
    # the loop keeps trying to start shots meanwhile: each refused while the decrement is owed
    night.tap.wait_for(topic_is("ocd.main_loop.error", stage="start"), 60, owed_at,
                       what="a start refused while n_obs is owed")
    night.allow("stop")
    full_disk.free()
    written_at, _ = night.tap.wait_for(topic_is("ocd.main_loop.status", n_obs_owed=[]), 60,
                                       owed_at, what="status with nothing owed")
    assert _n_obs(full_disk.shots, shotid) == before - 1  # exactly once
    assert not (full_disk.disk / "shots.dat.running").exists()
    assert _chosen(night, owed_at, shotid) == []  # never chosen while owed
    assert schema_errors(night) == []


def test_n_obs_owed_is_written_by_the_next_main_loop_after_kill_9(full_disk):
    night = full_disk.night
    owed_at, shotid, before, observation = _owed_shot(full_disk)
    night.run.signal(signal.SIGKILL)
    night.run.popen.wait(30)
    full_disk.free()
    night.run = OcdProcess(("run", "--config", str(night.config), "--yes"), night.root, "run2")
    restarted, _ = night.tap.wait_for(topic_is("ocd.main_loop.started"), 60, owed_at,
                                      what="the restarted main loop")
    night.tap.wait_for(topic_is("ocd.main_loop.status", n_obs_owed=[]), 60, restarted,
                       what="status with nothing owed")
    assert _n_obs(full_disk.shots, shotid) == before - 1  # exactly once
    # its finish was published before the kill: not again
    finishes = [e for e in night.tap.events if e.topic == "ocd.run_shot.run"
                and e.payload["exec_status"] == 1 and e.payload["observation"] == observation]
    assert len(finishes) == 1
