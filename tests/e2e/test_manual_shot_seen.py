"""A shot run by hand (``ocd run_shot -e``) is seen from its first event by the monitors that
were connected before it began: ``ocd listen`` prints its start and first ``setup_telescope``,
the board counts it running, then completed (in its snapshot and on a page in Chromium), and
``ocd record`` stores its first event. Real processes, at 1x and 60x, over ipc and tcp (the
PUB/SUB "slow joiner": a SUB needs a moment to connect to a publisher that just bound).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import sqlite3
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest
from browser_helpers import board_url, chromium
from e2e_helpers import EventTap, OcdProcess, night_config, short_tmpdir, topic_is, wait_until

pytestmark = pytest.mark.slow

BUS_SERVICES = ("event_urls", "ocd_main_loop", "ocd_run_shot", "ocd_allow_hetdex")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def over_tcp(config: Path) -> dict[str, list[str]]:
    """Move the bus addresses of ``config`` from ipc to free tcp ports; the new addresses."""
    text, urls = config.read_text(), {}
    for service in BUS_SERVICES:
        line = re.search(rf"^{service} = (.*)$", text, re.M)
        assert line is not None
        count = len(line.group(1).split(","))
        urls[service] = [f"tcp://127.0.0.1:{free_port()}" for _ in range(count)]
        text = text.replace(line.group(0), f"{service} = {', '.join(urls[service])}")
    config.write_text(text)
    return urls


def over_ipc(root: Path) -> dict[str, list[str]]:
    return {"ocd_main_loop": [f"ipc://{root}/main.ipc"],
            "ocd_run_shot": [f"ipc://{root}/shot0.ipc", f"ipc://{root}/shot1.ipc"]}




def snapshot(url: str) -> dict:
    with urllib.request.urlopen(url + "/api/snapshot", timeout=5) as response:
        return json.loads(response.read())


def board_state(url: str, shotid: str) -> str | None:
    """The state the board's shots table gives ``shotid`` (its newest row), or None."""
    rows = [row for row in snapshot(url)["completed"]["shots"] if row["shotid"] == shotid]
    return rows[-1]["state"] if rows else None


@pytest.mark.parametrize("transport", ["ipc", "tcp"])
@pytest.mark.parametrize("speed", [1, 60])
def test_a_manual_shot_is_seen_by_listen_and_board_from_its_first_event(transport, speed):
    root = short_tmpdir()
    # 60x: 60 s exposures last 1 s each; 1x: the shot is followed until its first setup
    config = night_config(root, speed=speed, exposure_time=60,
                          extra="\n[board]\nurl = http://127.0.0.1:0\n")
    urls = over_tcp(config) if transport == "tcp" else over_ipc(root)
    args = ("--config", str(config))
    sim = OcdProcess(("sim_tcs", *args), root, "sim_tcs")
    run = OcdProcess(("run", *args, "--yes"), root, "run")
    board = OcdProcess(("board", *args), root, "board")
    # -t shows the main loop's status (hidden by default): proof that listen is connected
    listen = OcdProcess(("listen", *args, "-t", "ocd.main_loop.status"), root, "listen")
    record = OcdProcess(("record", str(root / "night.db"), *args), root, "record")
    tap = EventTap(urls["ocd_main_loop"])
    processes = {"board": board, "listen": listen, "record": record, "run": run,
                 "sim_tcs": sim}
    manual: OcdProcess | None = None
    try:
        with chromium() as browser:
            from playwright.sync_api import expect

            tap.wait_for(topic_is("ocd.main_loop.status"), 60, what="first main loop status")
            # the monitors are up: listen printed the main loop's events, the board answers
            # and its page is live, the recorder stored the main loop's events
            wait_until(lambda: "ocd.main_loop.status" in listen.child.stdout(), 60,
                       "ocd listen output", listen.stderr)
            url = board_url(root / "board.out", 60)
            page = browser.new_page()
            page.goto(url + "/")
            expect(page.locator("#link")).to_have_text("live", timeout=30_000)
            wait_until(lambda: recorded(root / "night.db", "ocd.main_loop.status") > 0, 60,
                       "main loop status in the recording", record.stderr)
            manual = OcdProcess(("run_shot", "-e", "DEX00009", "--track", "W", *args,
                                 "--yes"), root, "run_shot")
            follow_the_shot(manual, listen, url, page, speed)
        # the recorder stored the shot from its first event (it writes in batches: waited for)
        wait_until(lambda: recorded(root / "night.db", "ocd.run_shot.run", exec_status=0) > 0,
                   30, "manual shot start in the recording",
                   lambda: record.stderr() + (manual.stderr() if manual else ""))
    finally:
        tap.close()
        if manual is not None:
            manual.stop()
        codes = {name: proc.stop() for name, proc in processes.items()}
        errors = {name: proc.stderr()[-2000:] for name, proc in processes.items()}
        started = recorded(root / "night.db", "ocd.run_shot.run", exec_status=0)
        shutil.rmtree(root, ignore_errors=True)
    assert codes == {"board": 0, "listen": 0, "record": 0, "run": 0, "sim_tcs": 0}, (
        codes, errors["record"])
    assert started == 1  # stored once


