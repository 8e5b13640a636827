"""Ranges everywhere (issue 21 point 5): every absurd value the issues name, sent to a running
``ocd run``, is refused with one line (its acknowledgement), and ``ocd run`` goes on. The same
values at start-up: tests/config/test_config_spec.py."""

from __future__ import annotations

import shutil

import pytest
from absurd_values import ISSUES_ABSURD
from conftest import run_ocd
from e2e_helpers import night_config, short_tmpdir, topic_is
from forgery import Forger
from test_main_loop_e2e import start_night, stop_night

from ocd.app.commander import fresh_fields
from ocd.bus.envelope import stamp
from ocd.clock import RealClock
from ocd.config import master_specs

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


SENDABLE = [(s, o, v) for s, o, v in ISSUES_ABSURD
            if master_specs()[(s, o)].modify == "conf modifiable"]


@pytest.mark.parametrize(("section", "option", "value"), SENDABLE,
                         ids=[f"{s}.{o}={v}" for s, o, v in SENDABLE])
def test_ocd_config_send_refuses_an_absurd_value_before_sending(tmp_path, section, option,
                                                                value):
    """The command itself checks the value first: one line, exit status 2, nothing sent (no
    ocd run needed, and none is waited for)."""
    result = run_ocd("config", "send", f"{section}.{option}={value}", "--timeout", "30",
                     cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(
        f"ocd: error: [{section}] {option} = {value}: "), result.stderr
