"""From an event published on the bus to its value visible in the page, for 10 pages open in
one Chromium, while the bus carries the event rate of a 60x rehearsal; and the board's CPU.

A real ``ocd board`` process follows ipc addresses this script publishes on. The load is what
the board's bus panel shows during a 60x ``ocd sim_tcs`` rehearsal: TCS heartbeats, pointing
and ``ocd.main_loop.status`` 20 a second each, ``ocd.states.state`` 100 a second, both
guiders' metrology 5 a second each (170 events a second), and the alarm watcher's: its list
every second and an alarm raised, acknowledged and cleared in turn, one change a second (a
busy night's worth: each redraws every page's alarm bar). Twice a second a marker, an
``ocd.main_loop.decision`` whose reason names its number, is published; a MutationObserver in
each page notes when the marker's text appears in ``#decision-last``. Latency: the page's
wall clock minus the publisher's (one machine, one clock).

The baseline, measured in the same run with the same load and pages: a bare relay (aiohttp and
a ZeroMQ SUB, ~30 lines) that decodes every event and sends each decision's reason as it is to
every page, whose script sets it as the text of one element. No model, no pacing, no panels.

    python bench/board_latency.py [--runs 3] [--seconds 60] [--pages 10]

Targets: p50 <= 100 ms, p99 <= 300 ms, the board <= 15 % of one core. Needs Chromium
(/usr/bin/chromium) and Playwright for Python.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zmq.asyncio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ocd.bus import Publisher  # noqa: E402
from ocd.clock import RealClock  # noqa: E402
from ocd.core import topics  # noqa: E402
from ocd.dev.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from ocd.shell.children import child_env  # noqa: E402

RELAY = r"""
import asyncio, json, sys, zmq, zmq.asyncio
from aiohttp import web
PAGE = ('<!DOCTYPE html><div id="decision-last">-</div><script>'
        'const ws = new WebSocket("ws://" + location.host + "/ws");'
        'ws.onmessage = (e) => { document.getElementById("decision-last").textContent = e.data; };'
        '</script>')
pages = set()
async def index(request):
    return web.Response(text=PAGE, content_type="text/html")
async def socket(request):
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    pages.add(ws)
    async for _ in ws:
        pass
    pages.discard(ws)
    return ws
async def relay():
    sub = zmq.asyncio.Context().socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    for url in sys.argv[1:]:
        sub.connect(url)
    while True:
        topic, payload = await sub.recv_multipart()
        data = json.loads(payload)
        if topic == b"ocd.main_loop.decision":
            for ws in list(pages):
                await ws.send_str(data["reason"])
async def main():
    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/ws", socket)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"relay http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", flush=True)
    await relay()
asyncio.run(main())
"""

#: Notes the time each marker's text first appears in #decision-last (page clock, ms).
OBSERVER = """
window.__seen = {};
document.addEventListener("DOMContentLoaded", () => {
  const target = document.getElementById("decision-last");
  new MutationObserver(() => {
    const match = /bench-(\\d+)/.exec(target.textContent);
    if (match && !(match[1] in window.__seen))
      window.__seen[match[1]] = performance.timeOrigin + performance.now();
  }).observe(target, {childList: true, characterData: true, subtree: true});
});
"""

#: (topic, events per second) of a 60x rehearsal, as the board's bus panel shows it.
LOAD = [(topics.TCS_HEARTBEAT, 20), (topics.TCS_RA_DEC, 20), (topics.MAIN_STATUS, 20),
        (topics.STATES_STATE, 100), (topics.GUIDER_METROLOGY[0], 5),
        (topics.GUIDER_METROLOGY[1], 5)]
MARKERS_PER_SECOND = 2
#: The alarm watcher's events: one change and one list a second.
ALARMS_PER_SECOND = 2
#: The changes, in turn (an urgent alarm, so a page whose sound is on would beep).
ALARM_CYCLE = [(topics.ALARM_RAISED, "raised", None), (topics.ALARM_ACKNOWLEDGED,
               "acknowledged", "board:bench"), (topics.ALARM_CLEARED, "normal", None)]


def alarm_events(count: int) -> list[tuple[str, dict[str, object]]]:
    """The alarm watcher's ``count``-th change and its list after it."""
    topic, state, by = ALARM_CYCLE[count % len(ALARM_CYCLE)]
    alarm = {"alarm": "no_shot", "state": state, "summary": "no shot", "severity": "serious",
             "reason": f"no shot for {30 + count} min (limit 30 min)", "since": time.time(),
             "by": by, "muted_until": None}
    listed = [] if state == "normal" else [alarm]
    return [(topic, {**alarm, "escalated": False, "times": 1} if state == "raised" else alarm),
            (topics.ALARM_LIST, {"alarms": listed})]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_for_line(path: Path, pattern: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, path.read_text() if path.exists() else "")
        if match:
            return match.group(1)
        time.sleep(0.05)
    raise SystemExit(f"no line matching {pattern!r} in {path} within {timeout:g} s")


