"""No input can stop or mislead ``ocd run``: real processes, real sockets.

Two attackers bind addresses ``ocd run`` subscribes to: the third ``ocd_allow_hetdex`` address
(for OCD's topics) and a second ``event_urls`` address (for the TCS topics, which are accepted
only from the TCS's addresses); they publish every kind of hostile frame; between categories a
heartbeat enquiry must be answered. Afterwards the main loop still runs a shot. Further tests
hold the time rules at a fast mock speed, the stop timeout with a frozen TCS, and the recovery
after ``kill -9``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator

import pytest
import zmq
from conftest import run_ocd
from e2e_helpers import EventTap, OcdProcess, night_config, short_tmpdir, topic_is

from ocd.bus.envelope import encode, stamp
from ocd.clock import RealClock
from ocd.shots.store import load_shots

pytestmark = pytest.mark.slow

G1, G2 = "pas.Guider1.metrology_data", "pas.Guider2.metrology_data"
MAX_BYTES = 65536
HOSTILE_CONFIG = f"""
[bus]
max_message_bytes = {MAX_BYTES}
log_interval = 30
"""


class Attacker:
    """A raw XPUB socket bound where ``ocd run`` connects: it sends any bytes it likes."""

    def __init__(self, url: str) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.XPUB)
        self.sock.setsockopt(zmq.XPUB_VERBOSER, 1)
        self.sock.setsockopt(zmq.SNDHWM, 0)
        self.sock.bind(url)
        self.origin = f"attacker@host:{os.getpid()}"
        self.seq = 0

    def wait_subscribed(self, timeout: float = 30.0,
                        prefixes: tuple[bytes, ...] = (b"ocd.heartbeat.enquiry",)) -> None:
        """Until a subscription to one of ``prefixes`` arrives (ocd run is connected)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sock.poll(200):
                notice = self.sock.recv()
                if notice[:1] == b"\x01" and (notice == b"\x01" or any(
                        notice[1:].startswith(prefix) for prefix in prefixes)):
                    return
        raise AssertionError("ocd run did not subscribe to the attacker's address")

    def raw(self, *frames: bytes) -> None:
        self.sock.send_multipart(list(frames))

    def json(self, topic: str, text: str | bytes) -> None:
        self.raw(topic.encode(), text.encode() if isinstance(text, str) else text)

    def event(self, topic: str, data: dict, origin: str | None = None,
              seq: int | None = None) -> None:
        if origin is None:
            self.seq += 1
        payload = stamp(topic, data, origin=origin or self.origin,
                        seq=self.seq if seq is None else seq, clock=RealClock())
        self.raw(*encode(topic, payload))

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()


def answered(tap: EventTap, attacker: Attacker, after: str) -> None:
    """An enquiry sent now is answered: the loop survived what came before."""
    token = uuid.uuid4().hex
    attacker.event("ocd.heartbeat.enquiry", {"id": token})
    tap.wait_for(lambda e: e.topic == "ocd.heartbeat.reply" and e.payload.get("id") == token,
                 20, what=f"a heartbeat reply after {after}")


def configs(root, extra: str, **kwargs) -> tuple[str, ...]:
    """``--config`` arguments: the test night, then ``extra`` (sections and options)."""
    config = night_config(root, **kwargs)
    more = root / "extra.cfg"
    more.write_text(extra)
    return ("--config", str(config), "--config", str(more))


def allow(config: tuple[str, ...]) -> None:
    result = run_ocd("allow_hetdex", "start", *config, "--timeout", "20")
    assert result.returncode == 0, result.stderr


def night_with(root, extra: str, **kwargs) -> tuple:
    config = configs(root, extra, **kwargs)
    sim = OcdProcess(("sim_tcs", *config), root, "sim_tcs")
    run = OcdProcess(("run", *config, "--yes"), root, "run")
    tap = EventTap([f"ipc://{root}/{name}.ipc" for name in ("main", "shot0", "shot1")])
    try:
        tap.wait_for(topic_is("ocd.main_loop.status"), 60, what="first main loop status")
    except AssertionError:
        tap.close()
        run.stop()
        sim.stop()
        raise AssertionError(f"ocd run did not come up:\n{run.stderr()}") from None
    return config, sim, run, tap


