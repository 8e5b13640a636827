"""A shot in flight survives its faults, with real processes: ``ocd sim_tcs`` killed in the
middle of an exposure and started again (the pending ``virus.expose`` is sent again and the shot
completes), and ``ocd run`` stopped (SIGSTOP) for longer than the gateway's reply timeout while
the exposure ends, then continued (the reply that came meanwhile is read before any timeout is
judged: the shot completes, the TCS is never judged dead). Nothing is duplicated: one start,
one finish, one end of each exposure."""

from __future__ import annotations

import shutil
import signal
import time

import pytest
from conftest import run_ocd
from e2e_helpers import EventTap, OcdProcess, night_config, short_tmpdir, topic_is
from obsnum_helpers import fresh_database, mysql_connect, stored_numbers

pytestmark = pytest.mark.slow



def shot_events(tap: EventTap, observation: int) -> list[tuple[str, int]]:
    """The steps of the shot observed as ``observation``, from its start to its finish."""
    first, _ = tap.wait_for(topic_is("ocd.run_shot.run", exec_status=0,
                                     observation=observation), 0)
    last, _ = tap.wait_for(topic_is("ocd.run_shot.run", exec_status=1,
                                    observation=observation), 0)
    return [(e.topic, e.payload["exec_status"]) for e in tap.events[first:last + 1]
            if e.topic.startswith("ocd.run_shot.") and e.topic != "ocd.run_shot.progress"]


COMPLETE = [("ocd.run_shot.run", 0), ("ocd.run_shot.setup_telescope", 0),
            ("ocd.run_shot.setup_telescope", 1), ("ocd.run_shot.exp_hetdex", 0),
            ("ocd.run_shot.exp_hetdex", 1), ("ocd.run_shot.run", 1)]


def start_night(root, exposure_time: float, tcs: str = ""):
    """One exposure of ``exposure_time`` OCD seconds at 120x (``tcs``: more of ``[tcs]``)."""
    config = night_config(root, exposure_time=exposure_time)
    text = config.read_text().replace("[run_shot]\n", "[run_shot]\ndithers = 0 0\n")
    config.write_text(text.replace("[tcs]\n", f"[tcs]\n{tcs}"))
    args = ("--config", str(config))
    sim = OcdProcess(("sim_tcs", *args), root, "sim_tcs")
    run = OcdProcess(("run", *args, "--yes"), root, "run")
    tap = EventTap([f"ipc://{root}/{name}.ipc" for name in ("main", "shot0")])
    return args, sim, run, tap


def test_the_tcs_killed_mid_exposure_and_back_the_shot_completes():
    root = short_tmpdir()
    args, sim, run, tap = start_night(root, 600)
    again = None
    try:
        tap.wait_for(topic_is("ocd.main_loop.status"), 60, what="first main loop status")
        assert run_ocd("allow_hetdex", "start", *args, cwd=root).returncode == 0
        start, started = tap.wait_for(topic_is("ocd.run_shot.exp_hetdex", exec_status=0), 60,
                                      what="an exposure's start")
        sim.popen.kill()  # the TCS dies mid-exposure: its reply never comes
        sim.popen.wait(10)
        again = OcdProcess(("sim_tcs", *args), root, "sim_tcs again")
        observation = started.payload["observation"]
        _, finish = tap.wait_for(topic_is("ocd.run_shot.run", exec_status=1,
                                          observation=observation), 40, start,
                                 what="the shot's finish")
        assert finish.payload["error"] is False, finish.payload
        assert shot_events(tap, observation) == COMPLETE
        assert "is back: sending virus.expose" in run.stderr()
        assert "malformed or unexpected reply" not in run.stderr()
    finally:
        tap.close()
        codes = {"run": run.stop(), "sim_tcs": again.stop() if again else None}
        errors = run.stderr()[-3000:]
        shutil.rmtree(root, ignore_errors=True)
    assert codes == {"run": 0, "sim_tcs": 0}, (codes, errors)


