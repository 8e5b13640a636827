"""No message can make OCD execute anything: the options naming a program and its arguments
are static, and ``config send`` refuses them, even from a commander's own address."""

from __future__ import annotations

import shlex
import shutil
import uuid

import pytest
from conftest import run_ocd
from e2e_helpers import night_config, short_tmpdir, topic_is
from forgery import Forger
from test_main_loop_e2e import start_night, stop_night

from ocd.app.commander import fresh_fields
from ocd.bus.envelope import stamp
from ocd.clock import RealClock
from ocd.config import master_specs, parse_specs
from ocd.core.commands import refused_changes

pytestmark = pytest.mark.slow


def forged_changes(marker: str) -> list[list[str]]:
    """The attack as it was tried: the external scheduler switched on, pointed at a shell."""
    return [["schedule", "scheduler", "autoschedule"],
            ["autoschedule", "executable", "/bin/sh"],
            ["autoschedule", "arguments", f"-c {shlex.quote(f'touch {marker}')}"]]


def test_the_rules_refuse_a_program_and_its_arguments():
    refused = refused_changes([tuple(c) for c in forged_changes("/tmp/x")], master_specs())
    assert refused == [
        "[autoschedule] executable names what OCD executes: it never changes at run time (set "
        "it in a file and restart ocd run)",
        "[autoschedule] arguments names what OCD executes: it never changes at run time (set "
        "it in a file and restart ocd run)"]
    assert not master_specs()[("autoschedule", "executable")].modifiable


def test_a_modifiable_program_is_a_mistake_of_the_master_file():
    _, problems = parse_specs("[a]\n# A program.\n# {optional} {conf modifiable} type: program. "
                              "Default: x\nrun = x\n")
    assert [p.reason for p in problems] == ["a program or its arguments must be {conf static}"]


def test_config_send_refuses_a_program_before_sending(tmp_path):
    result = run_ocd("config", "send", "autoschedule.executable=/bin/sh", "--timeout", "1",
                     cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("ocd: error: [autoschedule] executable names what "
                                            "OCD executes")


def test_the_forged_config_send_is_refused_and_nothing_runs():
    root = short_tmpdir()
    marker = root / f"pwned-{uuid.uuid4().hex}"
    night = start_night(root, night_config(root))
    forger = Forger(f"ipc://{root}/allow2.ipc")  # a commander's own address
    try:
        forger.wait_for_subscriber("ocd.command.config_send")
        forger.send("ocd.command.config_send", stamp(
            "ocd.command.config_send", {"id": "forged-1", "changes": forged_changes(str(marker)),
                                         **fresh_fields()},
            origin="THE_RA@telescope:1", seq=1, clock=RealClock()))
        _, ack = night.tap.wait_for(topic_is("ocd.main_loop.ack", id="forged-1"), 30,
                                    what="the answer to the forged config_send")
        assert ack.payload["ok"] is False
        assert "[autoschedule] executable names what OCD executes" in ack.payload["message"]
        # the main loop goes on deciding, with its own scheduler, and runs nothing else
        night.allow("start")
        night.tap.wait_for(lambda e: e.topic in ("ocd.main_loop.decision",
                                                 "ocd.main_loop.no_shot"), 60,
                           what="a decision after the refused change")
        assert not marker.exists()
        assert not any(e.topic == "ocd.main_loop.config_changed" for e in night.tap.events)
        decisions = [e for e in night.tap.events if e.topic == "ocd.main_loop.decision"]
        assert all(d.payload["scheduler"] == "builtin" for d in decisions)
    finally:
        forger.close()
        stop_night(night)
        shutil.rmtree(root, ignore_errors=True)
    assert not marker.exists()