@pytest.fixture
def hostile_night() -> Iterator[tuple]:
    root = short_tmpdir()
    attacker = Attacker(f"ipc://{root}/allow2.ipc")
    tcs = Attacker(f"ipc://{root}/tcs2.ipc")  # a second TCS address, as a config may list
    config, sim, run, tap = night_with(root, HOSTILE_CONFIG + f"""
[urls]
event_urls = ipc://{root}/tcs.ipc, ipc://{root}/tcs2.ipc
""")
    try:
        attacker.wait_subscribed()
        tcs.wait_subscribed(prefixes=(b"tcs.", b"pas."))
        yield root, config, attacker, tcs, sim, run, tap
    finally:
        tap.close()
        attacker.close()
        tcs.close()
        codes = (run.stop(), sim.stop())
        shutil.rmtree(root, ignore_errors=True)
    assert codes == (0, 0), (run.stderr(), sim.stderr())


def test_hostile_frames_never_stop_or_mislead_the_main_loop(hostile_night):
    root, config, attacker, tcs, sim, run, tap = hostile_night
    answered(tap, attacker, "nothing")
    # 1. numbers the encoder refuses, in every topic the loop acts on
    attacker.json("ocd.heartbeat.enquiry", '{"id": NaN}')
    for text in ('{"ra": NaN, "dec": 1}', '{"ra": Infinity, "dec": 1}',
                 '{"ra": 1, "dec": -Infinity}'):
        tcs.json("tcs.root.ra_dec", text)
    for guider in (G1, G2):
        for value in ("NaN", "Infinity", "1.7e308", "9" * 400, "1e400"):
            tcs.json(guider, f'{{"seeing": {value}, "transparency": 0.9}}')
    answered(tap, attacker, "NaN, Infinity and huge numbers")
    # 2. nesting, bad text, bad framing
    deep = '{"a": ' + "[" * 5000 + "]" * 5000 + "}"
    for topic in ("tcs.root.ra_dec", G1):
        tcs.json(topic, deep)
    for topic in ("ocd.command.abort", "ocd.heartbeat.enquiry"):
        attacker.json(topic, deep)
    tcs.raw(b"tcs.root.ra_dec", b'{"ra": "\xff"}')
    tcs.raw(b"tcs.root.ra_dec", b'{"ra": "\\ud800", "dec": 1}')
    attacker.raw(b"ocd.command.\xff\xfe", b"{}")  # a subscribed prefix, then not UTF-8
    tcs.raw(b"tcs.receiver.heartbeat")
    tcs.raw(b"tcs.receiver.heartbeat", b"{}", b"{}")
    tcs.raw(b"tcs.receiver.heartbeat", b"[1, 2]")
    tcs.raw(b"tcs.receiver.heartbeat", b"\xef\xbb\xbf{}")
    answered(tap, attacker, "deep nesting and malformed text")
    # 3. absurd values in valid JSON: dropped, never a state change
    for guider in (G1, G2):
        for seeing in (-1, -1e300, 0, 25.0):
            tcs.json(guider, json.dumps({"seeing": seeing, "transparency": 0.9}))
        tcs.json(guider, json.dumps({"seeing": 1.0, "transparency": 7}))
        tcs.json(guider, json.dumps({"seeing": "1.0", "transparency": 0.9}))
    tcs.json("tcs.root.ra_dec", json.dumps({"ra": 99, "dec": 1}))
    attacker.event("ocd.command.allow_hetdex", {"id": "x" * 1000, "allowed": True})
    attacker.event("ocd.command.format_disk", {"id": "f1"})
    attacker.event("ocd.run_shot.run", {"exec_status": 0, "shotid": "FAKE"})  # no shot keys
    answered(tap, attacker, "absurd values")
    # 4. senders' tables: unique request ids and origins, and a flood of forged restarts
    for number in range(3000):
        attacker.event("ocd.command.abort", {"id": f"abort-{number}"})
        attacker.event("ocd.heartbeat.reply", {"id": number, "service": "x", "in_reply_to": None},
                       origin=f"forged{number}@host:1", seq=5)
    for seq in range(1000, 0, -1):
        attacker.event("ocd.heartbeat.reply", {"id": seq, "service": "x", "in_reply_to": None},
                       origin="restarter@host:1", seq=seq)
    answered(tap, attacker, "thousands of unique ids and origins, forged restarts")
    # 5. a message larger than [bus] max_message_bytes: libzmq drops it (and our connection)
    tcs.json(G1, '{"seeing": 1.0, "transparency": 0.9, "pad": "' + "x" * MAX_BYTES + '"}')
    tcs.wait_subscribed(prefixes=(b"tcs.", b"pas."))  # ocd run reconnected
    answered(tap, attacker, "an oversized message")

    # nothing absurd changed a state: conditions never turned bad, the loop never erred
    changes = [e.payload for e in tap.events if e.topic == "ocd.states.change"]
    assert not [c for c in changes if c["machine_name"] == "metrology"
                and c["new_state"] == "bad"], changes
    assert not [e for e in tap.events if e.topic == "ocd.main_loop.error"]
    assert not [e for e in tap.events if e.topic == "ocd.main_loop.ack"
                and e.payload["command"] == "allow_hetdex"]
    _, status = tap.wait_for(topic_is("ocd.main_loop.status"), 30, len(tap.events))
    assert status.payload["states"]["hetdex_allowed"] == "not_allowed"
    assert status.payload["running_shot"] is None
    assert (status.payload["pointing"] or {}).get("ra") != 99
    dropped = status.payload["bus"]["dropped"]
    assert dropped["json"] >= 14 and dropped["depth"] >= 4 and dropped["schema"] >= 12
    assert dropped["frames"] >= 2 and dropped["topic"] >= 1 and dropped["not_object"] >= 1
    assert dropped["unknown"] >= 1
    assert status.payload["bus"]["handler_errors"] == 0

    # the loop still runs a shot, to its end
    allow(config)
    start, _ = tap.wait_for(topic_is("ocd.run_shot.run", exec_status=0), 60, what="shot start")
    _, finish = tap.wait_for(topic_is("ocd.run_shot.run", exec_status=1), 90, start,
                             what="shot finish")
    assert finish.payload["error"] is False

    log = run.stderr()
    assert "Traceback" not in log
    assert log.count("restarted its sequence") <= 1  # 1000 forged restarts, one line
    assert log.count("dropped a message") <= len(dropped)  # one line per kind of drop
    assert run.popen.poll() is None


