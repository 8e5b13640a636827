"""Throughput of OCD's event bus against bare pyzmq, measured in the same run.

(a) bare: a pyzmq publisher in a child process sends N ``json.dumps`` payloads as fast as it
    can; a SUB socket in this process receives them and ``json.loads`` each one.
(c) bare orjson: the same loop with orjson, the JSON library OCD uses (``orjson.dumps``,
    ``orjson.loads``).
(b) OCD: an ``ocd.bus.Publisher`` in a child process publishes the same data (stamping the
    envelope, strict encoding); an ``ocd.bus.Subscriber`` here receives them under asyncio with
    what ``ocd run`` does to each: strict decoding, validation against the topic's schema
    (``tcs.root.ra_dec``, with its ranges), sequence tracking.
(d) OCD with CURVE: (b) with ``[security] curve`` on: the publisher a CURVE server with the
    bus's secret (and its ZAP authenticator), the subscriber a member's CURVE client; every
    event encrypted and authenticated. Target: at least 0.7 times (b).

All over tcp loopback with the same socket options: the ``[bus]`` defaults except the
high-water marks, unlimited (0) for every variant, bare ones included: each publisher sends as
fast as it can, faster than its subscriber reads, and with a finite queue every variant would
drop what overflows, by design (OCD's publisher never waits for a slow subscriber). Unlimited
queues make the figure the subscriber's sustained throughput, and any event lost a real loss.
Payloads of about 300 bytes on the wire, no sleeps. Each publisher sends its first event once
it has seen the subscription (an XPUB notice; the bare one uses XPUB for that alone). Rates are
counted at the receiver, from the first to the last event received. Run from the repository root:

    python bench/bus_throughput.py [-n 200000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402
import zmq  # noqa: E402
import zmq.asyncio  # noqa: E402

from ocd.app.keys import create_bus_keys  # noqa: E402
from ocd.bus import BusOptions, Publisher, Subscriber, stamp  # noqa: E402
from ocd.bus.curve import BusSecurity, CurveKeys, bus_context  # noqa: E402
from ocd.bus.validation import main_loop_rules  # noqa: E402
from ocd.clock import RealClock  # noqa: E402
from ocd.core.topics import TcsTopics  # noqa: E402

TOPIC = "tcs.root.ra_dec"
#: The data of a TCS-like pointing event (OCD adds its envelope around it).
DATA = {"ra": 12.401733, "dec": 56.1464, "az": 123.4567, "alt": 55.055223, "pa": 12.3,
        "focus": 1.23, "status": "tracking", "i": 0}
#: How long the receiver waits for more before declaring the rest lost.
IDLE = 3.0


def bare_payload() -> dict:
    """The bare loop sends a payload of the same size and shape as OCD's (envelope
    included), made once."""
    return stamp(TOPIC, DATA, origin="bench@localhost:1", seq=1, clock=RealClock())


#: The JSON functions of the bare loops: (a) the standard library, (c) orjson.
CODECS = {"json": (lambda value: json.dumps(value).encode(), json.loads),
          "orjson": (orjson.dumps, orjson.loads)}


def _bare_publisher(queue: mp.Queue, count: int, options: BusOptions,
                    codec: str = "json") -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.XPUB)
    sock.sndhwm, sock.rcvhwm = options.send_hwm, options.receive_hwm
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    queue.put(f"tcp://127.0.0.1:{port}")
    sock.recv()  # the subscription notice
    payload, topic = bare_payload(), TOPIC.encode()
    dumps = CODECS[codec][0]
    start = time.perf_counter()
    for i in range(count):
        payload["i"] = i
        sock.send_multipart([topic, dumps(payload)])
    queue.put(count / (time.perf_counter() - start))
    sock.close(linger=-1)
    ctx.term()


def _security(keys: str | None) -> BusSecurity:
    return BusSecurity(CurveKeys.load(Path(keys))) if keys else BusSecurity()


def _ocd_publisher(queue: mp.Queue, count: int, options: BusOptions,
                   keys: str | None = None) -> None:
    async def main() -> None:
        security = _security(keys)
        ctx = bus_context(security)
        publisher = Publisher(ctx, "tcp://127.0.0.1:*", "bench", RealClock(), options=options,
                              security=security)
        queue.put(publisher.url)
        await publisher.wait_for_subscriber(TOPIC, 30)
        data = dict(DATA)
        start = time.perf_counter()
        for i in range(count):
            data["i"] = i
            await publisher.publish(TOPIC, data)
        queue.put(count / (time.perf_counter() - start))
        queue.put(publisher.stats.overflows)
        publisher._sock.close(linger=-1)  # deliver everything before the process ends
        ctx.term()

    asyncio.run(main())


def run_bare(count: int, options: BusOptions, codec: str = "json") -> dict:
    queue: mp.Queue = mp.get_context("spawn").Queue()
    child = mp.get_context("spawn").Process(target=_bare_publisher,
                                            args=(queue, count, options, codec))
    loads = CODECS[codec][1]
    child.start()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.sndhwm, sock.rcvhwm = options.send_hwm, options.receive_hwm
    sock.connect(queue.get(timeout=30))
    sock.subscribe(TOPIC.encode())
    sock.rcvtimeo = int(IDLE * 1000)
    received, first, last = 0, 0.0, 0.0
    try:
        while received < count:
            frames = sock.recv_multipart()
            payload = loads(frames[1])
            received += 1
            last = time.perf_counter()
            if received == 1:
                first = last
            if payload["i"] == count - 1:
                break
    except zmq.Again:
        pass
    sent_rate = queue.get(timeout=60)
    child.join()
    ctx.destroy(linger=0)
    return {"rate": (received - 1) / (last - first), "sent_rate": sent_rate,
            "lost": count - received, "bytes": len(json.dumps(bare_payload()))}


def run_ocd(count: int, options: BusOptions, keys: str | None = None) -> dict:
    queue: mp.Queue = mp.get_context("spawn").Queue()
    child = mp.get_context("spawn").Process(target=_ocd_publisher,
                                            args=(queue, count, options, keys))
    child.start()

    async def receive() -> dict:
        ctx = zmq.asyncio.Context()
        # "tcs." covers every topic of the publisher: a jump in its numbers is a loss, and the
        # subscriber counts it (with a filter on the topic alone it could not tell)
        subscriber = Subscriber(ctx, [queue.get(timeout=30)], ["tcs."], options=options,
                                rules=main_loop_rules(TcsTopics()), log_gaps=False,
                                security=_security(keys))
        received, first, last, size = 0, 0.0, 0.0, 0
        try:
            while received < count:
                # as ocd run reads: wait for an event, then take what is queued without waiting
                event = await subscriber.recv(timeout=IDLE)
                if received == 0:
                    first = time.perf_counter()
                    size = len(json.dumps(event.payload))
                while event is not None:
                    received += 1
                    if event.payload["i"] == count - 1:
                        break
                    event = subscriber.recv_nowait()
                last = time.perf_counter()
                if event is not None:
                    break
        except TimeoutError:
            pass
        stats = subscriber.stats
        subscriber.close()
        ctx.term()
        return {"rate": (received - 1) / (last - first), "lost": count - received,
                "gaps_lost": stats.lost, "malformed": stats.malformed, "bytes": size}

    result = asyncio.run(receive())
    result["sent_rate"] = queue.get(timeout=60)
    result["overflows"] = queue.get(timeout=60)
    child.join()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5, help="alternate (a) and (b) this often")
    args = parser.parse_args(argv)
    options = BusOptions(send_hwm=0, receive_hwm=0)
    print(f"{args.count} events per run over tcp loopback, send/receive HWM "
          f"{options.send_hwm}/{options.receive_hwm}, {args.runs} run(s) each; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    rates: dict[str, list[float]] = {"a": [], "c": [], "b": [], "d": []}
    lost = curve_lost = 0
    keys = tempfile.mkdtemp(prefix="ocd-bench-keys-")
    create_bus_keys(Path(keys) / "bus")
    for run in range(1, args.runs + 1):
        bare = run_bare(args.count, options, "json")
        fast = run_bare(args.count, options, "orjson")
        ocd = run_ocd(args.count, options)
        curve = run_ocd(args.count, options, str(Path(keys) / "bus"))
        for key, result in (("a", bare), ("c", fast), ("b", ocd), ("d", curve)):
            rates[key].append(result["rate"])
        lost += ocd["lost"] + ocd["malformed"]
        curve_lost += curve["lost"] + curve["malformed"]
        print(f"run {run}: (a) bare json {bare['rate']:8.0f} ev/s (sent {bare['sent_rate']:.0f}/s,"
              f" lost {bare['lost']}) | (c) bare orjson {fast['rate']:8.0f} ev/s (sent "
              f"{fast['sent_rate']:.0f}/s, lost {fast['lost']}) | (b) OCD {ocd['rate']:8.0f} ev/s "
              f"(sent {ocd['sent_rate']:.0f}/s, {ocd['bytes']} B, lost {ocd['lost']}, dropped "
              f"{ocd['malformed']}, gaps counted {ocd['gaps_lost']}, overflows "
              f"{ocd['overflows']}) | (d) CURVE {curve['rate']:8.0f} ev/s (sent "
              f"{curve['sent_rate']:.0f}/s, lost {curve['lost']}, dropped "
              f"{curve['malformed']}, gaps counted {curve['gaps_lost']}) | b/a "
              f"{ocd['rate'] / bare['rate']:.2f} b/c {ocd['rate'] / fast['rate']:.2f} d/b "
              f"{curve['rate'] / ocd['rate']:.2f}", flush=True)
    shutil.rmtree(keys, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    a, c, b, d = (statistics.median(rates[k]) for k in "acbd")
    ratio_a = statistics.median(x / y for x, y in zip(rates["b"], rates["a"], strict=True))
    ratio_c = statistics.median(x / y for x, y in zip(rates["b"], rates["c"], strict=True))
    ratio_d = statistics.median(x / y for x, y in zip(rates["d"], rates["b"], strict=True))
    print(f"median: (a) {a:.0f} ev/s, (c) {c:.0f} ev/s, (b) {b:.0f} ev/s, (d) {d:.0f} ev/s; "
          f"ratio b/a {ratio_a:.2f} (target >= 1.0), b/c {ratio_c:.2f} (target >= 0.8), "
          f"d/b {ratio_d:.2f} (target >= 0.7); OCD events lost or dropped in all runs: {lost}, "
          f"with CURVE: {curve_lost} (target 0)")
    return 0 if ratio_a >= 1.0 and ratio_c >= 0.8 and ratio_d >= 0.7 and lost == 0 \
        and curve_lost == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
