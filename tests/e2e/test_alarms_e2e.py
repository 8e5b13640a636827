"""``ocd alarms`` with real processes: a killed TCS simulator raises the TCS alarm on the bus
within two heartbeat timeouts; ``ocd alarms ack`` records the user; ``ocd alarms list``
shows it."""

from __future__ import annotations

import getpass
import shutil
import signal
import time
from pathlib import Path

from conftest import run_ocd
from e2e_helpers import EventTap, OcdProcess, short_tmpdir, topic_is

from ocd.core import topics

#: ``[alarms] tcs_heartbeat_timeout`` of the test (s); ``ocd sim_tcs`` beats every second.
TIMEOUT = 2.0


def config(root: Path) -> Path:
    ipc = f"ipc://{root}"
    path = root / "ocd.cfg"
    path.write_text(f"""
[urls]
event_urls = {ipc}/tcs.ipc
ocd_main_loop = {ipc}/main.ipc
ocd_run_shot = {ipc}/shot0.ipc
ocd_allow_hetdex = {ipc}/allow0.ipc, {ipc}/allow1.ipc
ocd_alarms = {ipc}/alarms.ipc
tcs = {ipc}/gateway.ipc
virus = {ipc}/gateway.ipc
pfip = {ipc}/gateway.ipc
pas = {ipc}/gateway.ipc

[alarms]
tcs_heartbeat_timeout = {TIMEOUT:g}
main_loop_silent = 3600
list_interval = 0.5

[bus]
linger = 0.2
reconnect_interval_max = 0.2
""")
    return path


def test_a_killed_tcs_raises_its_alarm_and_an_acknowledgement_records_the_user() -> None:
    root = short_tmpdir()
    cfg = config(root)
    tap = EventTap([f"ipc://{root}/alarms.ipc", f"ipc://{root}/tcs.ipc"])
    sim = watch = None
    try:
        sim = OcdProcess(("sim_tcs", "--config", str(cfg)), root, "sim_tcs")
        tap.wait_for(topic_is(topics.TCS_HEARTBEAT), timeout=30, what="a TCS heartbeat")
        watch = OcdProcess(("alarms", "watch", "--config", str(cfg)), root, "alarms")
        # the watcher hears the TCS: its list comes, and the TCS alarm is not in it
        start, _ = tap.wait_for(
            lambda e: e.topic == topics.ALARM_LIST and not any(
                a.get("alarm") == "tcs_heartbeat" for a in e.payload["alarms"]),
            timeout=30, what="a list without the TCS alarm")
        last_beat = max(e.payload["__wire_time"] for e in tap.events
                        if e.topic == topics.TCS_HEARTBEAT)
        sim.popen.send_signal(signal.SIGKILL)
        sim.popen.wait(10)
        killed = time.time()
        _, raised = tap.wait_for(topic_is(topics.ALARM_RAISED, alarm="tcs_heartbeat"),
                                 timeout=30, start=start, what="the TCS alarm")
        assert raised.payload["severity"] == "critical"
        # raised within two heartbeat timeouts of the last heartbeat (the kill came after it)
        assert raised.payload["__wire_time"] - last_beat <= 2 * TIMEOUT, \
            (raised.payload["__wire_time"] - last_beat, killed - last_beat)

        done = run_ocd("alarms", "ack", "tcs_heartbeat", "--config", str(cfg), "--timeout", "30")
        assert done.returncode == 0, done.stderr
        user = getpass.getuser()
        assert f"alarm tcs_heartbeat acknowledged by {user}" in done.stdout
        _, acked = tap.wait_for(topic_is(topics.ALARM_ACKNOWLEDGED, alarm="tcs_heartbeat"),
                                timeout=30, what="the acknowledgement")
        assert acked.payload["by"] == user and acked.payload["state"] == "acknowledged"

        listed = run_ocd("alarms", "list", "--config", str(cfg), "--timeout", "30")
        assert listed.returncode == 0, listed.stderr
        assert "tcs_heartbeat" in listed.stdout and f"acknowledged by {user}" in listed.stdout

        again = run_ocd("alarms", "ack", "no_such_alarm", "--config", str(cfg),
                        "--timeout", "30")
        assert again.returncode != 0 and "no alarm no_such_alarm" in again.stderr
        assert "Traceback" not in again.stderr
    finally:
        for process in (watch, sim):
            if process is not None and process.popen.poll() is None:
                process.stop()
        tap.close()
        shutil.rmtree(root, ignore_errors=True)
