"""Memory of ``ocd run`` under frames whose senders choose new keys each time.

Starts a real ``ocd run`` (ipc sockets in a temporary directory, SQLite observation numbers, no
TCS) and publishes to it, from an address it subscribes to, N valid ``ocd.command.abort``
frames (each acknowledged), and measures the main loop's resident memory (``VmRSS``) before and
after, once every frame is handled (a heartbeat enquiry sent after them is answered):

(a) baseline: one request id and one origin for all N frames (nothing new to remember);
(b) a new request id and a new ``__origin`` in every frame: without bounds, every table keyed by
    what a sender chooses grows with N.

Each run starts a fresh ``ocd run`` per case, warmed up with 5 000 frames of its kind first,
and sends in two ways: ``paced`` (batches of 1 000, each answered before the next: the queues
stay short, so what grows is OCD's tables) and ``flood`` (as fast as the sockets take them: up
to ``[bus] send_hwm`` + ``receive_hwm`` frames wait in libzmq's queues, the C allocator keeps
that memory afterwards, and the slower case (b), which acknowledges every frame, lets more of
them wait: shown for information, it measures the queues, not OCD's tables).

    python bench/memory_tables.py [-n 100000] [--runs 3]

Target: paced, (b) grows RSS by less than 10 MB for N = 100 000.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import zmq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reaction import write_night  # noqa: E402

from ocd.app.commander import fresh_fields  # noqa: E402
from ocd.bus.envelope import encode, stamp  # noqa: E402
from ocd.clock import RealClock  # noqa: E402

WARM_UP = 5000


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Sender:
    def __init__(self, ctx: zmq.Context, root: Path) -> None:
        self.pub = ctx.socket(zmq.XPUB)
        self.pub.setsockopt(zmq.XPUB_NODROP, 1)  # a full queue makes us wait, never drop
        self.pub.bind(f"ipc://{root}/allow.ipc")
        self.sub = ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"ocd.heartbeat.reply")
        self.sub.connect(f"ipc://{root}/main.ipc")
        self.seq = 0
        self.clock = RealClock()

    def send(self, topic: str, data: dict, origin: str, seq: int) -> None:
        self.pub.send_multipart(encode(topic, stamp(topic, data, origin=origin, seq=seq,
                                                     clock=self.clock)))

    def frames(self, count: int, unique: bool, offset: int, batch: int = 0) -> None:
        for number in range(offset, offset + count):
            if batch and number % batch == 0:
                self.drained()
            if unique:
                self.send("ocd.command.abort", {"id": f"r{number}", **fresh_fields()},
                          f"o{number}@h:1", 1)
            else:
                self.seq += 1
                self.send("ocd.command.abort", {"id": "same", **fresh_fields()}, "same@h:1",
                          self.seq)

    def drained(self, timeout: float = 120.0) -> None:
        """Until ocd run answered an enquiry sent after everything else."""
        token = uuid.uuid4().hex
        self.seq += 1
        self.send("ocd.heartbeat.enquiry", {"id": token}, "same@h:1", self.seq)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sub.poll(500):
                frames = self.sub.recv_multipart()
                if token.encode() in frames[1]:
                    return
        raise RuntimeError("ocd run did not answer")


def one_case(count: int, unique: bool, batch: int) -> tuple[int, int, float]:
    """(RSS before, RSS after in KiB, seconds) for one fresh ocd run."""
    root = Path(tempfile.mkdtemp(prefix="ocd-mem-"))
    ctx = zmq.Context()
    process = None
    try:
        config = write_night(root)  # the reaction bench's night: ipc sockets, SQLite
        sender = Sender(ctx, root)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OCD__")}
        env["PYTHONPATH"] = str(ROOT)
        process = subprocess.Popen([sys.executable, "-m", "ocd", "run", "--config", str(config),
                                    "--yes", "--log-level", "ERROR"], cwd=root, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not sender.pub.poll(30000):  # its subscription: connected
            raise RuntimeError("ocd run did not subscribe")
        while sender.pub.poll(200):
            sender.pub.recv()
        sender.drained()
        sender.frames(WARM_UP, unique, 10 * count)
        sender.drained()
        before = rss_kib(process.pid)
        began = time.monotonic()
        sender.frames(count, unique, 0, batch)
        sender.drained()
        seconds = time.monotonic() - began
        return before, rss_kib(process.pid), seconds
    finally:
        if process is not None:
            process.terminate()
            process.wait(30)
        ctx.destroy(linger=0)
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{args.count} frames per case, {args.runs} run(s); {os.cpu_count()} CPUs, load "
          f"average {os.getloadavg()[0]:.1f}")
    modes = (("paced", 1000), ("flood", 0))
    growth: dict[tuple[str, bool], list[float]] = {(m, u): [] for m, _ in modes
                                                   for u in (False, True)}
    for run in range(1, args.runs + 1):
        for mode, batch in modes:
            line = [f"run {run} {mode}:"]
            for unique in (False, True):
                before, after, seconds = one_case(args.count, unique, batch)
                growth[mode, unique].append((after - before) / 1024)
                line.append(f"({'b' if unique else 'a'}) {before / 1024:.1f} -> "
                            f"{after / 1024:.1f} MiB (+{(after - before) / 1024:.2f}), "
                            f"{args.count / seconds:.0f} frames/s")
            print(" ".join(line), flush=True)
    ok = True
    for mode, _ in modes:
        a = statistics.median(growth[mode, False])
        b = statistics.median(growth[mode, True])
        print(f"{mode}: median RSS growth (a) same id and origin {a:+.2f} MiB, (b) unique ids "
              f"and origins {b:+.2f} MiB, (b) - (a) {b - a:+.2f} MiB")
        ok = ok and (mode != "paced" or b < 10)
    print(f"target (paced, (b) < 10 MiB): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
