"""A second process that asks ``ocd run`` every ``interval`` seconds whether it is there and
times the answer: a heartbeat enquiry (what ``ocd ping`` sends), then ``allow_hetdex stop``
(what ``ocd allow_hetdex stop`` sends), each from a commander's address, each answer awaited
up to ``wait`` seconds. One JSON line per question on stdout: ``{"what", "latency"}``
(``latency`` null when unanswered). Runs until SIGTERM; ready once it printed ``ready``.

    python tests/pinger.py COMMANDER_URL MAIN_LOOP_URL [INTERVAL]
"""

from __future__ import annotations

import json
import signal
import sys
import time
import uuid
from pathlib import Path

import zmq

sys.path.insert(0, str(Path(__file__).parent))
from forgery import Forger  # noqa: E402

from ocd.app.commander import fresh_fields  # noqa: E402
from ocd.bus.envelope import decode, stamp  # noqa: E402
from ocd.clock import RealClock  # noqa: E402

WAIT = 5.0


def main() -> int:
    commander_url, main_url = sys.argv[1], sys.argv[2]
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    forger = Forger(commander_url)
    sub = forger.ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"ocd.heartbeat.reply")
    sub.setsockopt(zmq.SUBSCRIBE, b"ocd.main_loop.ack")
    sub.connect(main_url)
    forger.wait_for_subscriber("ocd.command.allow_hetdex", 60)
    forger.wait_for_subscriber("ocd.heartbeat.enquiry", 60)
    seq = 0
    # the main loop answers a first enquiry once our subscription reached it too
    while not stop:
        seq += 1
        if ask(forger, sub, "ocd.heartbeat.enquiry", {}, seq) is not None:
            break
    print("ready", flush=True)
    while not stop:
        began = time.monotonic()
        for topic, data in (("ocd.heartbeat.enquiry", {}),
                            ("ocd.command.allow_hetdex", {"allowed": False, **fresh_fields()})):
            seq += 1
            latency = ask(forger, sub, topic, data, seq)
            print(json.dumps({"what": topic, "latency": latency}), flush=True)
        time.sleep(max(0.0, interval - (time.monotonic() - began)))
    sub.close(linger=0)
    forger.close()
    return 0


def ask(forger: Forger, sub: zmq.Socket, topic: str, data: dict, seq: int) -> float | None:
    """Send ``topic`` with a new id; seconds until the answer echoing it, None after WAIT."""
    token = uuid.uuid4().hex
    began = time.monotonic()
    forger.send(topic, stamp(topic, {"id": token, **data}, origin=f"pinger@host:{seq}",
                             seq=seq, clock=RealClock()))
    while (left := began + WAIT - time.monotonic()) > 0:
        if sub.poll(int(left * 1000) + 1):
            event = decode(sub.recv_multipart())
            if event.payload.get("id") == token:
                return time.monotonic() - began
    return None


if __name__ == "__main__":
    sys.exit(main())