def test_the_silence_rule_never_fails_a_shot_waiting_for_the_telescope():
    """At 300x an exposure of 900 OCD-clock seconds lasts 3 real seconds, three times
    [run] shot_silent_after = 300 OCD-clock seconds: the progress events keep the shot alive."""
    root = short_tmpdir()
    config, sim, run, tap = night_with(root, """
[run]
shot_silent_after = 300
start_timeout = 100000
[run_shot]
progress_interval = 20
[tcs]
heartbeat_timeout = 3000
""", speed=300, exposure_time=900)
    try:
        allow(config)
        start, _ = tap.wait_for(topic_is("ocd.run_shot.run", exec_status=0), 60)
        _, finish = tap.wait_for(topic_is("ocd.run_shot.run", exec_status=1), 90, start)
        assert finish.payload["error"] is False
        silent = [e for e in tap.events if e.topic == "ocd.states.change"
                  and e.payload["transition"] == "shot_silent"]
        assert silent == []
        progress = [e for e in tap.events[start:] if e.topic == "ocd.run_shot.progress"]
        assert {e.payload["pending"] for e in progress} >= {"virus.expose"}
    finally:
        tap.close()
        codes = (run.stop(), sim.stop())
        shutil.rmtree(root, ignore_errors=True)
    assert codes == (0, 0)


