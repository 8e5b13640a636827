"""Regression tests of three bugs that came from copies of one helper drifting apart; each
failed before the copies were merged into one."""

from __future__ import annotations

import asyncio
import shutil

from conftest import run_ocd
from e2e_helpers import EventTap, OcdProcess, short_tmpdir, topic_is

from ocd.clock import MockClock
from ocd.config import load_config
from ocd.core.orchestrator import Orchestrator, Settings
from ocd.core.topics import GUIDER_METROLOGY, TCS_HEARTBEAT
from ocd.tcs.factory import subsystems_from_config


def test_a_nan_seeing_never_makes_metrology_good():
    """The orchestrator's number reader lacked the finiteness check of its twins."""
    orchestrator = Orchestrator(Settings())
    orchestrator.handle(TCS_HEARTBEAT, {}, 0.0)
    for guider in GUIDER_METROLOGY:
        orchestrator.handle(guider, {"seeing": float("nan"), "transparency": float("nan")}, 1.0)
    assert orchestrator.metrology.state != "good"
    seeing, transparency = orchestrator.metrology.conditions(1.0)
    assert seeing is None and transparency is None
    # a finite reading still counts
    orchestrator.handle(GUIDER_METROLOGY[0], {"seeing": 1.2, "transparency": 0.9}, 2.0)
    assert orchestrator.metrology.state == "good"


def test_sim_tcs_and_its_clients_meet_on_relative_ipc_paths_from_other_directories():
    """``ocd sim_tcs`` bound its event and gateway addresses with a copy of the bind logic
    that took a relative ipc path relative to its own working directory, not to the file that
    set it: started elsewhere, nobody found it."""
    root = short_tmpdir()
    config_dir, elsewhere = root / "conf", root / "elsewhere"
    config_dir.mkdir()
    elsewhere.mkdir()
    config = config_dir / "ocd.cfg"
    config.write_text(
        "[urls]\nevent_urls = ipc://sockets/tcs.ipc\n"
        "tcs = ipc://sockets/gw.ipc\nvirus = ipc://sockets/gw.ipc\n"
        "pfip = ipc://sockets/gw.ipc\npas = ipc://sockets/gw.ipc\n"
        "[dates]\nmock_time = 2017-11-19T03:00:00\nmock_speed = 600\n"
        "[tcs]\nbackend = gateway\n")
    sim = OcdProcess(("sim_tcs", "--config", str(config)), elsewhere, "sim_tcs")
    tap = EventTap([f"ipc://{config_dir}/sockets/tcs.ipc"])
    try:
        tap.wait_for(topic_is(TCS_HEARTBEAT), timeout=30, what="a heartbeat of ocd sim_tcs")
        assert not (elsewhere / "sockets").exists()
        # the gateway client (ocd run's side) resolves the same way, from any directory
        cfg = load_config([config], environ={})
        reply = asyncio.run(_goto(cfg))
        assert reply["track"] == "E"
    finally:
        tap.close()
        code = sim.stop()
        shutil.rmtree(root, ignore_errors=True)
    assert code == 0


async def _goto(cfg):
    import zmq.asyncio

    ctx = zmq.asyncio.Context()
    clock = MockClock(cfg.get_time("dates", "mock_time"), cfg.get_float("dates", "mock_speed"))
    subsystems = subsystems_from_config(cfg, ctx, clock)
    try:
        return await asyncio.wait_for(
            subsystems.command("tcs", "goto", ra=12.4, dec=56.1, track="E"), 30)
    finally:
        await subsystems.close()
        ctx.term()


def test_ocd_run_with_all_topics_no_and_no_extra_topic_refuses_to_run_deaf():
    """``ocd run -a no`` rebuilt the topic list without the empty-list guard: it subscribed to
    nothing and ran deaf, where ``ocd listen -a no`` refused."""
    result = run_ocd("run", "-a", "no", "--yes", timeout=30)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == ("ocd: error: no topic to subscribe to: with -a no, give "
                                     "at least one -t TOPIC")
