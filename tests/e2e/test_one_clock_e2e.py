"""One clock on the bus: processes started while a main loop runs adopt its mock clock; with
``[dates] mock_anchor`` the clock is pinned for any start order; the clock starts once the
[y/n] question is answered. Real processes, real sockets."""

from __future__ import annotations

import datetime as dt
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ocd_env, run_ocd
from e2e_helpers import MOCK_TIME, EventTap, OcdProcess, night_config, short_tmpdir, topic_is

from ocd.bus import Event
from ocd.core.payload import ocd_time

pytestmark = pytest.mark.slow

SPEED = 60.0
#: What "agree" means: within 2 s of OCD time (1/30 of a real second at 60x).
AGREEMENT = 2.0


def from_main_loop(event: Event) -> bool:
    return (event.origin or "").startswith("ocd_main_loop@") and "__mock_anchor" in event.payload


def main_loop_time(events: list[Event], real: float) -> dt.datetime:
    """The main loop's own clock at the real instant ``real``, from the main-loop event sent
    closest to it (its ``__ocd_utc`` stamped at its ``__wire_time``, advanced at 60x)."""
    ours = [e for e in events if from_main_loop(e)]
    nearest = min(ours, key=lambda e: abs(e.payload["__wire_time"] - real))
    stamped = ocd_time(nearest.payload)
    assert stamped is not None
    return stamped + dt.timedelta(seconds=(real - nearest.payload["__wire_time"]) * SPEED)


def disagreement(events: list[Event], event: Event) -> float:
    """OCD seconds between ``event``'s clock and the main loop's at the moment it was sent."""
    stamped = ocd_time(event.payload)
    assert stamped is not None
    return abs((stamped - main_loop_time(events, event.payload["__wire_time"])).total_seconds())


@pytest.fixture
def root() -> Iterator[Path]:
    path = short_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def taps(root: Path) -> EventTap:
    return EventTap([f"ipc://{root}/{name}.ipc" for name in ("main", "shot0", "shot1", "tcs")])


def test_processes_started_later_adopt_the_main_loop_clock(root):
    config = night_config(root, speed=SPEED)
    tap = taps(root)
    run = OcdProcess(("run", "--config", str(config), "--yes"), root, "run")
    others: list[OcdProcess] = []
    try:
        # the tap connects: the main loop greets it, stamped with its clock
        _, greeting = tap.wait_for(from_main_loop, 60, what="the main loop's greeting")
        anchor = greeting.payload["__mock_anchor"]
        # the "10 s later": until the main loop's clock is 10 real seconds old
        time.sleep(max(0.0, anchor + 10.0 - time.time()))
        sim = OcdProcess(("sim_tcs", "--config", str(config)), root, "sim_tcs")
        others.append(sim)
        shot = OcdProcess(("run_shot", "-e", "DEX00009", "--track", "W", "--yes",
                           "--n-ocd-run-shot", "1", "--config", str(config)), root, "run_shot")
        others.append(shot)
        told = run_ocd("time", "--config", str(config), cwd=root)
        assert told.returncode == 0, told.stderr
        assert "adopted from process" in told.stdout, told.stdout
        utc = re.search(r"^UTC:\s+(\S+)$", told.stdout, re.M)
        real = re.search(r"^real:\s+(\S+)", told.stdout, re.M)
        assert utc and real, told.stdout
        shown = dt.datetime.fromisoformat(utc.group(1))
        at = dt.datetime.fromisoformat(real.group(1)).timestamp()
        # ocd time's UTC was read within a millisecond of its real line (0.06 s at 60x)
        _, beat = tap.wait_for(lambda e: e.topic == "tcs.receiver.heartbeat"
                               and (e.origin or "").startswith("tcs@"), 60,
                               what="a heartbeat of the simulator")
        # (any event of the manual shot: the tap may connect to its address a moment after
        # its first events)
        _, started = tap.wait_for(
            lambda e: e.topic.startswith("ocd.run_shot.")
            and (e.origin or "").endswith(f":{shot.popen.pid}"), 60,
            what="an event of the manual shot")
        # 10 real seconds at 60x: every process is 10 OCD minutes past mock_time, not at it
        assert (ocd_time(started.payload) - dt.datetime.fromisoformat(MOCK_TIME).replace(
            tzinfo=dt.timezone.utc)).total_seconds() > 500
        tap.wait_for(lambda e: from_main_loop(e)
                     and e.payload["__wire_time"] > started.payload["__wire_time"], 60,
                     what="a main-loop event after the shot started")
        assert abs((shown - main_loop_time(tap.events, at)).total_seconds()) <= AGREEMENT
        assert disagreement(tap.events, beat) <= AGREEMENT
        assert disagreement(tap.events, started) <= AGREEMENT
        assert "mock clock adopted from process" in sim.stderr()
    finally:
        tap.close()
        for process in [*others, run]:
            process.stop()


