"""Throughput of ``ocd db_replay -s 0`` against a bare loop over the same SQLite rows, and of
``ocd record`` against a bare subscriber, measured in the same run.

Replay (1 000 000 events by default, in a recording made with the recorder's schema):
(a) bare: a child process reads ``SELECT topic, payload FROM events ORDER BY id`` and sends
    each row as it is on an XPUB socket (two plain ``send`` calls, cheaper than
    ``send_multipart``);
(b) OCD: ``ocd db_replay -s 0`` as a real subprocess (it also re-stamps ``__wire_time``,
    paces, counts, shows no progress bar off a terminal).
Both send only once the subscriber's subscription has arrived and never drop (a full queue
makes them wait), so the rate is the rate of the whole pipe. A plain SUB socket in this process
counts the events; the rate is counted at it, from the first event to the last; lost = sent -
received.

Record (200 000 events by default, the size of bench/bus_throughput.py): a child process
publishes TCS-like events as fast as it can on a PUB socket that drops when a subscriber's
queue is full (a live TCS does not wait). Received by (a) a bare SUB socket doing
``json.loads``, (b) ``ocd record`` as a real subprocess, stopped with SIGTERM once the
publisher is done; its rate comes from the ``received`` column. Lost events are what the
receiver does not have. Run from the repository root:

    python bench/replay_throughput.py [-n 1000000] [--runs 3] [--record-count 200000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import zmq  # noqa: E402

from ocd.bus import stamp  # noqa: E402
from ocd.clock import MockClock  # noqa: E402
from ocd.recording.store import open_recording  # noqa: E402
from ocd.shell.children import child_env  # noqa: E402

TOPICS = ("tcs.root.ra_dec", "tcs.receiver.heartbeat", "pas.Guider1.metrology_data")
DATA = {"ra": 12.401733, "dec": 56.1464, "az": 123.4567, "alt": 55.055223, "pa": 12.3,
        "focus": 1.23, "status": "tracking"}
#: How long a receiver waits for more before declaring the rest lost.
IDLE = 5.0
HWM = 10000


def _payload(i: int, clock: MockClock) -> tuple[str, str, float]:
    topic = TOPICS[i % len(TOPICS)]
    payload = stamp(topic, {**DATA, "i": i}, origin="tcs@bench:1", seq=i + 1, clock=clock,
                    data_time=1511060400.0 + i * 0.01)
    return topic, json.dumps(payload, separators=(",", ":")), payload["__data_time"]


def make_recording(path: Path, count: int) -> float:
    """A recording of ``count`` events, 10 ms apart; returns the seconds it took."""
    import datetime as dt

    start = time.perf_counter()
    clock = MockClock(dt.datetime(2017, 11, 19, 3, tzinfo=dt.timezone.utc), 60.0)
    conn = open_recording(path)
    conn.execute("BEGIN")
    batch = []
    for i in range(count):
        topic, text, data_time = _payload(i, clock)
        batch.append((topic, text, data_time, data_time, data_time + 0.001))
        if len(batch) == 50_000:
            conn.executemany("INSERT INTO events (topic, payload, __data_time, __wire_time, "
                             "received) VALUES (?, ?, ?, ?, ?)", batch)
            batch.clear()
    if batch:
        conn.executemany("INSERT INTO events (topic, payload, __data_time, __wire_time, "
                         "received) VALUES (?, ?, ?, ?, ?)", batch)
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    return time.perf_counter() - start


# -- receivers ----------------------------------------------------------------------------------

def _sub(url: str, ctx: zmq.Context) -> zmq.Socket:
    sock = ctx.socket(zmq.SUB)
    sock.rcvhwm = HWM
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(url)
    return sock


def count_events(sock: zmq.Socket, count: int, decode: bool = False) -> dict:
    """Receive until ``count`` events or IDLE seconds of silence."""
    sock.rcvtimeo = int(IDLE * 1000)
    received, first, last, sampled, fresh = 0, 0.0, 0.0, 0, 0
    since = time.time() - 60
    try:
        while received < count:
            frames = sock.recv_multipart()
            if decode or not received % 1000:
                payload = json.loads(frames[1])
                sampled += 1
                fresh += payload["__wire_time"] >= since  # stamped when sent, not recorded
            received += 1
            last = time.perf_counter()
            if received == 1:
                first = last
    except zmq.Again:
        pass
    rate = (received - 1) / (last - first) if received > 1 and last > first else 0.0
    return {"received": received, "rate": rate, "lost": count - received, "sampled": sampled,
            "fresh": fresh}


# -- replay: (a) bare loop, (b) ocd db_replay ---------------------------------------------------

def _bare_replay(db: str, url: str, queue: mp.Queue) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.XPUB)
    sock.sndhwm = HWM
    sock.setsockopt(zmq.XPUB_NODROP, 1)
    sock.bind(url)
    queue.put("bound")
    sock.recv()  # the subscription
    conn = sqlite3.connect(db)
    cursor = conn.execute("SELECT topic, payload FROM events ORDER BY id")
    sent = 0
    start = time.perf_counter()
    while True:
        rows = cursor.fetchmany(2048)
        if not rows:
            break
        for topic, payload in rows:
            sock.send(topic.encode(), zmq.SNDMORE)
            sock.send(payload.encode())
            sent += 1
    queue.put((sent, sent / (time.perf_counter() - start)))
    sock.close(linger=-1)
    ctx.term()


def run_bare_replay(db: Path, root: Path, count: int) -> dict:
    url = f"ipc://{root}/bare.ipc"
    spawn = mp.get_context("spawn")
    queue: mp.Queue = spawn.Queue()
    child = spawn.Process(target=_bare_replay, args=(str(db), url, queue))
    child.start()
    queue.get(timeout=60)
    ctx = zmq.Context()
    sock = _sub(url, ctx)
    result = count_events(sock, count)
    result["sent"], result["sent_rate"] = queue.get(timeout=120)
    child.join()
    sock.close(linger=0)
    ctx.term()
    return result


def run_ocd_replay(db: Path, root: Path, count: int) -> dict:
    url = f"ipc://{root}/replay.ipc"
    ctx = zmq.Context()
    sock = _sub(url, ctx)  # connects (and retries) until db_replay binds
    process = subprocess.Popen([sys.executable, "-m", "ocd", "db_replay", "-s", "0", "--set",
                                f"urls.ocd_db_replay={url}", "--log-level", "WARNING", str(db)],
                               env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    result = count_events(sock, count)
    out, err = process.communicate(timeout=120)
    if process.returncode != 0:
        raise SystemExit(f"ocd db_replay failed:\n{err}")
    result["summary"] = out.strip()
    sock.close(linger=0)
    ctx.term()
    return result


# -- record: (a) bare SUB, (b) ocd record -------------------------------------------------------

def _live_publisher(url: str, count: int, queue: mp.Queue) -> None:
    import datetime as dt

    ctx = zmq.Context()
    sock = ctx.socket(zmq.XPUB)  # XPUB only to see the subscription; drops like a PUB
    sock.sndhwm = HWM
    sock.bind(url)
    queue.put("bound")
    sock.recv()
    clock = MockClock(dt.datetime(2017, 11, 19, 3, tzinfo=dt.timezone.utc), 60.0)
    start = time.perf_counter()
    for i in range(count):
        topic, text, _ = _payload(i, clock)
        sock.send_multipart([topic.encode(), text.encode()])
    queue.put(count / (time.perf_counter() - start))
    sock.close(linger=-1)
    ctx.term()


def run_record(root: Path, count: int, with_ocd: bool) -> dict:
    url = f"ipc://{root}/live.ipc"
    spawn = mp.get_context("spawn")
    queue: mp.Queue = spawn.Queue()
    child = spawn.Process(target=_live_publisher, args=(url, count, queue))
    child.start()
    queue.get(timeout=60)
    if not with_ocd:
        ctx = zmq.Context()
        sock = _sub(url, ctx)
        result = count_events(sock, count, decode=True)
        result["sent_rate"] = queue.get(timeout=120)
        child.join()
        sock.close(linger=0)
        ctx.term()
        return result
    db = root / "recorded.db"
    if db.exists():
        db.unlink()
    process = subprocess.Popen([sys.executable, "-m", "ocd", "record", "--urls", url,
                                "--log-level", "WARNING", str(db)], env=child_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sent_rate = queue.get(timeout=300)
    child.join()
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    if process.returncode != 0:
        raise SystemExit(f"ocd record failed:\n{err}")
    conn = sqlite3.connect(db)
    stored, first, last = conn.execute("SELECT count(*), min(received), max(received) "
                                       "FROM events").fetchone()
    conn.close()
    rate = (stored - 1) / (last - first) if stored > 1 and last > first else 0.0
    return {"received": stored, "rate": rate, "lost": count - stored, "sent_rate": sent_rate,
            "summary": out.strip()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=1_000_000,
                        help="events replayed per run (default 1 000 000)")
    parser.add_argument("--runs", type=int, default=3, help="alternate (a) and (b) this often")
    parser.add_argument("--record-count", type=int, default=200_000,
                        help="events published for the recorder (0: skip that part)")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="ocd-bench-"))
    try:
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
              f"ipc sockets, HWM {HWM}")
        db = root / "night.db"
        took = make_recording(db, args.count)
        print(f"recording of {args.count} events ({db.stat().st_size / 1e6:.0f} MB) made in "
              f"{took:.1f} s")
        ratios, bare_rates, ocd_rates, lost = [], [], [], 0
        for run in range(1, args.runs + 1):
            bare = run_bare_replay(db, root, args.count)
            ocd = run_ocd_replay(db, root, args.count)
            ratio = ocd["rate"] / bare["rate"] if bare["rate"] else 0.0
            ratios.append(ratio)
            bare_rates.append(bare["rate"])
            ocd_rates.append(ocd["rate"])
            lost += ocd["lost"]
            print(f"replay run {run}: (a) bare {bare['rate']:9.0f} ev/s (lost {bare['lost']}) | "
                  f"(b) ocd db_replay -s 0 {ocd['rate']:9.0f} ev/s (lost {ocd['lost']}; "
                  f"__wire_time re-stamped in {ocd['fresh']}/{ocd['sampled']} sampled) | "
                  f"b/a {ratio:.2f}")
        print(f"replay median: (a) {statistics.median(bare_rates):.0f} ev/s, (b) "
              f"{statistics.median(ocd_rates):.0f} ev/s, ratio b/a "
              f"{statistics.median(ratios):.2f} (target >= 0.8); lost by db_replay in all runs: "
              f"{lost} (target 0)")
        ok = statistics.median(ratios) >= 0.8 and lost == 0
        if args.record_count:
            for run in range(1, args.runs + 1):
                bare = run_record(root, args.record_count, with_ocd=False)
                ocd = run_record(root, args.record_count, with_ocd=True)
                print(f"record run {run}: publisher {bare['sent_rate']:.0f} / "
                      f"{ocd['sent_rate']:.0f} ev/s | (a) bare SUB {bare['rate']:9.0f} ev/s "
                      f"(lost {bare['lost']}) | (b) ocd record {ocd['rate']:9.0f} ev/s stored "
                      f"(lost {ocd['lost']}) | b/a {ocd['rate'] / bare['rate']:.2f}")
                ok = ok and ocd["lost"] == 0
        print(f"load average {os.getloadavg()[0]:.1f} at end")
        return 0 if ok else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
