"""The board's memory over a whole night rehearsed at 60x, with pages open.

Runs ``ocd rehearse --board`` for a whole dark night (9 hours of OCD time from 03:00 UTC, nine
minutes of wall time at 60x), opens pages on the board in Chromium, and samples the resident
memory (RSS) of the board and of ``ocd run`` every few seconds. Memory is flat when what the
board holds after its warm-up (the first minute) no longer grows with the night: the tables it
keeps are bounded (log, metrology series thinned, publishers, topics).

The baseline, measured in the same run: a bare Python process that imports what the board
imports (aiohttp, pyzmq, numpy, astropy's parts OCD uses) and does nothing.

    python bench/board_memory.py [--duration 9h] [--pages 3] [--every 5]

Target: the board's RSS at the end within 10 % of its RSS after the warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ocd.dev.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from ocd.shell.children import child_env  # noqa: E402

BARE = ("import time, aiohttp.web, zmq.asyncio, numpy, ocd.app.board.server, ocd.sky.chart; "
        "print('ready', flush=True); time.sleep(3600)")


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def follow(args: argparse.Namespace) -> int:
    from playwright.async_api import async_playwright

    bare = subprocess.Popen([sys.executable, "-c", BARE], stdout=subprocess.PIPE, text=True,
                            env=child_env())
    assert bare.stdout is not None and bare.stdout.readline().strip() == "ready"
    bare_rss = rss_mib(bare.pid) or float("nan")
    bare.terminate()
    workdir = Path(tempfile.mkdtemp(prefix="ocd-bm-"))
    rehearse = subprocess.Popen(
        [sys.executable, "-m", "ocd", "rehearse", "--board", "--duration", args.duration,
         "--set", "board.url=http://127.0.0.1:0", "--keep", str(workdir / "night")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env())
    assert rehearse.stdout is not None
    pids: dict[str, int] = {}
    url = None
    loop = asyncio.get_running_loop()
    while url is None:
        line = await loop.run_in_executor(None, rehearse.stdout.readline)
        if not line:
            raise SystemExit("ocd rehearse ended before its board served")
        for name, pid in re.findall(r"started ocd (\w+) \(pid (\d+)\)", line):
            pids[name] = int(pid)
        found = re.search(r"the board of this night: (\S+)/", line)
        url = found.group(1) if found else None
    print(f"board on {url}, pids {pids}; bare process {bare_rss:.1f} MiB", flush=True)
    lines: list[str] = []
    reader = loop.run_in_executor(None, lambda: lines.extend(rehearse.stdout))  # type: ignore
    samples: list[tuple[float, float, float]] = []
    profile = tempfile.mkdtemp(prefix="ocd-bm-chromium-")
    start = time.monotonic()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch_persistent_context(
            profile, executable_path=args.chromium, args=CHROMIUM_ARGS, headless=True)
        for _ in range(args.pages):
            page = await browser.new_page()
            await page.goto(url + "/")
        while rehearse.poll() is None:
            board, run = rss_mib(pids["board"]), rss_mib(pids["run"])
            if board is None:
                break
            samples.append((time.monotonic() - start, board, run or float("nan")))
            if len(samples) % 12 == 1:
                print(f"  {samples[-1][0]:6.0f} s  board {board:6.1f} MiB  ocd run "
                      f"{samples[-1][2]:6.1f} MiB", flush=True)
            await asyncio.sleep(args.every)
        await browser.close()
    await reader
    code = rehearse.wait()
    warm = [s for s in samples if s[0] >= 60] or samples
    after_warmup, end = warm[0][1], statistics.median(s[1] for s in warm[-3:])
    peak = max(s[1] for s in samples)
    growth = 100 * (end - after_warmup) / after_warmup
    print("\n".join(line.rstrip() for line in lines if "shots completed" in line
                    or "rehearsal summary" in line or "events by topic" in line))
    print(f"board RSS: {after_warmup:.1f} MiB after the warm-up, {end:.1f} MiB at the end "
          f"({growth:+.1f} %), peak {peak:.1f} MiB; x{end / bare_rss:.2f} the bare process "
          f"({bare_rss:.1f} MiB); ocd run {warm[0][2]:.1f} -> {warm[-1][2]:.1f} MiB; "
          f"{len(samples)} samples over {samples[-1][0]:.0f} s; rehearsal exit {code}")
    verdict = "met" if abs(growth) <= 10 else "NOT met"
    print(f"target: end within 10 % of after the warm-up: {verdict}")
    return 0 if code == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="9h")
    parser.add_argument("--pages", type=int, default=3)
    parser.add_argument("--every", type=float, default=5.0)
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    return asyncio.run(follow(args))


if __name__ == "__main__":
    raise SystemExit(main())
