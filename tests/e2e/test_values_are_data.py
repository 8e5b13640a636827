"""Values are data: nothing a ``config_send`` carries is interpolated, an answer quotes only the
sender's own value, and a secret of ``ocd run``'s environment never reaches an event or its
log, whatever a commander sends (the frames of the attack, forged on a commander's address)."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import ocd_env
from e2e_helpers import night_config, short_tmpdir, topic_is
from forgery import Forger
from test_main_loop_e2e import start_night, stop_night

from ocd.app.commander import fresh_fields
from ocd.bus.envelope import stamp
from ocd.clock import RealClock
from ocd.config import master_specs
from ocd.core.commands import refused_changes

pytestmark = pytest.mark.slow

PASSWORD = "S3cretPW"
AWS_KEY = "AwsK3y-never-shown"
BAD_ID = "\x1b]0;PWNED-TITLE\x07\x1b[1A\x1b[2K\x1b[32mALL-GOOD"
FORGED = "x\n2017-11-19 03:00:00,000 INFO    ocd.run: FORGED LINE by operator\x1b[2J"

#: id -> the changes of one forged config_send, and whether ocd run must accept them.
FRAMES: dict[str, tuple[list[list[str]], bool]] = {
    "leak-option": ([["run", "max_seeing", "${database:mysql_password}"]], False),
    "leak-env": ([["run", "max_seeing", "${AWS_SECRET_ACCESS_KEY}"]], False),
    "leak-recipe": ([["run_shot", "recipe", "${database:mysql_password}"]], False),
    "leak-same-section": ([["database", "mysql_database", "${mysql_password}"]], False),
    "set-secret": ([["database", "mysql_password", "x"]], False),
    "not-a-number": ([["run", "max_seeing", "nan"]], False),
    "dollars": ([["run_shot", "recipe", "a$$b$c"]], True),
    # a whole forged log line and a screen clear
    "forged-line": ([["run_shot", "image_type", FORGED]], True),
}


def test_the_rules_refuse_references_and_secrets():
    refused = refused_changes([("run_shot", "recipe", "${database:mysql_password}"),
                               ("run_shot", "recipe", "$$ and $x"),
                               ("database", "mysql_password", "x")], master_specs())
    assert refused == [
        "[run_shot] recipe: a value sent at run time is taken as written, and '${' (a "
        "reference to another option or to the environment) works only in files",
        "[database] mysql_password is a secret: it never travels on the bus (set it in a file "
        "or the environment and restart ocd run)"]


def test_config_send_refuses_a_reference_before_sending(tmp_path):
    from conftest import run_ocd
    result = run_ocd("config", "send", "run_shot.recipe=${database:mysql_password}",
                     "--timeout", "1", cwd=tmp_path,
                     env=ocd_env(OCD__DATABASE__MYSQL_PASSWORD=PASSWORD))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("ocd: error: [run_shot] recipe: a value sent at run "
                                            "time is taken as written")
    assert PASSWORD not in result.stderr + result.stdout


def test_no_frame_leaks_a_secret_into_an_event_or_the_log():
    root = short_tmpdir()
    env = ocd_env(OCD__DATABASE__MYSQL_PASSWORD=PASSWORD, AWS_SECRET_ACCESS_KEY=AWS_KEY)
    night = start_night(root, night_config(root), run_env=env)
    forger = Forger(f"ipc://{root}/allow2.ipc")  # a commander's own address
    acks = {}
    try:
        forger.wait_for_subscriber("ocd.command.config_send")
        forger.send("ocd.command.config_send", stamp(  # an id that drives a terminal: dropped
            "ocd.command.config_send", {"id": BAD_ID, "changes": FRAMES["forged-line"][0],
                                        **fresh_fields()},
            origin="mallory@host:1", seq=100, clock=RealClock()))
        for seq, (request, (changes, _)) in enumerate(FRAMES.items(), start=1):
            forger.send("ocd.command.config_send", stamp(
                "ocd.command.config_send", {"id": request, "changes": changes, **fresh_fields()},
                origin="mallory@host:1", seq=seq, clock=RealClock()))
        for request in FRAMES:
            _, ack = night.tap.wait_for(topic_is("ocd.main_loop.ack", id=request), 30,
                                        what=f"the answer to {request}")
            acks[request] = ack.payload
        _, changed = night.tap.wait_for(topic_is("ocd.main_loop.config_changed"), 10,
                                        what="the accepted change")
    finally:
        forger.close()
        stop_night(night)
    try:
        assert not [e for e in night.tap.events if e.payload.get("id") == BAD_ID]
        assert {r: a["ok"] for r, a in acks.items()} == {r: ok for r, (_, ok) in FRAMES.items()}
        assert acks["leak-option"]["message"].startswith(
            "[run] max_seeing: a value sent at run time is taken as written")
        assert acks["not-a-number"]["message"].startswith(
            "[run] max_seeing = nan: expected a finite number")
        # taken as written: no dollar is lost, none expands
        assert acks["dollars"]["message"] == "[run_shot] recipe = a$$b$c"
        assert changed.payload["changes"] == [["run_shot", "recipe", "a$$b$c"]]
        events = "\n".join(json.dumps(e.payload) for e in night.tap.events)
        log = night.run.stderr()
        assert "configuration changed by" in log  # the log is the one written
        # safe text: the forged id is dropped (ids are printable), the value shown escaped
        assert "\x1b" not in log
        assert not [line for line in log.splitlines() if line.startswith(FORGED.split("\n")[1])]
        shown = [line for line in log.splitlines() if "FORGED LINE" in line]
        assert shown and all("image_type" in line for line in shown), shown
        for secret in (PASSWORD, AWS_KEY):
            assert secret not in events
            assert secret not in log
    finally:
        shutil.rmtree(root, ignore_errors=True)