def test_ocd_run_stopped_longer_than_the_reply_timeout_completes_its_shot():
    root = short_tmpdir()
    # the reply to virus.expose is due within (1 + 120) / 120 + 5 = 6 s of awake time; the
    # exposure itself takes 1.1 s; ocd run is stopped for 8 s from its start
    args, sim, run, tap = start_night(root, 120, "command_timeout = 1\n")
    try:
        tap.wait_for(topic_is("ocd.main_loop.status"), 60, what="first main loop status")
        assert run_ocd("allow_hetdex", "start", *args, cwd=root).returncode == 0
        start, started = tap.wait_for(topic_is("ocd.run_shot.exp_hetdex", exec_status=0), 60,
                                      what="an exposure's start")
        run.signal(signal.SIGSTOP)
        try:
            time.sleep(8.0)  # the fault itself: a stall longer than the reply timeout
        finally:
            run.signal(signal.SIGCONT)
        observation = started.payload["observation"]
        _, finish = tap.wait_for(topic_is("ocd.run_shot.run", exec_status=1,
                                          observation=observation), 30, start,
                                 what="the shot's finish")
        assert finish.payload["error"] is False, finish.payload
        assert shot_events(tap, observation) == COMPLETE
        dead = [e for e in tap.events[start:] if e.topic == "ocd.states.change"
                and e.payload["machine_name"] == "tcs" and e.payload["new_state"] == "dead"]
        assert not dead, [e.payload for e in dead]
        assert "the main loop was stopped for" in run.stderr()  # and said so
        assert "malformed or unexpected reply" not in run.stderr()
    finally:
        tap.close()
        codes = {"run": run.stop(), "sim_tcs": sim.stop()}
        errors = run.stderr()[-3000:]
        shutil.rmtree(root, ignore_errors=True)
    assert codes == {"run": 0, "sim_tcs": 0}, (codes, errors)


@pytest.mark.mysql
def test_a_hung_obsnum_table_skips_no_number_and_the_count_is_shown(mysql_server):
    """``vl_obsnum`` locked by another session (a hung database): each start is given up after
    ``[run] start_timeout``, its allocation cancelled before it writes; once the table is free
    the next shot takes number 1, and the status shows no number skipped."""
    with fresh_database(mysql_server) as db:
        root = short_tmpdir()
        # at 120x: a start is given up after 2 s, the next one tried 1 s later
        config = night_config(root, database=db,
                              extra="\n[run]\nstart_timeout = 240\nerror_pause = 120\n")
        args = ("--config", str(config))
        holder = mysql_connect(db)
        sim = OcdProcess(("sim_tcs", *args), root, "sim_tcs")
        run = OcdProcess(("run", *args, "--yes"), root, "run")
        tap = EventTap([f"ipc://{root}/{name}.ipc" for name in ("main", "shot0")])
        try:
            tap.wait_for(topic_is("ocd.main_loop.status"), 60, what="first main loop status")
            with holder.cursor() as cur:  # once ocd run has checked the table
                cur.execute("LOCK TABLES vl_obsnum WRITE")
            assert run_ocd("allow_hetdex", "start", *args, cwd=root).returncode == 0
            index, errors = 0, []
            for attempt in range(3):  # three starts given up while the table hangs
                index, error = tap.wait_for(
                    lambda e: e.topic == "ocd.main_loop.error"
                    and e.payload["stage"] in ("start", "obsnum"), 30, index + 1,
                    what=f"given-up start {attempt + 1}")
                errors.append(error.payload["error"])
            holder.close()  # the database is back
            first, started = tap.wait_for(topic_is("ocd.run_shot.run", exec_status=0), 30,
                                          index, what="a shot start")
            assert started.payload["observation"] == 1  # no number burnt by the hang
            assert [row[2] for row in stored_numbers(db)][:1] == [1]
            _, status = tap.wait_for(topic_is("ocd.main_loop.status"), 30, first,
                                     what="a status")
            assert status.payload["obsnum_skipped"] == 0
                # each given-up start says why: the start timeout, or the allocation the server
            # cancelled (which comes first depends on the machine's speed); at least one is
            # the server's cancellation, and none wrote a number (the first shot took 1)
            assert all("nothing written" in error or "did not start within" in error
                       for error in errors), errors
            assert any("nothing written" in error for error in errors), errors
        finally:
            if holder.open:
                holder.close()
            tap.close()
            codes = {"run": run.stop(), "sim_tcs": sim.stop()}
            tail = run.stderr()[-3000:]
            shutil.rmtree(root, ignore_errors=True)
        assert codes == {"run": 0, "sim_tcs": 0}, (codes, tail)
