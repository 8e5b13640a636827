"""How fast the main loop reacts: from the acknowledged ``ocd allow_hetdex start`` (conditions
already good) to the ``ocd.run_shot.run`` start of the shot it chooses.

Starts real ``ocd sim_tcs`` and ``ocd run`` processes (ipc sockets in a temporary directory,
SQLite observation numbers, a mock clock), then repeats: allow, time until the shot starts,
abort it and forbid shots again, wait until the main loop is idle. The baseline, measured in the
same run, is a bare pyzmq round trip to an echo process (PUB -> SUB -> PUB -> SUB): the floor of
any reaction across processes on this machine.

    python bench/reaction.py [--runs 50]

Target: p50 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zmq
import zmq.asyncio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ocd.app.commander import fresh_fields  # noqa: E402
from ocd.bus import Publisher, Subscriber, send_acknowledged  # noqa: E402
from ocd.clock import clock_from_config  # noqa: E402
from ocd.config import sample_shot_file, samples_dir  # noqa: E402

ECHO = """
import sys, zmq
ctx = zmq.Context()
sub = ctx.socket(zmq.SUB); sub.setsockopt(zmq.SUBSCRIBE, b""); sub.connect(sys.argv[1])
pub = ctx.socket(zmq.PUB); pub.bind(sys.argv[2])
while True:
    frames = sub.recv_multipart()
    if frames[0] == b"stop":
        break
    pub.send_multipart(frames)
"""


def write_night(root: Path) -> Path:
    ipc = f"ipc://{root}"
    shutil.copyfile(sample_shot_file(), root / "shots.dat")  # rewritten after each shot
    config = root / "ocd.cfg"
    config.write_text(f"""
[urls]
event_urls = {ipc}/tcs.ipc
ocd_main_loop = {ipc}/main.ipc
ocd_run_shot = {ipc}/shot.ipc
ocd_allow_hetdex = {ipc}/allow.ipc
tcs = {ipc}/gw.ipc
virus = {ipc}/gw.ipc
pfip = {ipc}/gw.ipc
pas = {ipc}/gw.ipc
[dates]
mock_time = 2017-11-19T03:00:00
mock_speed = 10
[database]
backend = sqlite
sqlite_path = {root}/obsnum.sqlite
[shots]
shot_file = {root}/shots.dat
[run_shot]
shuffle_dir = {samples_dir()}/HETcommands
acam_dir = {samples_dir()}/ACAMimages
[run]
error_pause = 0
tick_interval = 0.05
[tcs]
heartbeat_timeout = 30
[general]
log_level = WARNING
""")
    return config


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def baseline(root: Path, runs: int) -> list[float]:
    """Round trips to a bare pyzmq echo process."""
    there, back = f"ipc://{root}/echo-in.ipc", f"ipc://{root}/echo-out.ipc"
    ctx = zmq.asyncio.Context()
    pub = ctx.socket(zmq.PUB)
    pub.bind(there)
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    echo = subprocess.Popen([sys.executable, "-c", ECHO, there, back])
    sub.connect(back)
    times = []
    try:
        deadline = time.monotonic() + 30
        while True:  # until the echo is connected both ways
            if time.monotonic() > deadline:
                raise RuntimeError("the echo process did not answer within 30 s")
            await pub.send_multipart([b"ping", b"{}"])
            if await sub.poll(100):
                await sub.recv_multipart()
                break
        while await sub.poll(200):  # drain the duplicates of the warm-up
            await sub.recv_multipart()
        for _ in range(runs):
            start = time.perf_counter()
            await pub.send_multipart([b"ping", b'{"n": 1}'])
            await sub.recv_multipart()
            times.append(time.perf_counter() - start)
        await pub.send_multipart([b"stop", b"{}"])
        echo.wait(10)
    finally:
        if echo.poll() is None:
            echo.kill()
        pub.close(linger=0)
        sub.close(linger=0)
        ctx.term()
    return times


async def reactions(root: Path, config: Path, runs: int) -> list[float]:
    from ocd.config import load_config

    cfg = load_config([config])
    ctx = zmq.asyncio.Context()
    publisher = Publisher.for_service(ctx, cfg, "ocd_allow_hetdex", "allow_hetdex",
                                      clock=clock_from_config(cfg))
    subscriber = Subscriber(ctx, [f"ipc://{root}/main.ipc", f"ipc://{root}/shot.ipc"],
                            ["ocd.main_loop.ack", "ocd.heartbeat.reply", "ocd.run_shot.run",
                             "ocd.main_loop.status"])
    times = []
    counter = 0

    async def command(topic: str, data: dict) -> float:
        nonlocal counter
        counter += 1
        request = f"bench-{counter}"
        await send_acknowledged(
            publisher, subscriber, topic, {**data, **fresh_fields(), "id": request},
            is_ack=lambda e: e.topic == "ocd.main_loop.ack" and e.payload["id"] == request,
            timeout=30, target_urls=[f"ipc://{root}/main.ipc"], target_service="ocd_main_loop")
        return time.perf_counter()

    async def wait_for(predicate, timeout: float = 30.0):
        deadline = time.perf_counter() + timeout
        while True:
            event = await subscriber.recv(timeout=max(0.01, deadline - time.perf_counter()))
            if predicate(event):
                return event, time.perf_counter()

    def idle_and_forbidden(event) -> bool:
        states = event.payload.get("states", {})
        return (event.topic == "ocd.main_loop.status" and states.get("run_shot") == "idle"
                and states.get("hetdex_allowed") == "not_allowed"
                and states.get("tcs") == "alive")

    try:
        await wait_for(idle_and_forbidden, 60)
        for _ in range(runs):
            acknowledged = await command("ocd.command.allow_hetdex", {"allowed": True})
            _, started = await wait_for(lambda e: e.topic == "ocd.run_shot.run"
                                        and e.payload.get("exec_status") == 0)
            times.append(started - acknowledged)
            await command("ocd.command.allow_hetdex", {"allowed": False})
            await command("ocd.command.abort", {})
            await wait_for(lambda e: e.topic == "ocd.run_shot.run"
                           and e.payload.get("exec_status") == 1)
            await wait_for(idle_and_forbidden)
    finally:
        subscriber.close()
        publisher.close()
        ctx.term()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ocd-bench-"))
    config = write_night(root)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "ocd"]
    sim = subprocess.Popen([*command, "sim_tcs", "--config", str(config)], env=env)
    run = subprocess.Popen([*command, "run", "--yes", "--config", str(config)], env=env)
    try:
        base = asyncio.run(baseline(root, args.runs))
        react = asyncio.run(reactions(root, config, args.runs))
    finally:
        for process in (run, sim):
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        shutil.rmtree(root, ignore_errors=True)
    b50, b99 = percentile(base, 0.5) * 1000, percentile(base, 0.99) * 1000
    r50, r99 = percentile(react, 0.5) * 1000, percentile(react, 0.99) * 1000
    print(f"runs: {args.runs}")
    print(f"baseline  bare pyzmq round trip   p50 {b50:7.2f} ms  p99 {b99:7.2f} ms")
    print(f"reaction  allow -> shot start      p50 {r50:7.2f} ms  p99 {r99:7.2f} ms"
          f"  (mean {statistics.mean(react) * 1000:.2f} ms)")
    print(f"ratio p50 reaction/baseline: {r50 / b50:.1f}")
    print(f"target p50 <= 50 ms: {'met' if r50 <= 50 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
