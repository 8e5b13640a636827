"""CURVE with real processes: a secured night runs its shots; a reader sees them; a plain
subscriber, an unknown key and a publisher without the bus's secret get and change nothing."""

from __future__ import annotations

import json
import shutil
import time

import pytest
import zmq
from conftest import run_ocd
from e2e_helpers import EventTap, OcdProcess, night_config, short_tmpdir, topic_is
from forgery import Forger

from ocd.bus.curve import CurveKeys
from ocd.bus.envelope import stamp
from ocd.clock import RealClock
from ocd.core.topics import COMMAND_ALLOW, RUN_SHOT_RUN

pytestmark = pytest.mark.slow


def secured(root, keys, extra: str = "") -> list[str]:
    """``--config`` arguments: the test night with CURVE on (the TCS plain, as HET's is)."""
    more = root / "security.cfg"
    more.write_text(f"[security]\ncurve = true\nkeys_dir = {keys}\n{extra}")
    return ["--config", str(night_config(root)), "--config", str(more)]


class Counting(EventTap):
    """A raw SUB socket that counts what it receives (nothing, if the bus refuses it)."""

    def count(self) -> int:
        received = 0
        while self.sock.poll(0):
            self.sock.recv_multipart()
            received += 1
        return received


def test_a_secured_night_with_a_reader_and_outsiders():
    root = short_tmpdir()
    keys = root / "keys"
    assert run_ocd("keys", "init", str(keys)).returncode == 0
    added = run_ocd("keys", "add", "gui", "--set", f"security.keys_dir={keys}")
    assert added.returncode == 0, added.stderr
    config = secured(root, keys)
    member = CurveKeys.load(keys)
    reader_dir = keys / "readers" / "gui"
    assert not CurveKeys.load(reader_dir, "gui").member  # no server secret in its bundle
    stranger_public, stranger_secret = zmq.curve_keypair()
    ocd_urls = [f"ipc://{root}/{name}.ipc" for name in ("main", "shot0", "shot1")]
    sim = OcdProcess(("sim_tcs", *config), root, "sim_tcs")
    run = OcdProcess(("run", *config, "--yes"), root, "run")
    tap = EventTap(ocd_urls, (member.server_public, member.client_public, member.client_secret))
    plain = Counting(ocd_urls)
    unknown = Counting(ocd_urls, (member.server_public, stranger_public, stranger_secret))
    listen = OcdProcess(("listen", "--config", str(night_config(root)), "--set",
                         "security.curve=true", "--set", f"security.keys_dir={reader_dir}",
                         "--set", "security.client_key=gui", "--json", "--all"), root, "listen")
    forger = None
    try:
        tap.wait_for(topic_is("ocd.main_loop.status"), 60, what="the member tap's first status")
        allowed = run_ocd("allow_hetdex", "start", *config, "--timeout", "20", cwd=root)
        assert allowed.returncode == 0, allowed.stderr
        start, started = tap.wait_for(topic_is(RUN_SHOT_RUN, exec_status=0), 60,
                                      what="a shot start on the secured bus")
        _, finish = tap.wait_for(topic_is(RUN_SHOT_RUN, exec_status=1), 120, start,
                                 what="the shot's finish")
        assert finish.payload["error"] is False

        # the reader saw the shot; outsiders saw nothing while the member saw plenty
        deadline = time.monotonic() + 30
        while RUN_SHOT_RUN not in listen.child.stdout() and time.monotonic() < deadline:
            tap._receive(0.2)
        shown = [json.loads(line) for line in listen.child.stdout().splitlines()]
        assert any(r["topic"] == RUN_SHOT_RUN and r["payload"]["shotid"] ==
                   started.payload["shotid"] for r in shown), listen.stderr()
        assert len(tap.events) > 20
        assert plain.count() == 0 and unknown.count() == 0

        # publishers without the bus's secret on commanders' addresses (one plain, one a CURVE
        # server with a key of its own): ocd run never even subscribes to them
        forger = Forger(f"ipc://{root}/allow2.ipc")
        stranger = Forger(f"ipc://{root}/allow1.ipc", curve_server=zmq.curve_keypair())
        before = len(tap.events)
        for who in (forger, stranger):
            who.send(COMMAND_ALLOW, stamp(COMMAND_ALLOW, {"id": f"forbid-{id(who)}",
                                                          "allowed": False},
                                          origin="THE_RA@telescope:1", seq=1,
                                          clock=RealClock()))
        # the reader may subscribe, not publish: the commands refuse its keys
        refused = run_ocd("allow_hetdex", "stop", "--config", str(night_config(root)), "--set",
                          "security.curve=true", "--set", f"security.keys_dir={reader_dir}",
                          "--set", "security.client_key=gui", "--timeout", "5", cwd=root)
        assert refused.returncode == 2
        assert "needs its server secret key" in refused.stderr
        assert refused.stderr.count("\n") == 1
        # a member's command still works, and the forgeries were never acknowledged
        forbidden = run_ocd("allow_hetdex", "stop", *config, "--timeout", "20", cwd=root)
        assert forbidden.returncode == 0, forbidden.stderr
        _, ack = tap.wait_for(topic_is("ocd.main_loop.ack", command="allow_hetdex"), 30,
                              before, what="the member's acknowledgement")
        assert "forbid-" not in ack.payload["id"]
        assert not [e for e in tap.events[before:] if e.topic == "ocd.main_loop.ack"
                    and e.payload["id"].startswith("forbid-")]
        # meanwhile (the member's command went out and back) no subscription reached them
        for who in (forger, stranger):
            assert not who.sock.poll(0), "ocd run subscribed to a publisher without the secret"
        stranger.close()
    finally:
        if forger is not None:
            forger.close()
        tap.close()
        plain.close()
        unknown.close()
        codes = (listen.stop(), run.stop(), sim.stop())
        shutil.rmtree(root, ignore_errors=True)
    assert codes == (0, 0, 0)