def test_mock_anchor_pins_the_clock_whatever_the_start_order(root):
    anchor = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=30)
    config = night_config(root, speed=SPEED)
    pinned = ("--config", str(config), "--set", f"dates.mock_anchor={anchor.isoformat()}")
    tap = taps(root)
    sim = OcdProcess(("sim_tcs", *pinned), root, "sim_tcs")  # first
    run = None
    try:
        _, beat = tap.wait_for(topic_is("tcs.receiver.heartbeat"), 60, what="a heartbeat")
        run = OcdProcess(("run", *pinned, "--yes"), root, "run")
        tap.wait_for(lambda e: from_main_loop(e)
                     and e.payload["__wire_time"] > beat.payload["__wire_time"], 60,
                     what="a main-loop event")
        later = [e for e in tap.events if e.topic == "tcs.receiver.heartbeat"]
        assert max(disagreement(tap.events, e) for e in later) <= AGREEMENT
        # both on the pinned time line: 30 real s after the anchor = 30 OCD minutes
        assert (ocd_time(beat.payload) - dt.datetime.fromisoformat(MOCK_TIME).replace(
            tzinfo=dt.timezone.utc)).total_seconds() > 1500
        assert "pinned by [dates] mock_anchor" in sim.stderr()
    finally:
        tap.close()
        for process in (sim, run):
            if process is not None:
                process.stop()


def test_without_a_main_loop_a_process_says_it_runs_its_own_clock(root):
    config = night_config(root, speed=SPEED)
    told = run_ocd("time", "--config", str(config), cwd=root)
    assert told.returncode == 0, told.stderr
    line = next(x for x in told.stdout.splitlines() if x.startswith("clock:"))
    assert "no ocd run answered on ipc://" in line and "its own mock clock" in line
    assert re.search(r"^UTC:\s+2017-11-19T03:00:0", told.stdout, re.M)


def test_the_clock_starts_once_the_question_is_answered(root):
    """On a terminal ``ocd run`` asks [y/n]; its clock's anchor is after the answer."""
    config = night_config(root, speed=SPEED)
    tap = taps(root)
    master, slave = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "ocd", "run", "--config", str(config)],
                               stdin=slave, stdout=subprocess.DEVNULL, stderr=slave,
                               env=ocd_env(), cwd=root)
    os.close(slave)
    try:
        seen = b""
        deadline = time.monotonic() + 60
        while b"[y/n]" not in seen:
            assert time.monotonic() < deadline, f"no question within 60 s: {seen!r}"
            if select.select([master], [], [], 0.5)[0]:
                seen += os.read(master, 4096)
        answered = time.time()
        os.write(master, b"y\n")
        _, greeting = tap.wait_for(from_main_loop, 60, what="the main loop's greeting")
        assert greeting.payload["__mock_anchor"] >= answered
    finally:
        tap.close()
        process.terminate()
        assert process.wait(30) == 0
        os.close(master)


def test_quiet_keeps_the_warnings_only(root):
    config = night_config(root, speed=SPEED)
    tap = taps(root)
    run = OcdProcess(("run", "--config", str(config), "--yes", "--quiet"), root, "run")
    sim = OcdProcess(("sim_tcs", "--config", str(config)), root, "sim_tcs")
    try:  # its start-up summary and first decisions are behind it once it reports status
        tap.wait_for(from_main_loop, 60, what="the main loop's greeting")
        tap.wait_for(topic_is("ocd.main_loop.status"), 60, what="a status of the main loop")
    finally:
        tap.close()
        assert run.stop() == 0
        sim.stop()
    window = run.stderr()
    assert " INFO " not in window and "waiting:" not in window
    assert "SIGTERM: stopping" in window  # what Ctrl+C or SIGTERM stopped is still said