def test_sigterm_ends_ocd_run_within_the_stop_timeout_whatever_the_tcs_does():
    root = short_tmpdir()
    config, sim, run, tap = night_with(root, """
[run]
stop_timeout = 4
""", exposure_time=6000)
    try:
        allow(config)
        start, _ = tap.wait_for(topic_is("ocd.run_shot.exp_hetdex", exec_status=0), 60)
        sim.signal(signal.SIGSTOP)  # the TCS freezes: no reply to the exposure, nor the abort
        began = time.monotonic()
        run.signal(signal.SIGTERM)
        code = run.popen.wait(30)
        elapsed = time.monotonic() - began
        assert code == 0, run.stderr()
        assert elapsed <= 4 + 1.0, f"ocd run took {elapsed:.1f} s to stop"
        _, finish = tap.wait_for(topic_is("ocd.run_shot.run", exec_status=1), 10, start)
        assert finish.payload["error"] is True and finish.payload["exc_value"] == "shutdown"
        assert not (root / "shots.dat.running").exists()
    finally:
        sim.signal(signal.SIGCONT)
        tap.close()
        sim.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_after_kill_9_the_next_main_loop_publishes_the_interrupted_finish():
    root = short_tmpdir()
    config, sim, run, tap = night_with(root, "", exposure_time=6000)
    before = {s.shotid: s.n_obs for s in load_shots(root / "shots.dat").all()}
    again = None
    try:
        allow(config)
        first, start = tap.wait_for(topic_is("ocd.run_shot.run", exec_status=0), 60)
        tap.wait_for(topic_is("ocd.run_shot.exp_hetdex", exec_status=0), 60, first)
        assert (root / "shots.dat.running").exists()
        run.signal(signal.SIGKILL)
        run.popen.wait(10)
        again = OcdProcess(("run", *config, "--yes"), root, "run2")
        _, finish = tap.wait_for(topic_is("ocd.run_shot.run", exec_status=1), 60, first,
                                 what="the finish of the interrupted shot")
        assert finish.payload["error"] is True
        assert finish.payload["exc_type"] == "Interrupted"
        assert finish.payload["shot_origin"] == start.origin
        assert finish.origin != start.origin
        assert (finish.payload["shotid"], finish.payload["observation"]) == \
            (start.payload["shotid"], start.payload["observation"])
        # the journal is ended right after that finish is sent: under load this process may
        # read the event first, so wait for it (with a deadline)
        deadline = time.monotonic() + 10
        while (root / "shots.dat.running").exists():
            assert time.monotonic() < deadline, "the journal outlived the interrupted finish"
            time.sleep(0.01)
        after = {s.shotid: s.n_obs for s in load_shots(root / "shots.dat").all()}
        assert after == before  # n_obs untouched
        # the observation number stays used: the next shot gets the next one
        allow(config)
        _, second = tap.wait_for(lambda e: e.topic == "ocd.run_shot.run"
                                 and e.payload["exec_status"] == 0 and e.origin != start.origin,
                                 60, first, what="a shot of the new main loop")
        assert second.payload["observation"] > start.payload["observation"]
    finally:
        tap.close()
        codes = [again.stop() if again is not None else 0, sim.stop()]
        shutil.rmtree(root, ignore_errors=True)
    assert codes == [0, 0]


def test_a_monitor_joining_during_a_tcs_outage_gets_the_states():
    root = short_tmpdir()
    config, sim, run, tap = night_with(root, """
[run]
status_interval = 60
""")
    late = None
    try:
        sim.signal(signal.SIGUSR1)  # heartbeats off
        dead, _ = tap.wait_for(lambda e: e.topic == "ocd.states.change"
                               and e.payload["machine_name"] == "tcs"
                               and e.payload["new_state"] == "dead", 60, what="tcs dead")
        late = EventTap([f"ipc://{root}/main.ipc"])  # 60 OCD-clock s = 0.5 real s at 120x
        _, status = late.wait_for(topic_is("ocd.main_loop.status"), 10,
                                  what="a status without TCS heartbeats")
        assert status.payload["states"]["tcs"] == "dead"
        late.wait_for(topic_is("ocd.states.state", machine_name="tcs", state="dead"), 10)
    finally:
        if late is not None:
            late.close()
        tap.close()
        codes = (run.stop(), sim.stop())
        shutil.rmtree(root, ignore_errors=True)
    assert codes == (0, 0)
