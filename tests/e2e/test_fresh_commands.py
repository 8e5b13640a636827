"""Fresh commands: a captured ``allow_hetdex start`` frame, re-sent verbatim after ``ocd run``
restarted, is refused with an acknowledgement saying why (made before it started); within the
same run the same frame is a resend, ignored, and its nonce under another id is refused."""

from __future__ import annotations

import json
import shutil
import time

import pytest
import zmq
from e2e_helpers import night_config, short_tmpdir, topic_is
from forgery import Forger
from test_main_loop_e2e import start_night, stop_night

from ocd.core.commands import REPEATED, Freshness

pytestmark = pytest.mark.slow


def capture_command(root, topic: str) -> tuple[zmq.Context, zmq.Socket]:
    """A raw SUB socket on every commander address, to keep frames as they were sent."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
    sock.setsockopt(zmq.RECONNECT_IVL, 5)  # the commander binds only for its command
    for n in range(3):
        sock.connect(f"ipc://{root}/allow{n}.ipc")
    return ctx, sock


def send_until_answered(night, forger: Forger, messages: list[list[bytes]], request: str,
                        start: int, what: str):
    """Send ``messages`` until ``ocd run`` answers ``request`` (30 s in all); the answer. A
    send can be lost while a subscriber's connection is being replaced (its subscription was
    seen on the connection going away); sent again, a message ``ocd run`` already handled is
    a resend, answered once, so the answer counted is the only one."""
    deadline = time.monotonic() + 30
    while True:
        for message in messages:
            forger.sock.send_multipart(message)
        try:
            return night.tap.wait_for(topic_is("ocd.main_loop.ack", id=request), 5,
                                      start=start, what=what)[1]
        except AssertionError:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no {what} within 30 s:\n{night.run.stderr()[-3000:]}") from None


def test_a_captured_command_is_refused_after_a_restart_and_when_repeated():
    root = short_tmpdir()
    config = night_config(root)
    ctx, spy = capture_command(root, "ocd.command.allow_hetdex")
    try:
        night = start_night(root, config)
        try:
            for _ in range(5):  # the spy may connect after a command went out: send again
                night.allow("start")
                if spy.poll(2000):
                    break
            else:
                raise AssertionError("the spy captured none of 5 commands")
            frames = spy.recv_multipart()
            spy.close(linger=0)  # from now on, the only subscriber is ocd run
            captured = json.loads(frames[1])
            assert len(captured["nonce"]) == 32
            assert captured["created"] <= time.time()
            forger = Forger(f"ipc://{root}/allow2.ipc")
            try:  # the same frame again, in the same run, then its nonce under a new id
                forger.wait_for_subscriber("ocd.command.allow_hetdex")
                index, _ = night.tap.wait_for(topic_is("ocd.main_loop.ack", id=captured["id"]),
                                              30, what="the answer to the captured command")
                start = index + 1
                ack = send_until_answered(night, forger, [frames, [frames[0], json.dumps(
                    {**captured, "id": "same-nonce", "allowed": False}).encode()]],
                    "same-nonce", start, "the refusal of the nonce")
                assert ack.payload["ok"] is False
                assert ack.payload["message"] == ("refused: a command with this nonce was "
                                                  "already received (a replay?)")
                # the verbatim repeat, handled before, was ignored: no second answer
                assert not [e for e in night.tap.events[start:]
                            if e.topic == "ocd.main_loop.ack" and e.payload["id"] ==
                            captured["id"]]
            finally:
                forger.close()
        finally:
            stop_night(night)
        night = start_night(root, config)  # ocd run restarted: hetdex not allowed
        try:
            forger = Forger(f"ipc://{root}/allow2.ipc")
            try:
                forger.wait_for_subscriber("ocd.command.allow_hetdex")
                ack = send_until_answered(night, forger, [frames], captured["id"], 0,
                                          "the answer to the replayed frame")
            finally:
                forger.close()
            assert ack.payload["ok"] is False
            assert ack.payload["message"] == ("refused: the command was made before this ocd "
                                              "run started (a replay?)")
            assert not any(e.topic == "ocd.states.hetdex_allowed" and e.payload.get("allowed")
                           for e in night.tap.events)
            assert "refused: the command was made before this ocd run started" in \
                night.run.stderr()
        finally:
            stop_night(night)
    finally:
        spy.close(linger=0)
        ctx.term()
        shutil.rmtree(root, ignore_errors=True)


def test_freshness_rules():
    fresh = Freshness(max_age=30, started=1000.0)
    nonce = "0" * 32
    assert fresh.refusal(1001.0, nonce, "a", now=1002.0) is None
    assert fresh.refusal(1001.0, nonce, "a", now=1003.0) == REPEATED
    assert fresh.refusal(1001.0, nonce, "b", now=1003.0) == (
        "refused: a command with this nonce was already received (a replay?)")
    assert fresh.refusal(999.0, "1" * 32, "x", now=1002.0) == (
        "refused: the command was made before this ocd run started (a replay?)")
    assert fresh.refusal(1001.0, "2" * 32, "x", now=1041.0) == (
        "refused: the command was made 40 s ago, more than [security] command_max_age = 30 s "
        "(a replay?)")
    assert fresh.refusal(1100.0, "3" * 32, "x", now=1041.0) == (
        "refused: the command was made 59 s in the future")
    assert fresh.refusal(1041.0, None, "x", now=1041.0) is not None
    assert fresh.refusal(None, "4" * 32, "x", now=1041.0) is not None
    # memory bounded by the window: a nonce is forgotten once it could not be fresh
    assert len(fresh) == 0
    assert fresh.refusal(1100.0, "5" * 32, "x", now=1100.0) is None
    assert fresh.refusal(1101.0, "6" * 32, "x", now=1101.0) is None
    assert len(fresh) == 2
    assert fresh.refusal(1131.0, "7" * 32, "x", now=1131.0) is None
    assert len(fresh) == 2  # the first of the two expired at 1130