def recorded(path: Path, topic: str, exec_status: int | None = None) -> int:
    """How many events of ``topic`` (with that ``exec_status``) the recording at ``path``
    holds; 0 before the recorder created it."""
    if not path.exists():
        return 0
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        try:
            payloads = [json.loads(row[0]) for row in conn.execute(
                "SELECT payload FROM events WHERE topic = ?", (topic,))]
        except sqlite3.OperationalError:  # its table not made yet
            return 0
    return sum(1 for p in payloads if exec_status is None or p.get("exec_status") == exec_status)


def follow_the_shot(manual: OcdProcess, listen: OcdProcess, url: str, page: object,
                    speed: int) -> None:
    """The manual shot seen by ``ocd listen``, the board's snapshot and its page from its
    first event; at 60x until it completes (at 1x its slew is stopped)."""
    from playwright.sync_api import expect

    def printed() -> str:
        return listen.child.stdout()

    def listen_saw(step: str) -> bool:
        return any(f"ocd.run_shot.{step}" in line and "exec_status=0" in line
                   and "DEX00009" in line for line in printed().splitlines())

    wait_until(lambda: listen_saw("run") and listen_saw("setup_telescope"), 60,
               "manual shot start in ocd listen", lambda: printed()[-3000:]
               + manual.stderr())
    lines = [line for line in printed().splitlines() if "ocd.run_shot." in line]
    assert "ocd.run_shot.run" in lines[0], lines  # the very first event of the shot
    wait_until(lambda: board_state(url, "DEX00009") == "running", 30,
               "manual shot running on the board", lambda: json.dumps(snapshot(url)))
    expect(page.locator("#shot-id")).to_have_text("DEX00009", timeout=30_000)
    expect(page.locator("#shot-state")).to_have_text("running", timeout=30_000)
    if speed == 1:  # a real-time slew: stopped (SIGTERM aborts it at once)
        assert manual.stop(10) == 1
        return
    assert manual.popen.wait(120) == 0, manual.stderr()
    wait_until(lambda: board_state(url, "DEX00009") == "completed", 30,
               "manual shot completed on the board", lambda: json.dumps(snapshot(url)))
    expect(page.locator("#shot-state")).to_have_text("completed", timeout=30_000)
    expect(page.locator("#completed tbody tr", has_text="DEX00009")).to_contain_text(
        "completed", timeout=30_000)



def test_without_a_main_loop_listen_still_sees_the_manual_shot_start():
    """Nothing waits for a main loop here: the shot waits for the monitors alone."""
    root = short_tmpdir()
    config = night_config(root, speed=60, exposure_time=60)
    args = ("--config", str(config))
    sim = OcdProcess(("sim_tcs", *args), root, "sim_tcs")
    listen = OcdProcess(("listen", *args, "-t", "ocd.heartbeat.reply"), root, "listen")
    manual: OcdProcess | None = None
    try:
        manual = OcdProcess(("run_shot", "-e", "DEX00009", "--track", "W", *args, "--yes"),
                            root, "run_shot")
        assert manual.popen.wait(120) == 0, manual.stderr()
        wait_until(lambda: "ocd.run_shot.run" in listen.child.stdout(), 10,
                   "manual shot in ocd listen", listen.stderr)
        lines = [line for line in listen.child.stdout().splitlines()
                 if "ocd.run_shot." in line and "heartbeat" not in line]
        assert "ocd.run_shot.run" in lines[0] and "exec_status=0" in lines[0], lines
        assert "ocd.run_shot.setup_telescope" in lines[1] and "exec_status=0" in lines[1], lines
        assert "no ocd run on" in manual.stderr()
        assert "subscription(s) on" in manual.stderr()
    finally:
        if manual is not None:
            manual.stop()
        codes = {"listen": listen.stop(), "sim_tcs": sim.stop()}
        shutil.rmtree(root, ignore_errors=True)
    assert codes == {"listen": 0, "sim_tcs": 0}