def write_config(root: Path) -> Path:
    ipc = f"ipc://{root}"
    config = root / "ocd.cfg"
    config.write_text(f"""
[urls]
event_urls = {ipc}/tcs.ipc
ocd_main_loop = {ipc}/main.ipc
ocd_run_shot = {ipc}/shot.ipc
ocd_allow_hetdex = {ipc}/allow0.ipc, {ipc}/allow1.ipc
ocd_alarms = {ipc}/alarms.ipc
[board]
url = http://127.0.0.1:0
[shots]
shot_file = {root}/shots.dat
""")
    shutil.copyfile(ROOT / "ocd" / "static" / "samples" / "shots.dat", root / "shots.dat")
    return config


async def publish_load(main: Publisher, tcs: Publisher, alarms: Publisher, seconds: float,
                       sent: dict[int, float]) -> None:
    """The load, in 10 ms steps, with a marker every 1/MARKERS_PER_SECOND s at a jittered
    phase (``sent`` gets each marker's publication time), and the alarm watcher's events."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    step = 0.01
    owed = {topic: 0.0 for topic, _ in LOAD}
    marker = 0
    next_marker = start + 0.37
    changes = 0
    next_alarm = start + 0.61
    while loop.time() - start < seconds:
        if loop.time() >= next_alarm:
            for topic, data in alarm_events(changes):
                alarms.publish_nowait(topic, data)
            changes += 1
            next_alarm += 2.0 / ALARMS_PER_SECOND
        for topic, rate in LOAD:
            owed[topic] += rate * step
            publisher = tcs if not topic.startswith("ocd.") else main
            while owed[topic] >= 1:
                owed[topic] -= 1
                data = ({"seeing": 1.2, "transparency": 0.9} if "metrology" in topic else
                        {"ra": 3.5, "dec": 51.0, "tracking": True} if "ra_dec" in topic else
                        {"machine_name": "tcs", "state": "alive"} if "states" in topic else
                        {"states": {"tcs": "alive"}, "waiting": [], "pending": None,
                         "running_shot": None, "seeing": 1.2, "transparency": 0.9,
                         "pointing": None} if "status" in topic else {"status": "ok"})
                publisher.publish_nowait(topic, data)
        if loop.time() >= next_marker:
            marker += 1
            sent[marker] = time.time()
            main.publish_nowait(topics.MAIN_DECISION, {
                "shotid": "DEX00009", "track": "W", "scheduler": "builtin", "started": True,
                "reason": f"bench-{marker}"})
            next_marker += 1.0 / MARKERS_PER_SECOND
        await asyncio.sleep(step)


async def measure(url: str, pid: int, root: Path, args: argparse.Namespace,
                  ready_selector: str) -> dict[str, float]:
    from playwright.async_api import async_playwright

    ctx = zmq.asyncio.Context()
    main = Publisher(ctx, f"ipc://{root}/main.ipc", "ocd_main_loop", RealClock())
    tcs = Publisher(ctx, f"ipc://{root}/tcs.ipc", "tcs", RealClock())
    alarms = Publisher(ctx, f"ipc://{root}/alarms.ipc", "ocd_alarms", RealClock())
    try:
        await main.wait_for_subscriber(topics.MAIN_DECISION, 20)
        await tcs.wait_for_subscriber(topics.TCS_HEARTBEAT, 20)
        await alarms.wait_for_subscriber(topics.ALARM_RAISED, 20)
        profile = tempfile.mkdtemp(prefix="ocd-bench-chromium-")
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch_persistent_context(
                profile, executable_path=args.chromium, args=CHROMIUM_ARGS, headless=True)
            pages = []
            for _ in range(args.pages):
                page = await browser.new_page()
                await page.add_init_script(OBSERVER)
                await page.goto(url + "/")
                await page.wait_for_selector(ready_selector)
                pages.append(page)
            await asyncio.sleep(1.0)  # pages settled: snapshot taken
            sent: dict[int, float] = {}
            cpu0, wall0 = cpu_seconds(pid), time.monotonic()
            await publish_load(main, tcs, alarms, args.seconds, sent)
            await asyncio.sleep(1.0)  # the last markers arrive
            cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0)
            # the alarm history the board's pages drew (the relay's page has none): the
            # alarms flowed
            history = await pages[0].evaluate(
                "document.querySelectorAll('#alarm-history tbody tr').length")
            latencies: list[float] = []
            missing = 0
            for page in pages:
                seen = await page.evaluate("window.__seen")
                for marker, when in sent.items():
                    if str(marker) in seen:
                        latencies.append(seen[str(marker)] / 1000 - when)
                    else:
                        missing += 1
            await browser.close()
        shutil.rmtree(profile, ignore_errors=True)
    finally:
        main.close()
        tcs.close()
        alarms.close()
        ctx.term()
    latencies.sort()
    return {"p50": 1000 * statistics.median(latencies),
            "p99": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
            "cpu": 100 * cpu, "samples": len(latencies), "missing": missing,
            "rss": rss_mib(pid), "history": history}


def one_run(args: argparse.Namespace) -> tuple[dict[str, float], dict[str, float]]:
    root = Path(tempfile.mkdtemp(prefix="ocd-bl-"))
    config = write_config(root)
    board = subprocess.Popen([sys.executable, "-m", "ocd", "board", "--config", str(config)],
                             stdout=(root / "board.out").open("w"),
                             stderr=(root / "board.err").open("w"), env=child_env(), cwd=root)
    relay = subprocess.Popen([sys.executable, "-c", RELAY,
                              *(f"ipc://{root}/{name}.ipc" for name in ("main", "tcs", "alarms"))],
                             stdout=(root / "relay.out").open("w"),
                             stderr=(root / "relay.err").open("w"), env=child_env())
    try:
        board_url = wait_for_line(root / "board.out", r"the night on (http://\S+)/")
        relay_url = wait_for_line(root / "relay.out", r"relay (http://\S+)")
        bare = asyncio.run(measure(relay_url, relay.pid, root, args, "#decision-last"))
        measured = asyncio.run(measure(board_url, board.pid, root, args, "#link.on"))
    finally:
        for process in (board, relay):
            process.terminate()
            process.wait(10)
        shutil.rmtree(root, ignore_errors=True)
    return measured, bare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args(argv)
    rate = sum(r for _, r in LOAD) + MARKERS_PER_SECOND + ALARMS_PER_SECOND
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {args.pages} pages, "
          f"{rate} events/s for {args.seconds:g} s per run")
    results = []
    for run in range(1, args.runs + 1):
        board, bare = one_run(args)
        results.append((board, bare))
        print(f"run {run}: board p50 {board['p50']:.1f} ms, p99 {board['p99']:.1f} ms, CPU "
              f"{board['cpu']:.1f} % of a core, RSS {board['rss']:.0f} MiB "
              f"({board['samples']} samples, {board['missing']} missing, "
              f"{board['history']} alarm events drawn) | bare relay p50 "
              f"{bare['p50']:.1f} ms, p99 {bare['p99']:.1f} ms, CPU {bare['cpu']:.1f} %",
              flush=True)

    def median(which: int, key: str) -> float:
        return statistics.median(r[which][key] for r in results)

    p50, p99, cpu = median(0, "p50"), median(0, "p99"), median(0, "cpu")
    b50, b99, bcpu = median(1, "p50"), median(1, "p99"), median(1, "cpu")
    print(f"median of {args.runs}: board p50 {p50:.1f} ms (x{p50 / b50:.1f} the bare relay's "
          f"{b50:.1f}), p99 {p99:.1f} ms (x{p99 / b99:.1f} of {b99:.1f}), CPU {cpu:.1f} % of a "
          f"core (x{cpu / bcpu:.1f} of {bcpu:.1f} %)")
    met = p50 <= 100 and p99 <= 300 and cpu <= 15
    print(f"targets p50 <= 100 ms, p99 <= 300 ms, CPU <= 15 %: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