def test_a_mock_time_other_than_the_running_main_loops_is_refused_in_one_line(root):
    """The issue's case: ``ocd obsnum next --set dates.mock_time=...`` beside a main loop on
    another mock clock took a number for the main loop's night, silently. Now: one line naming
    both clocks and how to choose, exit 2, no number; without the --set it adopts the bus's
    clock and takes a number for the bus's night."""
    config = night_config(root, speed=SPEED)
    tap = taps(root)
    run = OcdProcess(("run", "--config", str(config), "--yes"), root, "run")
    try:
        _, greeting = tap.wait_for(from_main_loop, 60, what="the main loop's greeting")
        refused = run_ocd("obsnum", "next", "--config", str(config), "--set",
                          "dates.mock_time=2017-11-24T14:00:00", cwd=root)
        assert refused.returncode == 2, refused.stderr
        assert refused.stdout == ""
        lines = refused.stderr.splitlines()
        assert len(lines) == 1, refused.stderr
        assert lines[0].startswith(
            "ocd: error: [dates] mock_time = 2017-11-24T14:00:00 (command line) disagrees "
            f"with the clock of the running main loop {greeting.origin} (mock, from "
            f"{MOCK_TIME} at 60x, now 2017-11-19T03:"), lines[0]
        assert f"set mock_time = {MOCK_TIME} (or drop what differs) to follow that clock, or " \
               "stop that main loop" in lines[0]
        # the same from the environment, and a speed the user gave that differs
        env = {**ocd_env(), "OCD__DATES__MOCK_TIME": "2017-11-24T14:00:00"}
        told = run_ocd("obsnum", "next", "--config", str(config), cwd=root, env=env)
        assert told.returncode == 2 and "(environment OCD__DATES__MOCK_TIME)" in told.stderr
        told = run_ocd("obsnum", "next", "--config", str(config), "--set",
                       "dates.mock_speed=10", cwd=root)
        assert told.returncode == 2, told.stderr
        assert "[dates] mock_speed = 10 disagrees" in told.stderr
        assert "set mock_speed = 60 " in told.stderr
        # no number was taken, for either night
        for day in ("2017-11-24", "2017-11-19"):
            shown = run_ocd("obsnum", "show", "--date", day, "--config", str(config), cwd=root)
            assert shown.returncode == 0, shown.stderr
            assert f"no observation numbers for {day}" in shown.stdout, shown.stdout
        # the configuration that agrees adopts the bus's clock: a number for its night
        taken = run_ocd("obsnum", "next", "--config", str(config), cwd=root)
        assert taken.returncode == 0, taken.stderr
        number = int(taken.stdout.strip())
        assert "numbers are for 2017-11-19" in taken.stderr
        shown = run_ocd("obsnum", "show", "--date", "2017-11-19", "--config", str(config),
                        cwd=root)
        assert str(number) in shown.stdout, shown.stdout
        # a commander too: refused before it sends anything (how a command is stamped on the
        # clock it is given: test_clock.py); the configuration that agrees is obeyed
        told = run_ocd("allow_hetdex", "start", "--config", str(config), "--set",
                       "dates.mock_time=2017-11-24T14:00:00", cwd=root)
        assert told.returncode == 2 and "disagrees with the clock of the running main loop" \
            in told.stderr, told.stderr
        after, _ = tap.wait_for(topic_is("ocd.main_loop.status"), 30, len(tap.events),
                                what="the states after the refused command")
        assert all(e.payload["states"]["hetdex_allowed"] == "not_allowed"
                   for e in tap.events[:after + 1] if e.topic == "ocd.main_loop.status")
        told = run_ocd("allow_hetdex", "start", "--config", str(config), cwd=root)
        assert told.returncode == 0, told.stderr
        tap.wait_for(lambda e: e.topic == "ocd.main_loop.status"
                     and e.payload["states"]["hetdex_allowed"] == "allowed", 30, after,
                     what="HETDEX allowed")
    finally:
        tap.close()
        assert run.stop() == 0
