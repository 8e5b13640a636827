"""Configuration mistakes a new user makes, caught or made harmless: real ``ocd`` processes on
real sockets (issue "mistakes caught")."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket

import pytest
from bus_helpers import start_ocd, wait_for_line
from conftest import ocd_env, run_ocd
from e2e_helpers import EventTap, OcdProcess, night_config, short_tmpdir

pytestmark = pytest.mark.timeout(120)


def tcs_moves(tap: EventTap) -> list[str]:
    return [f"{e.payload['old_state']}->{e.payload['new_state']}" for e in tap.events
            if e.topic == "ocd.states.change" and e.payload["machine_name"] == "tcs"]


def test_the_quick_starts_night_does_not_flap_the_tcs():
    """The quick start's by-hand night: ``mock_speed = 60`` with the default ``[tcs]
    heartbeat_timeout = 5`` (OCD-clock seconds: a twelfth of a real second), and heartbeats at
    most ``[sim_tcs] max_rate`` a real second (10 here: 6 OCD-clock seconds apart). The TCS
    turned dead and alive again between every two heartbeats; it must stay alive."""
    root = short_tmpdir()
    try:
        path = night_config(root, speed=60)
        text = path.read_text()
        path.write_text(text.replace("heartbeat_timeout = 60", "heartbeat_timeout = 5")
                        .replace("max_rate = 20", "max_rate = 10"))
        args = ("--config", str(path))
        tap = EventTap([f"ipc://{root}/main.ipc", f"ipc://{root}/tcs.ipc"])
        run = OcdProcess(("run", *args, "--yes"), root, "run")
        sim = OcdProcess(("sim_tcs", *args), root, "sim_tcs")
        try:
            alive, _ = tap.wait_for(lambda e: e.topic == "ocd.states.change"
                                    and e.payload["machine_name"] == "tcs"
                                    and e.payload["new_state"] == "alive", 60, what="TCS alive")
            # forty heartbeats after it came alive: four real seconds, 240 OCD-clock seconds
            for _ in range(40):
                alive, _ = tap.wait_for(lambda e: e.topic == "tcs.receiver.heartbeat", 30,
                                        alive + 1, what="a TCS heartbeat")
            assert tcs_moves(tap)[-1:] == ["dead->alive"] and "alive->dead" not in tcs_moves(tap)
        finally:
            assert sim.stop() == 0, sim.stderr()
            assert run.stop() == 0, run.stderr()
            tap.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_rehearse_board_on_a_busy_port_says_one_line_with_advice_that_works(tmp_path):
    """``ocd rehearse --board`` with ``[board] url``'s port taken: one line before anything
    starts (it printed the error twice and an empty summary, and advised ``--url``, which
    ``ocd rehearse`` does not take); the advice, followed, gives a rehearsal with its board."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        refused = run_ocd("rehearse", "--board", "--duration", "1m", "--set",
                          f"board.url=http://127.0.0.1:{port}", cwd=tmp_path, timeout=60)
    assert refused.returncode == 1, refused.stderr
    assert refused.stdout == ""
    lines = refused.stderr.splitlines()
    assert len(lines) == 1 and re.match(
        re.escape(f"ocd: error: cannot serve on http://127.0.0.1:{port} (127.0.0.1): address "
                  "already in use by another process") + r"( \(held by pid \d+: .*\))?"
        + re.escape("; give --set board.url=http://127.0.0.1:0"), lines[0]), refused.stderr
    assert f"pid {os.getpid()}" in lines[0], lines[0]  # this test holds the port
    advice = re.search(r"give (--set \S+)", lines[0]).group(1).split(" ")
    followed = start_ocd("rehearse", "--board", *advice, env=ocd_env(), cwd=tmp_path)
    try:
        served = wait_for_line(followed.stdout, "the board of this night: ", timeout=60)
        assert re.search(r"the board of this night: http://127\.0\.0\.1:\d+/", served)
    finally:
        followed.send_signal(signal.SIGINT)  # enough: the board served, on a free port
        out, err = followed.communicate(timeout=60)
    assert followed.returncode == 130, err
    assert "in use" not in err


def test_rehearse_into_a_closed_pipe_stops_its_children_and_ends_quietly(tmp_path):
    """``ocd rehearse | head -1``: the reader goes after the first line; the rehearsal stops
    every child and ends with 128 + SIGPIPE, no BrokenPipeError logged for every event."""
    rehearse = start_ocd("rehearse", "--duration", "3h", env=ocd_env(), cwd=tmp_path)
    try:
        assert rehearse.stdout.readline().startswith("ocd rehearse: 180 min of night")
        rehearse.stdout.close()
        err = rehearse.stderr.read()  # to its end: every child stopped, then the rehearsal
        assert rehearse.wait(timeout=60) == 141, err
    finally:
        if rehearse.poll() is None:
            rehearse.kill()
    assert "Broken" not in err and "Traceback" not in err, err
