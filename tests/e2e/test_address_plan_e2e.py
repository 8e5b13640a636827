"""The shipped address plan works out of the box: ``ocd run``, ``ocd sim_tcs``, ``ocd run_shot -e``,
two commanders at once, ``ocd db_replay``, ``ocd record`` and two ``ocd listen`` on one host,
configured with nothing but the shot file's directory (the default ``shots.dat`` of the working
directory), the database path and the mock time (and its speed).

The plan is the master file's: every ``[urls]`` list, its length and order, and every index
option keep their shipped values. Only the tcp port numbers are moved, each to one that was
free a moment ago (a port two options share stays shared): the shipped ports may be taken on a
shared machine by another test or a real OCD, and the point is the plan, not the numbers.
"""

from __future__ import annotations

import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_ocd
from e2e_helpers import MOCK_TIME, EventTap, OcdProcess, short_tmpdir
from shot_fixtures import make_inputs

from ocd.config import load_config, sample_night, sample_shot_file
from ocd.shots.store import load_shots

pytestmark = pytest.mark.slow


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports, each free a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def shipped_urls_on_free_ports() -> tuple[str, dict[str, list[str]]]:
    """The master ``[urls]`` section with its tcp ports moved (see the module docstring), as
    configuration text, and the moved lists by option."""
    master = load_config(environ={})
    raw = {option: master.parser.get("urls", option, raw=True).strip()
           for option in master.options("urls")}
    shipped = sorted({port for value in raw.values() for port in re.findall(r":(\d+)", value)})
    moved = dict(zip(shipped, map(str, free_ports(len(shipped))), strict=True))
    text = {option: re.sub(r":(\d+)", lambda m: f":{moved[m.group(1)]}", value)
            for option, value in raw.items()}
    lists = {option: [u.strip() for u in value.split(",") if u.strip()]
             for option, value in text.items()}
    return "[urls]\n" + "".join(f"{k} = {v}\n" for k, v in text.items()), lists


@pytest.fixture
def root() -> Iterator[Path]:
    path = short_tmpdir()
    shutil.copyfile(sample_shot_file(), path / "shots.dat")  # the default [shots] shot_file
    for shot in load_shots(path / "shots.dat").all():
        make_inputs(path, shot.shotid, shot.qifu)  # the default shuffle_dir and acam_dir
    yield path
    shutil.rmtree(path, ignore_errors=True)


def wait_for_text(path: Path, needle: str, timeout: float, what: str) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text(errors="replace") if path.exists() else ""
        if needle in text:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout:g} s in {path.name}:\n{text[-2000:]}")
        time.sleep(0.05)  # polling a file a process writes: nothing to wait on instead


def test_the_whole_team_runs_together_on_the_shipped_plan(root):
    urls, lists = shipped_urls_on_free_ports()
    assert len(lists["ocd_run_shot"]) >= 2 and len(lists["ocd_allow_hetdex"]) >= 2
    config = root / "ocd.cfg"
    # the mock clock runs at 60x so that the shot's slew, which ocd abort waits for (its next
    # safe point), lasts seconds: [dates], not an address
    config.write_text(urls + f"[database]\nsqlite_path = {root}/obsnum.sqlite\n"
                      f"[dates]\nmock_time = {MOCK_TIME}\nmock_speed = 60\n")
    cfg = ("--config", str(config))
    assert "n_ocd" not in config.read_text()  # every index as shipped
    tap = EventTap([*lists["ocd_main_loop"], *lists["ocd_run_shot"]])
    team: list[OcdProcess] = []

    def start(name: str, *args: str) -> OcdProcess:
        team.append(OcdProcess((*args, *cfg), root, name))
        return team[-1]

    try:
        run = start("run", "run", "--yes")
        start("sim_tcs", "sim_tcs")
        listen = start("listen", "listen")
        start("listen_json", "listen", "--json")
        record = start("record", "record", str(root / "team.db"))
        start("db_replay", "db_replay", "--loop", "-t", "tcs.", "-t", "pas.",
              str(sample_night()))
        tap.wait_for(lambda e: e.topic == "ocd.main_loop.status"
                     and e.payload["states"]["tcs"] == "alive", 60, what="the TCS alive")
        # two commanders at the same moment: each binds a free address of the list
        both = [OcdProcess(("allow_hetdex", "stop", *cfg), root, f"allow_{i}") for i in (1, 2)]
        assert [p.popen.wait(60) for p in both] == [0, 0], [p.stderr() for p in both]
        shot = start("run_shot", "run_shot", "-e", "DEX00009", "--track", "W", "--yes")
        _, followed = tap.wait_for(
            lambda e: e.topic == "ocd.states.change" and e.payload.get("new_state") == "running"
            and f":{shot.popen.pid})" in str(e.payload.get("msg")), 60,
            what="the main loop following the manual shot")
        assert "DEX00009" in followed.payload["msg"]
        aborted = run_ocd("abort", *cfg, cwd=root)
        assert aborted.returncode == 0, aborted.stderr
        assert "aborting shot DEX00009" in aborted.stdout
        assert shot.popen.wait(60) == 1  # an aborted shot exits 1
        tap.wait_for(lambda e: e.topic == "ocd.states.change"
                     and e.payload.get("machine_name") == "run_shot"
                     and e.payload.get("old_state") == "running", 60, what="the shot's end")
        window = wait_for_text(run.err_path, "shot DEX00009 W aborted by ocd_allow_hetdex@", 30,
                               "the shot's end in the window of ocd run")
        for told in ("started: observation", "by hand (ocd_run_shot@",
                     "allow_hetdex stop from ocd_allow_hetdex@",
                     "abort from ocd_allow_hetdex@"):
            assert told in window, told
        # ocd listen shows the manual shot (its end at least: it may have connected to the
        # shot's address a moment after the shot's first events)
        shown = wait_for_text(listen.child.out_path, "ocd.run_shot.run  exec_status=1 "
                              "shotid=DEX00009 error=true", 30, "the shot's end in ocd listen")
        assert "ocd.run_shot.ack" in shown  # and the answer to ocd abort
    finally:
        tap.close()
        codes = {p.name: p.stop() for p in reversed(team)}
    assert {name: code for name, code in codes.items() if name != "run_shot"} == {
        "run": 0, "sim_tcs": 0, "listen": 0, "listen_json": 0, "record": 0, "db_replay": 0}
    assert "events stored" in record.child.stdout()
