"""How fast ``ocd db_replay`` stops on SIGINT or SIGTERM, at every point of a replay, against a
bare asyncio process stopped the same way in the same run.

Cases (each a real ``ocd db_replay`` over ipc, SIGINT and SIGTERM alternated):

- waiting for its subscribers;
- inside a recorded gap of 1e12 s (the replay at real speed);
- in the middle of a replay at full speed (``-s 0 --loop``);
- while a subscriber that never reads holds its sends (queues of 10, ``[bus]
  heartbeat_timeout`` 30 s).

Measured: wall seconds from the signal to the process's end, as the RA sees it. Baseline: a
bare Python process running an asyncio loop that ends on the same signal (interpreter
start-up excluded, its exit included). Target (the security issue): every stop within 1 s.
The tests check only that each stop comes (within a few seconds on a loaded machine); the
figures are here.

    python bench/replay_stop.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocd.recording.store import open_recording  # noqa: E402

T0 = 1_511_000_000.0
BARE = ("import asyncio, signal, sys\n"
        "async def main():\n"
        "    stop = asyncio.Event(); loop = asyncio.get_running_loop()\n"
        "    for s in (signal.SIGINT, signal.SIGTERM): loop.add_signal_handler(s, stop.set)\n"
        "    print('ready', flush=True); await stop.wait()\n"
        "asyncio.run(main())\n")


def recording(path: Path, received: list[float]) -> Path:
    conn = open_recording(path)
    conn.executemany(
        "INSERT INTO events (topic, payload, __data_time, __wire_time, received) "
        "VALUES (?, ?, ?, ?, ?)",
        [("tcs.receiver.heartbeat", json.dumps({"__data_time": t, "__wire_time": t, "n": n}),
          t, t, t) for n, t in enumerate(received)])
    conn.close()
    return path


def wait_for(stream, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if text in line:
            return
        if not line:
            raise RuntimeError(f"ended before {text!r}")
    raise RuntimeError(f"no {text!r} within {timeout} s")


def stop(process: subprocess.Popen[str], sig: int) -> float:
    began = time.monotonic()
    process.send_signal(sig)
    process.communicate(timeout=60)
    return time.monotonic() - began


def drain(sock: zmq.Socket, until: threading.Event, seen: list[int]) -> None:
    while not until.is_set():
        if sock.poll(50):
            sock.recv_multipart()
            seen[0] += 1


def one(root: Path, case: str, sig: int) -> float:
    cfg = root / "r.cfg"
    cfg.write_text(f"[urls]\nocd_db_replay = ipc://{root}/replay.ipc\n"
                   "[bus]\nsend_hwm = 10\nreceive_hwm = 10\nheartbeat_timeout = 30\n"
                   "linger = 0.2\n")
    times = {"waiting": [T0, T0 + 1], "gap": [T0, T0 + 0.2, T0 + 1e12]}.get(
        case, [T0 + i for i in range(5000)])
    db = recording(root / f"{case}.db", times)
    args = {"waiting": (), "gap": ("-s", "1"), "full_speed": ("-s", "0", "--loop"),
            "stalled": ("-s", "0", "--loop", "--subscribers", "2")}[case]
    replay = subprocess.Popen([sys.executable, "-m", "ocd", "db_replay", str(db), "--config",
                               str(cfg), "--wait", "0", *args], cwd=root,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ctx = zmq.Context()
    socks, done, seen = [], threading.Event(), [0]
    try:
        wait_for(replay.stderr, "waiting for")
        if case != "waiting":
            if case == "stalled":
                stalled = ctx.socket(zmq.SUB)
                stalled.setsockopt(zmq.RCVHWM, 10)
                stalled.setsockopt(zmq.SUBSCRIBE, b"")
                stalled.connect(f"ipc://{root}/replay.ipc")
                socks.append(stalled)
            reader = ctx.socket(zmq.SUB)
            reader.setsockopt(zmq.SUBSCRIBE, b"")
            reader.connect(f"ipc://{root}/replay.ipc")
            socks.append(reader)
            thread = threading.Thread(target=drain, args=(reader, done, seen), daemon=True)
            thread.start()
            want = {"gap": 2, "full_speed": 12_000, "stalled": 5}[case]
            deadline = time.monotonic() + 60
            while seen[0] < want and time.monotonic() < deadline:
                time.sleep(0.01)
        return stop(replay, sig)
    finally:
        done.set()
        time.sleep(0.1)
        for sock in socks:
            sock.close(0)
        ctx.term()
        if replay.poll() is None:
            replay.kill()
            replay.wait()


def bare(sig: int) -> float:
    process = subprocess.Popen([sys.executable, "-c", BARE], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    wait_for(process.stdout, "ready")
    return stop(process, sig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    signals = [signal.SIGINT, signal.SIGTERM]
    print(f"{args.runs} runs per case, SIGINT and SIGTERM alternated; medians (worst)")
    base = [bare(signals[i % 2]) for i in range(args.runs)]
    print(f"baseline: a bare asyncio process      {statistics.median(base) * 1000:7.0f} ms "
          f"({max(base) * 1000:.0f})")
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="ocd-stop-", dir="/tmp") as tmp:
        for case in ("waiting", "gap", "full_speed", "stalled"):
            times = []
            for i in range(args.runs):
                root = Path(tmp) / f"{case}{i}"
                root.mkdir()
                times.append(one(root, case, signals[i % 2]))
            worst = max(worst, max(times))
            median = statistics.median(times)
            print(f"ocd db_replay, {case:<12}          {median * 1000:7.0f} ms "
                  f"({max(times) * 1000:.0f})  {median / statistics.median(base):5.1f}x the "
                  "bare process")
    print(f"target: every stop within 1 s: {'met' if worst <= 1.0 else 'NOT met'} "
          f"(worst {worst:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
