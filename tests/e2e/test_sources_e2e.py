"""Topics bound to their sources, with real processes: the forgeries that once commanded
``ocd run`` from an address it subscribes to, sent again, change nothing.

The attack as it was tried: a process with no credential binds an address listed in
``[urls] event_urls`` (a configuration may list several TCS addresses) and publishes OCD's own
topics there, ``__origin`` and all. A TCS heartbeat forged on an OCD address is the mirror case.
"""

from __future__ import annotations

import shutil
import signal

import pytest
from e2e_helpers import short_tmpdir, topic_is
from test_hostile_e2e import Attacker, allow, answered, night_with

from ocd.core.topics import (
    COMMAND_ABORT,
    COMMAND_ALLOW,
    COMMAND_CONFIG,
    RUN_SHOT_RUN,
    TCS_HEARTBEAT,
)

pytestmark = pytest.mark.slow


def status(tap) -> dict:
    return tap.wait_for(topic_is("ocd.main_loop.status"), 30, len(tap.events),
                        what="a fresh status")[1].payload


def test_every_forged_frame_on_the_tcs_address_has_no_effect():
    root = short_tmpdir()
    tcs = Attacker(f"ipc://{root}/tcs2.ipc")          # an address ocd run takes for the TCS's
    commander = Attacker(f"ipc://{root}/allow2.ipc")  # a commander's, for the mirror case
    config, sim, run, tap = night_with(root, f"""
[urls]
event_urls = ipc://{root}/tcs.ipc, ipc://{root}/tcs2.ipc
[run_shot]
exposure_time = 600
""")
    try:
        tcs.wait_subscribed(prefixes=(b"ocd.command.",))
        commander.wait_subscribed()

        # commands on the TCS address: neither obeyed nor acknowledged
        tcs.event(COMMAND_ALLOW, {"id": "forged-allow", "allowed": True},
                  origin="THE_RA@telescope:1", seq=1)
        tcs.event(COMMAND_CONFIG, {"id": "forged-config",
                                   "changes": [["run", "max_seeing", "0.1"]]},
                  origin="THE_RA@telescope:1", seq=2)
        answered(tap, commander, "forged commands on the TCS address")
        assert status(tap)["states"]["hetdex_allowed"] == "not_allowed"
        assert not [e for e in tap.events if e.topic == "ocd.main_loop.ack"]
        assert not [e for e in tap.events if e.topic == "ocd.main_loop.config_changed"]

        # a real shot runs; the forgeries that once stopped or faked it change nothing
        allow(config)
        start, started = tap.wait_for(topic_is(RUN_SHOT_RUN, exec_status=0), 60,
                                      what="the real shot's start")
        real = started.payload
        tcs.event(COMMAND_ALLOW, {"id": "forged-forbid", "allowed": False},
                  origin="THE_RA@telescope:1", seq=3)
        tcs.event(COMMAND_ABORT, {"id": "forged-abort"}, origin="THE_RA@telescope:1", seq=4)
        fake_end = {k: v for k, v in real.items() if not k.startswith("__")}
        tcs.event(RUN_SHOT_RUN, {**fake_end, "exec_status": 1, "error": False, "exc_type": None,
                                 "exc_value": None, "traceback": None},
                  origin=real["__origin"], seq=real["__seq"] + 1000)
        tcs.event(RUN_SHOT_RUN, {**fake_end, "shotid": "PHANTOM", "exec_status": 0},
                  origin="ocd_run_shot@evil:1", seq=1)
        answered(tap, commander, "forged shot events and commands during a shot")
        now = status(tap)
        assert now["states"]["run_shot"] == "running" and now["running_shot"] == real["shotid"]
        assert now["states"]["hetdex_allowed"] == "allowed"
        assert now["bus"]["dropped"]["source"] >= 6
        assert not [e for e in tap.events if e.topic == "ocd.main_loop.ack"
                    and e.payload["id"].startswith("forged")]

        # the real shot ends by itself, not aborted; no PHANTOM anywhere
        _, finish = tap.wait_for(topic_is(RUN_SHOT_RUN, exec_status=1), 120, start,
                                 what="the real shot's finish")
        assert finish.payload["shotid"] == real["shotid"] and finish.payload["error"] is False
        assert finish.payload["__origin"] == real["__origin"]
        assert not [e for e in tap.events if e.payload.get("shotid") == "PHANTOM"]

        # a dead TCS is not revived by heartbeats forged on OCD addresses
        sim.signal(signal.SIGUSR1)  # the real heartbeats stop
        dead, _ = tap.wait_for(lambda e: e.topic == "ocd.states.change"
                               and e.payload["machine_name"] == "tcs"
                               and e.payload["new_state"] == "dead", 60,
                               what="the TCS declared dead")
        for number in range(80):
            commander.event(TCS_HEARTBEAT, {"status": "ok"}, origin=f"tcs@evil:{number}",
                            seq=1)
        answered(tap, commander, "80 forged TCS heartbeats")
        assert status(tap)["states"]["tcs"] == "dead"
        assert not [e for e in tap.events[dead + 1:] if e.topic == "ocd.states.change"
                    and e.payload["machine_name"] == "tcs"]
        sim.signal(signal.SIGUSR1)  # the real ones come back, and count
        tap.wait_for(lambda e: e.topic == "ocd.states.change"
                     and e.payload["machine_name"] == "tcs"
                     and e.payload["new_state"] == "alive", 60, dead,
                     what="the TCS alive again, from its real heartbeats")
        assert "Traceback" not in run.stderr()
    finally:
        tap.close()
        tcs.close()
        commander.close()
        codes = (run.stop(), sim.stop())
        shutil.rmtree(root, ignore_errors=True)
    assert codes == (0, 0)
