"""Throughput of OCD's event bus against bare pyzmq, measured in the same run.

(a) bare: a pyzmq publisher in a child process sends N ``json.dumps`` payloads as fast as it
    can; a SUB socket in this process receives them and ``json.loads`` each one.
(b) OCD: an ``ocd.bus.Publisher`` in a child process publishes the same data (stamping the
    envelope, encoding); an ``ocd.bus.Subscriber`` here receives them (decoding, sequence
    tracking), under asyncio.

Both over tcp loopback with the same high-water marks (the ``[bus]`` defaults), payloads of
about 300 bytes on the wire, no sleeps. Each publisher sends its first event once it has seen
the subscription (an XPUB notice; the bare one uses XPUB for that alone). Rates are counted at
the receiver, from the first to the last event received. Run from the repository root:

    python bench/bus_throughput.py [-n 200000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import zmq  # noqa: E402
import zmq.asyncio  # noqa: E402

from ocd.bus import BusOptions, Publisher, Subscriber, stamp  # noqa: E402
from ocd.clock import RealClock  # noqa: E402

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


def _bare_publisher(queue: mp.Queue, count: int, options: BusOptions) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.XPUB)
    sock.sndhwm, sock.rcvhwm = options.send_hwm, options.receive_hwm
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    queue.put(f"tcp://127.0.0.1:{port}")
    sock.recv()  # the subscription notice
    payload, topic = bare_payload(), TOPIC.encode()
    start = time.perf_counter()
    for i in range(count):
        payload["i"] = i
        sock.send_multipart([topic, json.dumps(payload).encode()])
    queue.put(count / (time.perf_counter() - start))
    sock.close(linger=-1)
    ctx.term()


def _ocd_publisher(queue: mp.Queue, count: int, options: BusOptions) -> None:
    async def main() -> None:
        ctx = zmq.asyncio.Context()
        publisher = Publisher(ctx, "tcp://127.0.0.1:*", "bench", RealClock(), options=options)
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


def run_bare(count: int, options: BusOptions) -> dict:
    queue: mp.Queue = mp.get_context("spawn").Queue()
    child = mp.get_context("spawn").Process(target=_bare_publisher, args=(queue, count, options))
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
            payload = json.loads(frames[1])
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


def run_ocd(count: int, options: BusOptions) -> dict:
    queue: mp.Queue = mp.get_context("spawn").Queue()
    child = mp.get_context("spawn").Process(target=_ocd_publisher, args=(queue, count, options))
    child.start()

    async def receive() -> dict:
        ctx = zmq.asyncio.Context()
        subscriber = Subscriber(ctx, [queue.get(timeout=30)], [TOPIC], options=options)
        received, first, last, size = 0, 0.0, 0.0, 0
        try:
            while received < count:
                event = await subscriber.recv(timeout=IDLE)
                received += 1
                last = time.perf_counter()
                if received == 1:
                    first = last
                    size = len(json.dumps(event.payload))
                if event.payload["i"] == count - 1:
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
    options = BusOptions()
    print(f"{args.count} events per run over tcp loopback, send/receive HWM "
          f"{options.send_hwm}/{options.receive_hwm}, {args.runs} run(s) each; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    ratios, bare_rates, ocd_rates, lost = [], [], [], 0
    for run in range(1, args.runs + 1):
        bare = run_bare(args.count, options)
        ocd = run_ocd(args.count, options)
        ratio = ocd["rate"] / bare["rate"]
        ratios.append(ratio)
        bare_rates.append(bare["rate"])
        ocd_rates.append(ocd["rate"])
        lost += ocd["lost"]
        print(f"run {run}: (a) bare {bare['rate']:9.0f} ev/s received (sent "
              f"{bare['sent_rate']:.0f}/s, {bare['bytes']} B, lost {bare['lost']}) | "
              f"(b) OCD {ocd['rate']:9.0f} ev/s received (sent {ocd['sent_rate']:.0f}/s, "
              f"{ocd['bytes']} B, lost {ocd['lost']}, gaps counted {ocd['gaps_lost']}, "
              f"overflows {ocd['overflows']}) | b/a {ratio:.2f}")
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    print(f"median: (a) {statistics.median(bare_rates):.0f} ev/s, (b) "
          f"{statistics.median(ocd_rates):.0f} ev/s, ratio b/a {statistics.median(ratios):.2f}"
          f" (target >= 0.7); OCD events lost in all runs: {lost} (target 0)")
    return 0 if statistics.median(ratios) >= 0.7 and lost == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
