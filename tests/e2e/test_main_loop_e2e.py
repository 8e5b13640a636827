"""The main loop against the TCS simulator: real processes, real sockets, MariaDB obsnums.

Each test starts ``ocd sim_tcs`` and ``ocd run`` on a mock clock running fast, drives them with
the real one-shot commands, and follows the events with a plain SUB socket.
"""

from __future__ import annotations

import re
import shutil
import signal
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


def start_night(root: Path, config: Path) -> Night:
    sim = OcdProcess(("sim_tcs", "--config", str(config)), root, "sim_tcs")
    run = OcdProcess(("run", "--config", str(config), "--yes"), root, "run")
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
    idle, _ = night.tap.wait_for(run_shot_change("idle", "shot_finished"), 60, running,
                                 what="manual shot finished")
    assert manual.popen.wait(30) == 0, manual.stderr()
    manual.stop()
    between = night.tap.events[running:idle]
    assert not [e for e in between if e.topic in ("ocd.main_loop.decision", "ocd.run_shot.run")
                and f":{night.run.popen.pid}" in (e.origin or "")]
    own, own_start = night.tap.wait_for(
        lambda e: e.topic == "ocd.run_shot.run" and e.payload["exec_status"] == 0
        and (e.origin or "").endswith(f":{night.run.popen.pid}"), 60, idle,
        what="the main loop's own shot after the manual one")
    assert own > idle
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
    private = {name: f"ipc://{night.root}/second/{name}.ipc"
               for name in ("ocd_main_loop", "ocd_run_shot", "ocd_allow_hetdex", "event_urls")}
    args = [a for name, url in private.items() for a in ("--set", f"urls.{name}={url}")]
    result = night.ocd("run", "--yes", *args, timeout=60)
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("ocd: error: another ocd run already uses the shot file "), line
    assert "ocd_main_loop@" in line and f":{night.run.popen.pid} publishing on" in line


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
