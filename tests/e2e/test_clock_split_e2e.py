"""One clock warned (issue: a silent clock split): ``ocd sim_tcs`` and ``ocd board`` adopt a
main loop's mock clock; that main loop stops and another starts with another ``mock_time``.
Each of them says so in one line, the board shows it, and both follow the new main loop: the
simulator's events are stamped on the new clock. Real processes, real sockets."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request

import pytest
from browser_helpers import board_url
from e2e_helpers import (
    EventTap,
    OcdProcess,
    night_config,
    short_tmpdir,
    topic_is,
    wait_until,
)

from ocd.bus.envelope import adopted_clock

pytestmark = pytest.mark.slow

#: The second main loop's night: five hours after the first's (the shipped MOCK_TIME).
LATER = "2017-11-19T08:00:00"


def clock_panel(url: str) -> dict:
    with urllib.request.urlopen(url + "/api/snapshot", timeout=5) as response:
        return json.loads(response.read())["clock"]


def test_a_process_on_the_old_clock_says_so_and_follows_the_restarted_main_loop():
    root = short_tmpdir()
    config = night_config(root, speed=60, extra="\n[board]\nurl = http://127.0.0.1:0\n")
    args = ("--config", str(config))
    run = OcdProcess(("run", *args, "--yes"), root, "run")
    tap = EventTap([f"ipc://{root}/main.ipc", f"ipc://{root}/tcs.ipc"])
    sim = board = None
    try:
        tap.wait_for(topic_is("ocd.main_loop.status"), 60, what="first main loop status")
        sim = OcdProcess(("sim_tcs", *args), root, "sim_tcs")
        board = OcdProcess(("board", *args), root, "board")
        url = board_url(root / "board.out", 60)
        wait_until(lambda: "mock clock adopted from" in sim.stderr(), 30, "sim_tcs adopting",
                   sim.stderr)
        assert "mock clock adopted from" in board.stderr()
        assert run.stop() == 0
        later = OcdProcess(("run", *args, "--yes", "--set", f"dates.mock_time={LATER}"),
                           root, "run2")
        run = later
        pid = later.popen.pid
        first, status = tap.wait_for(lambda e: e.topic == "ocd.main_loop.status"
                                     and e.origin.endswith(f":{pid}"), 60,
                                     what="the second main loop's status")
        new_clock = adopted_clock(status)
        assert new_clock is not None
        # each says so in one line, and follows
        for process in (sim, board):
            wait_until(lambda p=process: "following the main loop's clock" in p.stderr(), 30,
                       f"{process.name}'s clock line", process.stderr)
            lines = [line for line in process.stderr().splitlines()
                     if "following the main loop's clock" in line]
            assert len(lines) == 1, lines
            assert f":{pid}" in lines[0] and "s off)" in lines[0], lines
        # on the board
        notices = clock_panel(url)["notices"]
        assert any("ocd board's clock read" in n["text"] for n in notices), notices
        # the simulator's events are stamped on the new main loop's clock from now on
        _, heartbeat = tap.wait_for(lambda e: e.topic == "tcs.receiver.heartbeat"
                                    and e.payload.get("__wire_time", 0) > time.time() - 0.5
                                    , 30, first, what="a fresh TCS heartbeat")
        sim_clock = adopted_clock(heartbeat)
        assert sim_clock is not None
        now = time.time()
        assert abs(sim_clock.reading_at(now) - new_clock.reading_at(now)) <= 1.0
        assert run.popen.poll() is None, run.stderr()
    finally:
        tap.close()
        codes = {"run": run.stop()}
        for process in (sim, board):
            if process is not None:
                codes[process.name] = process.stop()
        errors = {"run": run.stderr()[-2000:]}
        shutil.rmtree(root, ignore_errors=True)
    assert codes == {"run": 0, "sim_tcs": 0, "board": 0}, (codes, errors)
