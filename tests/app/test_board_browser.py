"""``ocd board`` in a real browser, on a real night: ``ocd sim_tcs`` + ``ocd run`` + ``ocd board``
as subprocesses on a fast mock clock, the page driven by Debian's Chromium through Playwright.

What a user sees: a shot start, its exposures' progress and its completion; a signed-in allow
and abort acknowledged (and named in ``ocd run``'s log); a read-only page that cannot command;
a reload that shows the current state at once. Screenshots are saved in the test's temporary
directory.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from browser_helpers import board_url, chromium
from e2e_helpers import EventTap, OcdProcess, night_config, short_tmpdir, topic_is

from ocd.app.board.auth import hash_password

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PASSWORD = "correct horse battery"
#: ``[alarms] tcs_heartbeat_timeout`` of the night, in real seconds (the clock runs at 60x).
TCS_TIMEOUT = 2.0


@dataclass
class BoardNight:
    root: Path
    url: str
    run: OcdProcess
    tap: EventTap
    config: Path
    sim: OcdProcess
    tcs_killed: bool = False


@pytest.fixture
def board_night() -> Iterator[BoardNight]:
    root = short_tmpdir()
    users = f"alice:{hash_password(PASSWORD)}"
    # 60x with 300 s exposures: each exposure lasts 5 s of real time, the whole shot ~17 s
    # the TCS alarm after 2 min of OCD time without a heartbeat: 2 s at 60x
    config = night_config(root, speed=60, exposure_time=300,
                          extra=f"\n[board]\nurl = http://127.0.0.1:0\nusers = {users}\n"
                                f"\n[alarms]\ntcs_heartbeat_timeout = {TCS_TIMEOUT * 60:g}\n")
    sim = OcdProcess(("sim_tcs", "--config", str(config)), root, "sim_tcs")
    run = OcdProcess(("run", "--config", str(config), "--yes"), root, "run")
    board = OcdProcess(("board", "--config", str(config)), root, "board")
    tap = EventTap([f"ipc://{root}/{name}.ipc" for name in ("main", "shot0", "alarms")])
    night = None
    try:
        tap.wait_for(topic_is("ocd.main_loop.status"), 60, what="first main loop status")
        night = BoardNight(root, board_url(root / "board.out"), run, tap, config, sim)
        yield night
    finally:
        tap.close()
        codes = {name: proc.stop() for name, proc in
                 (("board", board), ("run", run), ("sim_tcs", sim))}
        errors = {name: proc.stderr()[-2000:] for name, proc in
                  (("board", board), ("run", run), ("sim_tcs", sim))}
        shutil.rmtree(root, ignore_errors=True)
        killed = night is not None and night.tcs_killed
        assert codes == {"board": 0, "run": 0, "sim_tcs": -9 if killed else 0}, (codes, errors)


def sign_in(page, user: str = "alice", password: str = PASSWORD) -> None:
    from playwright.sync_api import expect

    page.click("#signin-button")
    page.fill("#login-user", user)
    page.fill("#login-password", password)
    page.click("#login-submit")
    expect(page.locator("#user")).to_have_text(f"signed in as {user}")


def command(page, name: str) -> str:
    """Click a command, confirm it, return the acknowledgement line shown."""
    from playwright.sync_api import expect

    page.click(f"#cmd-{name}")
    expect(page.locator("#confirm")).to_be_visible()
    page.click("#confirm-yes")
    result = page.locator("#cmd-result")
    expect(result).to_contain_text("acknowledged by", timeout=30_000)
    return result.inner_text()


def see_the_cockpit(page) -> None:
    """The header shows HET's local time beside UTC (the same instant), the Sun, the
    countdown to dawn (03:00 UTC is dark), the Moon and where observation numbers come from;
    the Next panel the shots the code of ``ocd plan`` expects."""
    from playwright.sync_api import expect

    expect(page.locator("#clock-het")).to_have_text(
        re.compile(r"^\d\d:\d\d:\d\d C[SD]T at HET$"), timeout=20_000)
    utc, local = page.evaluate("""() => [document.getElementById('clock-utc').textContent,
        document.getElementById('clock-het').textContent]""")
    utc_time = re.search(r"(\d\d):(\d\d):\d\d UTC", utc)
    offset = 6 if "CST" in local else 5
    # both are written from one reading of the clock, and read here in one go
    assert ((int(utc_time[1]) - offset) % 24, utc_time[2]) == (int(local[:2]), local[3:5]), \
        (utc, local)
    expect(page.locator("#sun")).to_have_text(re.compile(r"^Sun -\d+\.\d°$"), timeout=60_000)
    expect(page.locator("#countdown")).to_have_text(
        re.compile(r"^dark · dawn \(Sun -18°\) in \d+h\d\d$"))
    expect(page.locator("#moon")).to_have_text(re.compile(r"^Moon (down|\d+° up), \d+ % lit$"))
    expect(page.locator("#obsnum-source")).to_contain_text("observation numbers: ")
    expect(page.locator("#next tbody tr").first).to_contain_text(re.compile(r"DEX\d{5}"),
                                                                  timeout=60_000)
    header = page.locator("#completed thead th").first.bounding_box()
    assert header["height"] < 2 * 16, header  # one line: headers do not wrap


def test_a_night_on_the_board(board_night: BoardNight, tmp_path: Path) -> None:
    night = board_night
    # the alarm watcher of this night, from now until the test ends
    watch = OcdProcess(("alarms", "watch", "--config", str(night.config)), night.root, "alarms")
    try:
        a_night_on_the_board(night, tmp_path)
    finally:
        code = watch.stop()
    assert code == 0, watch.stderr()[-2000:]


def a_night_on_the_board(night: BoardNight, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with chromium() as browser:
        watcher = browser.new_page()  # read-only: nobody signed in here
        watcher.goto(night.url + "/")
        expect(watcher.locator("#link")).to_have_text("live")
        expect(watcher.locator("#tcs-state")).to_have_text("alive", timeout=20_000)
        expect(watcher.locator("#hetdex-state")).to_have_text("not allowed")
        expect(watcher.locator("#cmd-allow")).to_be_disabled()
        expect(watcher.locator("#sky-chart circle.shot")).not_to_have_count(0, timeout=20_000)
        see_the_cockpit(watcher)

        # a read-only page cannot command, even by calling the API itself
        forged = watcher.evaluate("""async () => {
            const r = await fetch('/api/command', {method: 'POST',
                headers: {'Content-Type': 'application/json'}, body: '{"command": "allow"}'});
            return r.status; }""")
        assert forged == 401

        operator = browser.new_page()
        operator.goto(night.url + "/")
        sign_in(operator)
        operator.click("#sound-button")  # the one click a browser needs before any sound
        expect(operator.locator("#sound-button")).to_have_text("sound on")
        expect(operator.locator("#cmd-allow")).to_be_enabled()
        ack = command(operator, "allow")
        assert "HETDEX shots allowed by board:alice" in ack and "✓" in ack
        # everyone sees it: the state, and who allowed
        expect(watcher.locator("#hetdex-state")).to_have_text("allowed", timeout=10_000)
        expect(watcher.locator("#hetdex-by")).to_contain_text("board:alice")

        # a shot starts, its exposures progress, it completes
        expect(watcher.locator("#shot-state")).to_have_text("running", timeout=60_000)
        shotid = watcher.locator("#shot-id").inner_text()
        assert shotid.startswith("DEX")
        expect(watcher.locator("#shot-exposure")).to_contain_text("exposure 1 of 3",
                                                                  timeout=30_000)
        progress = watcher.locator("#shot-progress")
        expect(watcher.locator("#shot-left")).to_contain_text("left", timeout=30_000)
        first = progress.evaluate("p => p.value")
        expect(watcher.locator("#shot-exposure")).to_contain_text("exposure 2 of 3",
                                                                  timeout=30_000)
        later = progress.evaluate("p => p.value")
        assert later > first
        watcher.screenshot(path=str(tmp_path / "board-exposing.png"), full_page=True)
        observation = night.tap.wait_for(topic_is("ocd.run_shot.run", exec_status=1,
                                                  shotid=shotid, error=False), 90,
                                         what="the shot's successful finish")[1]
        # its row, found by its observation number (the shot may be observed again meanwhile,
        # and the newest row comes first)
        number = re.compile(rf"^{observation.payload['observation']}$")
        row = watcher.locator("#completed tbody tr", has_text=shotid).filter(
            has=watcher.locator("td:nth-child(3)", has_text=number))
        expect(row).to_contain_text("completed", timeout=60_000)
        expect(watcher.locator("#log")).to_contain_text("ocd.run_shot.run")
        expect(watcher.locator("#metrology-plot polyline")).not_to_have_count(0)

        # the next shot: forbid the next ones, then abort it from the board (an abort is no
        # failure: without the stop, the next shot would start at once)
        expect(watcher.locator("#shot-state")).to_have_text("running", timeout=60_000)
        ack = command(operator, "stop")
        assert "HETDEX shots forbidden by board:alice" in ack
        expect(watcher.locator("#hetdex-state")).to_have_text("not allowed", timeout=10_000)
        ack = command(operator, "abort")
        assert "aborting shot" in ack and "by board:alice" in ack
        expect(watcher.locator("#shot-state")).to_have_text("aborted", timeout=30_000)

        # a reload shows the current state at once (a snapshot, then the stream)
        watcher.reload()
        expect(watcher.locator("#hetdex-state")).to_have_text("not allowed", timeout=5_000)
        expect(watcher.locator("#shot-state")).to_have_text("aborted", timeout=5_000)
        expect(row).to_contain_text("completed")
        expect(watcher.locator("#log")).to_contain_text("board:alice")
        the_tcs_alarm_on_the_board(night, watcher, operator)
        operator.screenshot(path=str(tmp_path / "board-operator.png"), full_page=True)

    assert (tmp_path / "board-exposing.png").stat().st_size > 10_000
    log = night.run.stderr()
    # the window of ocd run narrates each command with its sender and the answer
    assert "allow_hetdex start from board:alice via ocd_board@" in log
    assert "HETDEX shots allowed by board:alice" in log
    assert "abort from board:alice via ocd_board@" in log
    assert ": aborting shot " in log
    # the acknowledgements on the bus name the user too
    acks = [e.payload for e in night.tap.events if e.topic == "ocd.main_loop.ack"]
    assert any("by board:alice" in a["message"] for a in acks), json.dumps(acks)


def the_tcs_alarm_on_the_board(night: BoardNight, watcher, operator) -> None:
    """Kill the TCS simulator: the TCS alarm is on the bus within two heartbeat timeouts,
    then in every page's alarm bar (the operator's, whose sound is on, beeps; the other, never
    clicked, stays silent); the operator acknowledges it from the page, and the watcher's
    ``ocd.alarm.acknowledged`` names the user."""
    from playwright.sync_api import expect

    tcs = EventTap([f"ipc://{night.root}/tcs.ipc"])
    try:
        tcs.wait_for(topic_is("tcs.receiver.heartbeat"), 30, what="a TCS heartbeat")
        start = len(night.tap.events)
        beeps = int(operator.locator("#sound-button").get_attribute("data-beeps"))
        night.sim.popen.send_signal(signal.SIGKILL)
        night.sim.popen.wait(10)
        night.tcs_killed = True
        tcs.drain()  # every heartbeat it sent
        last_beat = max(e.payload["__wire_time"] for e in tcs.events
                        if e.topic == "tcs.receiver.heartbeat")
    finally:
        tcs.close()
    _, raised = night.tap.wait_for(topic_is("ocd.alarm.raised", alarm="tcs_heartbeat"),
                                   timeout=30, start=start, what="the TCS alarm")
    assert raised.payload["severity"] == "critical"
    assert raised.payload["__wire_time"] - last_beat <= 2 * TCS_TIMEOUT, \
        raised.payload["__wire_time"] - last_beat

    for page in (watcher, operator):
        expect(page.locator("#alarm-bar")).to_have_class(re.compile(r"\bcritical\b"),
                                                          timeout=10_000)
        expect(page.locator("#alarm-newest")).to_contain_text("tcs_heartbeat: no TCS heartbeat")
    expect(operator.locator("#sound-button")).not_to_have_attribute("data-beeps", str(beeps))
    expect(watcher.locator("#sound-button")).to_have_attribute("data-beeps", "0")

    operator.click('#alarm-list button.alarm-ack[data-alarm="tcs_heartbeat"]')
    expect(operator.locator("#alarm-result")).to_contain_text(
        "alarm tcs_heartbeat acknowledged by board:alice", timeout=30_000)
    _, acked = night.tap.wait_for(topic_is("ocd.alarm.acknowledged", alarm="tcs_heartbeat"),
                                  timeout=30, start=start, what="the acknowledgement")
    assert acked.payload["by"] == "board:alice" and acked.payload["state"] == "acknowledged"
    # everyone sees who: in the bar's row and in tonight's history, at the page's times
    row = watcher.locator('#alarm-list .alarm-row[data-alarm="tcs_heartbeat"]')
    expect(row).to_contain_text("acknowledged by board:alice", timeout=10_000)
    history = watcher.locator("#alarm-history tbody tr", has_text="tcs_heartbeat")
    expect(history.filter(has_text="acknowledged")).to_contain_text("by board:alice")
    expect(history.filter(has_text="raised").first.locator("td").first).to_have_text(
        re.compile(r"^\d\d:\d\d:\d\d$"))
    # and mutes it for 30 min (OCD time), recorded the same way
    operator.click('#alarm-list button.alarm-mute[data-alarm="tcs_heartbeat"]')
    expect(operator.locator("#alarm-result")).to_contain_text(
        "alarm tcs_heartbeat muted for 30 min by board:alice", timeout=30_000)
    _, muted = night.tap.wait_for(topic_is("ocd.alarm.muted", alarm="tcs_heartbeat"),
                                  timeout=30, start=start, what="the mute")
    assert muted.payload["by"] == "board:alice"
    assert muted.payload["muted_until"] > raised.payload["since"] + 29 * 60
    expect(row).to_contain_text("muted by board:alice until", timeout=10_000)


def test_the_page_works_without_any_other_site(board_night: BoardNight) -> None:
    """Every request the page makes goes to the board itself: no CDN, no font service."""
    from playwright.sync_api import expect

    with chromium() as browser:
        page = browser.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        failed: list[str] = []
        page.on("requestfailed", lambda request: failed.append(request.url))
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(board_night.url + "/")
        expect(page.locator("#link")).to_have_text("live")
        expect(page.locator("#tcs-state")).to_have_text("alive", timeout=20_000)
    assert requested and all(url.startswith(board_night.url) or url.startswith(
        board_night.url.replace("http", "ws")) for url in requested), requested
    assert failed == [] and errors == []


class AnonymousCrowd:
    """``count`` anonymous WebSockets to the board, opened and read in a thread of their own
    (its own event loop), from ``addresses`` in turn, kept open until :meth:`close`."""

    def __init__(self, url: str, count: int, addresses: list[str]) -> None:
        self.url, self.count, self.addresses = url.replace("http", "ws") + "/ws", count, addresses
        self.admitted = 0
        self.refused = 0
        self.ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),),
                                        daemon=True)
        self._thread.start()

    async def _page(self, http: aiohttp.ClientSession) -> None:
        ws = await http.ws_connect(self.url)
        first = await ws.receive(timeout=30)
        if first.type == aiohttp.WSMsgType.TEXT:
            self.admitted += 1
        else:
            self.refused += 1
        async for _ in ws:  # read on, as a page would, until the board or the test closes it
            pass

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(
            limit=0, local_addr=(address, 0))) for address in self.addresses]
        pages = [asyncio.ensure_future(self._page(sessions[n % len(sessions)]))
                 for n in range(self.count)]
        try:
            while self.admitted + self.refused < self.count and not all(p.done() for p in pages):
                await asyncio.sleep(0.05)
            self.ready.set()
            await self._stop.wait()
        finally:
            for page in pages:
                page.cancel()
            await asyncio.gather(*pages, return_exceptions=True)
            for http in sessions:
                await http.close()
            self.ready.set()

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self._loop.close()


def test_a_signed_in_page_works_while_a_hundred_anonymous_sockets_are_open(
        board_night: BoardNight) -> None:
    """Issue 24's attack: 100 anonymous WebSockets from five addresses take every anonymous
    place; the observer's page, refused while anonymous, gets in once signed in, stays live,
    and commands."""
    from playwright.sync_api import expect

    night = board_night
    crowd = AnonymousCrowd(night.url, 100, [f"127.0.1.{n}" for n in range(1, 6)])
    try:
        assert crowd.ready.wait(60), "the anonymous sockets did not all get an answer"
        assert (crowd.admitted, crowd.refused) == (80, 20)  # every anonymous place taken
        with chromium() as browser:
            operator = browser.new_page()
            operator.goto(night.url + "/")
            sign_in(operator)
            # once signed in, its stream gets in past the crowd and shows the night
            expect(operator.locator("#link")).to_have_text("live", timeout=20_000)
            expect(operator.locator("#tcs-state")).to_have_text("alive", timeout=20_000)
            ack = command(operator, "allow")
            assert "HETDEX shots allowed by board:alice" in ack
            # the answer came on the page's stream, pushed by the board
            expect(operator.locator("#hetdex-state")).to_have_text("allowed", timeout=10_000)
            expect(operator.locator("#hetdex-by")).to_contain_text("board:alice")
            expect(operator.locator("#link")).to_have_text("live")
    finally:
        crowd.close()
