"""``ocd abort`` as the RA uses it, at 1x with real processes: the shot stops within 5 s even in
the middle of a slew, ends ``aborted`` (not failed), no error pause follows, and ``ocd listen``,
the narration of ``ocd run`` and the board say who aborted and when."""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.request
from datetime import datetime

import pytest
from browser_helpers import board_url
from conftest import run_ocd
from e2e_helpers import EventTap, OcdProcess, night_config, short_tmpdir, topic_is

pytestmark = pytest.mark.slow

ABORTED = re.compile(r"aborted by ocd_allow_hetdex@\S+ at \d\d:\d\d:\d\d UTC")


def stamp(event) -> float:
    return datetime.fromisoformat(event.payload["__ocd_utc"]).timestamp()


def board_rows(url: str) -> list[dict]:
    with urllib.request.urlopen(url + "/api/snapshot", timeout=5) as response:
        return list(json.loads(response.read())["completed"]["shots"])


def test_abort_during_a_slew_at_1x_stops_within_5_s_and_is_no_failure():
    root = short_tmpdir()
    config = night_config(root, speed=1, extra="\n[board]\nurl = http://127.0.0.1:0\n")
    args = ("--config", str(config))
    sim = OcdProcess(("sim_tcs", *args), root, "sim_tcs")
    run = OcdProcess(("run", *args, "--yes"), root, "run")
    board = OcdProcess(("board", *args), root, "board")
    listen = OcdProcess(("listen", *args, "-t", "ocd.main_loop.status"), root, "listen")
    tap = EventTap([f"ipc://{root}/{name}.ipc" for name in ("main", "shot0")])
    processes = {"board": board, "listen": listen, "run": run, "sim_tcs": sim}
    try:
        tap.wait_for(topic_is("ocd.main_loop.status"), 60, what="first main loop status")
        url = board_url(root / "board.out", 60)
        allowed = run_ocd("allow_hetdex", "start", *args, cwd=root)
        assert allowed.returncode == 0, allowed.stderr
        start, started = tap.wait_for(topic_is("ocd.run_shot.run", exec_status=0), 60,
                                      what="a shot start")
        tap.wait_for(topic_is("ocd.run_shot.setup_telescope", exec_status=0), 30, start,
                     what="the slew")
        asked = time.monotonic()
        aborted = run_ocd("abort", *args, cwd=root)
        assert aborted.returncode == 0, aborted.stderr
        assert f"aborting shot {started.payload['shotid']}" in aborted.stdout
        _, finish = tap.wait_for(topic_is("ocd.run_shot.run", exec_status=1), 10, start,
                                 what="the shot's end")
        _, ack = tap.wait_for(lambda e: e.topic == "ocd.main_loop.ack"
                              and e.payload["command"] == "abort", 10, start, what="the ack")
        took = stamp(finish) - stamp(ack)  # on the OCD clock, at 1x: real seconds
        assert 0 <= took < 5.0, took
        assert time.monotonic() - asked < 10.0
        assert finish.payload["exc_type"] == "ShotAborted"
        assert ABORTED.fullmatch(finish.payload["exc_value"]), finish.payload["exc_value"]
        idle, change = tap.wait_for(
            lambda e: e.topic == "ocd.states.change" and e.payload["machine_name"] == "run_shot"
            and e.payload["old_state"] == "running", 10, start, what="run_shot leaving running")
        assert (change.payload["new_state"], change.payload["transition"]) == \
            ("idle", "shot_aborted")
        assert not [e for e in tap.events[idle:] if e.topic == "ocd.states.change"
                    and e.payload["machine_name"] == "run_shot"
                    and e.payload["new_state"] == "error"]
        # who and when, in ocd listen, in ocd run's narration and on the board
        deadline = time.monotonic() + 10
        while "exc_value=" not in listen.child.stdout() and time.monotonic() < deadline:
            time.sleep(0.1)
        ends = [line for line in listen.child.stdout().splitlines()
                if "ocd.run_shot.run" in line and "exec_status=1" in line]
        assert ends and ABORTED.search(ends[-1]), ends
        window = run.stderr()
        assert "failed: ShotAborted" not in window
        assert re.search(rf"shot {started.payload['shotid']} \w {ABORTED.pattern}", window)
        # the night goes on at once (no error pause): the row is found by its observation
        row = [r for r in board_rows(url)
               if r["observation"] == started.payload["observation"]][-1]
        assert row["state"] == "aborted" and ABORTED.fullmatch(row["error"] or ""), row
    finally:
        tap.close()
        codes = {name: proc.stop() for name, proc in processes.items()}
        errors = {name: proc.stderr()[-2000:] for name, proc in processes.items()}
        shutil.rmtree(root, ignore_errors=True)
    assert codes == {"board": 0, "listen": 0, "run": 0, "sim_tcs": 0}, (codes, errors)
