"""Ranges everywhere (issue 21 point 5): every absurd value the issues name, sent to a running
``ocd run``, is refused with one line (its acknowledgement), and ``ocd run`` goes on. The same
values at start-up: tests/config/test_config_spec.py."""

from __future__ import annotations

import shutil

import pytest
from absurd_values import ISSUES_ABSURD
from e2e_helpers import night_config, short_tmpdir, topic_is
from forgery import Forger
from test_main_loop_e2e import start_night, stop_night

from ocd.app.commander import fresh_fields
from ocd.bus.envelope import stamp
from ocd.clock import RealClock

pytestmark = pytest.mark.slow

def test_a_running_ocd_run_refuses_every_absurd_value_sent_and_goes_on():
    root = short_tmpdir()
    night = start_night(root, night_config(root))
    forger = Forger(f"ipc://{root}/allow2.ipc")  # a commander's own address
    acks = {}
    try:
        forger.wait_for_subscriber("ocd.command.config_send")
        requests = {f"absurd-{n}": change for n, change in enumerate(ISSUES_ABSURD)}
        requests["sane"] = ("run", "error_pause", "120")  # and ocd run still obeys
        for seq, (request, change) in enumerate(requests.items(), start=1):
            forger.send("ocd.command.config_send", stamp(
                "ocd.command.config_send",
                {"id": request, "changes": [list(change)], **fresh_fields()},
                origin="operator@host:1", seq=seq, clock=RealClock()))
        for request in requests:
            _, ack = night.tap.wait_for(topic_is("ocd.main_loop.ack", id=request), 30,
                                        what=f"the answer to {request}")
            acks[request] = ack.payload
        _, changed = night.tap.wait_for(topic_is("ocd.main_loop.config_changed"), 10,
                                        what="the sane change")
        assert night.run.popen.poll() is None, night.run.stderr()
    finally:
        forger.close()
        stop_night(night)  # ocd run stops cleanly on SIGTERM, exit status 0
    try:
        assert acks.pop("sane")["ok"] is True
        assert changed.payload["changes"] == [["run", "error_pause", "120"]]
        for request, ack in acks.items():
            section, option, value = requests[request]
            assert ack["ok"] is False, (requests[request], ack)
            assert ack["message"].startswith(f"[{section}] {option}"), ack["message"]
            assert "\n" not in ack["message"]
    finally:
        shutil.rmtree(root, ignore_errors=True)
