"""``ocd board``'s server on real sockets: the board runs in the test's event loop, events come
from a real publisher over ipc, pages are real HTTP and WebSocket clients on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import zmq.asyncio

from ocd.app.board import Board, auth, server
from ocd.app.board.auth import hash_password
from ocd.app.board.cockpit import COCKPIT_PANELS
from ocd.app.board.hub import MAX_QUEUED_DELTAS
from ocd.app.board.options import board_options
from ocd.app.listener import make_plan
from ocd.bus import Publisher, Subscriber
from ocd.clock import RealClock
from ocd.config import load_config
from ocd.core import topics
from ocd.errors import OcdError
from ocd.monitor.night import PANELS as NIGHT_PANELS

#: Every panel of the page: the night's, then the cockpit's.
PANELS = NIGHT_PANELS + COCKPIT_PANELS

PASSWORD = "correct horse battery"
ENTRY = f"alice:{hash_password(PASSWORD)}"


@dataclass
class Served:
    board: Board
    url: str
    main: Publisher  # publishes as the main loop would
    tcs: Publisher   # publishes as the TCS would


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    ipc = f"ipc://{tmp_path}"
    cfg = load_config(overrides=[
        ("urls", "event_urls", f"{ipc}/tcs.ipc"), ("urls", "ocd_main_loop", f"{ipc}/main.ipc"),
        ("urls", "ocd_run_shot", f"{ipc}/shot.ipc"),
        ("urls", "ocd_allow_hetdex", f"{ipc}/allow0.ipc, {ipc}/allow1.ipc"),
        ("urls", "ocd_alarms", f"{ipc}/alarms.ipc"),
        ("board", "url", "http://127.0.0.1:0"), ("board", "users", ENTRY),
        ("board", "command_timeout", "1"), ("board", "max_panel_rate", "4"),
        ("shots", "shot_file", str(tmp_path / "none.dat")), ("bus", "linger", "0")])
    board = Board(cfg, board_options(cfg), make_plan(cfg, tcs=True), RealClock())
    running = asyncio.ensure_future(board.run())
    await asyncio.wait([running, asyncio.ensure_future(board.serving.wait())],
                       return_when=asyncio.FIRST_COMPLETED, timeout=20)
    assert board.serving.is_set(), running.result() if running.done() else "not serving"
    ctx = zmq.asyncio.Context()
    main = Publisher(ctx, f"{ipc}/main.ipc", "ocd_main_loop", RealClock())
    tcs = Publisher(ctx, f"{ipc}/tcs.ipc", "tcs", RealClock())
    for publisher in (main, tcs):  # the board is subscribed: nothing is lost to the slow joiner
        await publisher.wait_for_subscriber("ocd.", 10) if publisher is main else \
            await publisher.wait_for_subscriber(topics.TCS_HEARTBEAT, 10)
    try:
        yield Served(board, board.url, main, tcs)
    finally:
        main.close()
        tcs.close()
        ctx.term()
        board.request_stop("test over")
        assert await asyncio.wait_for(running, 20) == 0


async def next_update(ws: aiohttp.ClientWebSocketResponse, panel: str,
                      timeout: float = 5.0) -> dict:
    """The data of the next update of ``panel``."""
    deadline = time.monotonic() + timeout
    while True:
        message = await ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        assert message.type == aiohttp.WSMsgType.TEXT, message
        batch = json.loads(message.data)
        for update in batch["u"]:
            if update["p"] == panel:
                return update["d"]


async def test_the_page_and_its_assets_are_served_with_safe_headers(served: Served):
    async with aiohttp.ClientSession() as http:
        async with http.get(served.url + "/") as response:
            assert response.status == 200
            page = await response.text()
            assert "OCD board" in page and "/static/board.js" in page
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
            assert response.headers["X-Frame-Options"] == "DENY"
        for name in ("board.js", "board.css", "favicon.svg"):
            async with http.get(f"{served.url}/static/{name}") as response:
                assert response.status == 200, name
        for name in ("../ocd.cfg", "index.html.bak", "%2e%2e%2focd.cfg"):
            async with http.get(f"{served.url}/static/{name}") as response:
                assert response.status == 404, name
        async with http.get(served.url + "/api/snapshot") as response:
            assert list(await response.json()) == list(PANELS)


async def test_a_page_gets_a_snapshot_then_the_stream(served: Served):
    await served.main.publish(topics.MAIN_DECISION, {
        "shotid": "DEX00009", "track": "W", "scheduler": "builtin", "started": True,
        "reason": "before the page opened"})
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(served.url.replace("http", "ws") + "/ws") as ws:
        # the first batch is the whole state: hello and every panel (an append panel may
        # be followed by the items added since, which the page takes by their numbers)
        first = json.loads((await ws.receive(timeout=5)).data)
        assert list(dict.fromkeys(u["p"] for u in first["u"])) == ["hello", *PANELS]
        decision = next(u["d"] for u in first["u"] if u["p"] == "decision")["decision"]
        if decision is None:  # the event reached the board after the page opened
            decision = (await next_update(ws, "decision"))["decision"]
        assert decision["reason"] == "before the page opened"
        await served.main.publish(topics.MAIN_DECISION, {
            "shotid": "DEX00010", "track": "E", "scheduler": "builtin", "started": True,
            "reason": "after"})
        data = await next_update(ws, "decision")
        assert data["decision"]["shotid"] == "DEX00010"


async def test_busy_topics_reach_a_page_at_a_few_updates_a_second(served: Served):
    guider = "pas.Guider1.metrology_data"
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(served.url.replace("http", "ws") + "/ws") as ws:
        await ws.receive(timeout=5)  # the snapshot
        start = time.monotonic()
        sent = 0
        while sent < 400:  # about 200 metrology events a second (fewer on a loaded machine)
            for _ in range(20):
                sent += 1
                await served.tcs.publish(guider, {"seeing": 1.0 + sent / 10_000,
                                                  "transparency": 0.9})
            await asyncio.sleep(0.1)
        updates, last = 0, None
        quiet_until = time.monotonic() + 1.5
        while time.monotonic() < quiet_until:
            try:
                message = await ws.receive(timeout=quiet_until - time.monotonic())
            except asyncio.TimeoutError:
                break
            for update in json.loads(message.data)["u"]:
                if update["p"] == "metrology":
                    updates += 1
                    last = update["d"]
        elapsed = time.monotonic() - start
    assert sent >= 300
    assert updates <= 4 * elapsed + 2, (updates, elapsed)
    # coalesced, not lost: the last update has the last reading
    assert last["guiders"][0]["seeing"] == pytest.approx(1.0 + sent / 10_000)


async def test_a_page_that_never_reads_does_not_hold_up_the_board(served: Served):
    """A stalled browser: a raw socket that opens the WebSocket, then never reads."""
    served.board.hub.send_timeout = 1.0
    host, port = served.url[len("http://"):].rsplit(":", 1)
    stalled = socket.create_connection((host, int(port)))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()
                    + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n")
    try:
        async with aiohttp.ClientSession() as http, \
                http.ws_connect(served.url.replace("http", "ws") + "/ws") as ws:
            await ws.receive(timeout=5)
            reason = "x" * 250
            published = 0
            start = time.monotonic()
            while time.monotonic() - start < 3.0:  # a flood of notable events
                for _ in range(100):
                    published += 1
                    await served.main.publish(topics.MAIN_NO_SHOT,
                                              {"reason": f"{published} {reason}"})
                await asyncio.sleep(0.02)
            # the bus side kept up with every event...
            deadline = time.monotonic() + 5
            while served.board.view.received < published and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert served.board.view.received >= published
            # ...and the reading page still gets the newest state at once
            await served.main.publish(topics.MAIN_NO_SHOT, {"reason": "the last one"})
            while True:  # (an update between may carry no no_shot: waited past, not read)
                data = await next_update(ws, "decision", timeout=3)
                if (data.get("no_shot") or {}).get("reason") == "the last one":
                    break
        # the stalled page's mailbox stays small (the kernel's buffers took what was sent)
        assert len(served.board.hub.pages) == 1
        stuck = next(iter(served.board.hub.pages))
        assert stuck.queued <= len(PANELS) * MAX_QUEUED_DELTAS
    finally:
        stalled.close()


async def test_sign_in_and_commands_are_guarded(served: Served):
    origin = {"Origin": served.url}
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for an IP address
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        login = served.url + "/api/login"
        credentials = {"user": "alice", "password": PASSWORD}
        # cross-site, or without an Origin, or not JSON: refused before any password check
        for headers in ({"Origin": "http://evil.example:8600"}, {}):
            async with http.post(login, json=credentials, headers=headers) as response:
                assert response.status == 403
        async with http.post(login, data="user=alice", headers={
                **origin, "Content-Type": "application/x-www-form-urlencoded"}) as response:
            assert response.status == 415
        async with http.post(login, json={"user": "alice", "password": "wrong"},
                             headers=origin) as response:
            assert response.status == 401
        # commands need a session...
        command = served.url + "/api/command"
        async with http.post(command, json={"command": "allow"}, headers=origin) as response:
            assert response.status == 401
        async with http.post(login, json=credentials, headers=origin) as response:
            assert response.status == 200
            body = await response.json()
            cookie = response.headers["Set-Cookie"]
        assert body["user"] == "alice" and len(body["csrf"]) > 30
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        async with http.get(served.url + "/api/session") as response:
            assert (await response.json())["user"] == "alice"
        # ...and its token, from the board's own origin
        async with http.post(command, json={"command": "allow"}, headers=origin) as response:
            assert response.status == 403
        token = {**origin, "X-OCD-CSRF": body["csrf"]}
        async with http.post(command, json={"command": "allow"}, headers={
                "Origin": "http://evil.example:8600", "X-OCD-CSRF": body["csrf"]}) as response:
            assert response.status == 403
        async with http.post(command, json={"command": "shutdown"}, headers=token) as response:
            assert response.status == 400
        # a good command with no ocd run to answer: the acknowledged path says so
        async with http.post(command, json={"command": "allow"}, headers=token) as response:
            assert response.status == 504
            answer = await response.json()
        assert answer["ok"] is False and "no ocd run answered" in answer["message"]
        async with http.post(served.url + "/api/logout", json={}, headers=origin) as response:
            assert response.status == 200
        async with http.post(command, json={"command": "allow"}, headers=token) as response:
            assert response.status == 401


async def test_alarm_commands_are_guarded_and_checked(served: Served):
    origin = {"Origin": served.url}
    jar = aiohttp.CookieJar(unsafe=True)
    alarm = served.url + "/api/alarm"
    ack = {"action": "ack", "alarm": "tcs_heartbeat"}
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.post(alarm, json=ack, headers=origin) as response:
            assert response.status == 401  # nobody signed in
        body = await (await sign_in(http, served, PASSWORD)).json()
        async with http.post(alarm, json=ack, headers=origin) as response:
            assert response.status == 403  # no session token
        token = {**origin, "X-OCD-CSRF": body["csrf"]}
        async with http.post(alarm, json=ack, headers={"Origin": "http://evil.example:8600",
                                                       "X-OCD-CSRF": body["csrf"]}) as response:
            assert response.status == 403
        for bad in ({"action": "clear", "alarm": "tcs_heartbeat"},
                    {"action": ["ack"], "alarm": "tcs_heartbeat"},
                    {"action": "ack", "alarm": {"a": 1}},
                    {"action": "ack", "alarm": "TCS\u202eheartbeat"},
                    {"action": "ack", "alarm": "x" * 200}, {"action": "ack"},
                    {"action": "mute", "alarm": "no_shot", "for": "3 weeks"},
                    {"action": "mute", "alarm": "no_shot", "for": "0m"},
                    {"action": "mute", "alarm": "no_shot"}):
            async with http.post(alarm, json=bad, headers=token) as response:
                assert response.status == 400, bad
                assert "--for" not in (await response.json())["error"]
        # a good one, with no alarm watcher to answer: the acknowledged path says so
        async with http.post(alarm, json={"action": "mute", "alarm": "no_shot", "for": "30m"},
                             headers=token) as response:
            assert response.status == 504
            answer = await response.json()
        assert answer["ok"] is False and "no ocd alarms watch answered" in answer["message"]


async def test_alarms_come_from_the_alarm_watchers_address_only(served: Served,
                                                                  tmp_path: Path):
    raised = {"alarm": "tcs_heartbeat", "state": "raised", "severity": "critical",
              "reason": "no TCS heartbeat for 12 s", "since": time.time(), "by": None,
              "muted_until": None, "escalated": False, "times": 1}
    ctx = zmq.asyncio.Context()
    watch = Publisher(ctx, f"ipc://{tmp_path}/alarms.ipc", "ocd_alarms", RealClock())
    try:
        await watch.wait_for_subscriber("ocd.", 10)
        async with aiohttp.ClientSession() as http, \
                http.ws_connect(served.url.replace("http", "ws") + "/ws") as ws:
            assert (await next_update(ws, "alarms"))["count"] == 0  # the snapshot
            # claimed by the main loop's address: dropped, whatever it says
            served.main.publish_nowait(topics.ALARM_RAISED, raised | {"alarm": "forged"})
            watch.publish_nowait(topics.ALARM_RAISED, raised)
            panel = await next_update(ws, "alarms")
            # one more from the watcher, long after the forgery was sent
            watch.publish_nowait(topics.ALARM_RAISED, raised | {
                "alarm": "events_lost", "severity": "warning", "reason": "1 event(s) lost"})
            while len(panel["history"]) < 2:
                panel = await next_update(ws, "alarms")
            async with http.get(served.url + "/api/snapshot") as response:
                snapshot = (await response.json())["alarms"]
    finally:
        watch.close()
        ctx.term()
    assert [a["alarm"] for a in panel["active"]] == ["tcs_heartbeat", "events_lost"]
    assert panel["worst"] == "critical" and panel["urgent"] == 1
    assert [h["alarm"] for h in panel["history"]] == ["events_lost", "tcs_heartbeat"]
    assert snapshot == panel


async def test_guessing_passwords_is_slowed_down(served: Served):
    origin = {"Origin": served.url}
    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(6):
            async with http.post(served.url + "/api/login", headers=origin,
                                 json={"user": "alice", "password": "guess"}) as response:
                statuses.append(response.status)
        async with http.post(served.url + "/api/login", headers=origin,
                             json={"user": "alice", "password": PASSWORD}) as response:
            statuses.append(response.status)
    assert statuses == [401] * 5 + [429, 429]


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords the board checks (each one scrypt), counted."""
    checked: list[str] = []
    scrypt = auth._scrypt

    def counting(password: str, *args: Any) -> bytes:
        checked.append(password)
        return scrypt(password, *args)

    monkeypatch.setattr(auth, "_scrypt", counting)
    return checked


async def sign_in(http: aiohttp.ClientSession, served: Served, password: str,
                  user: str = "alice") -> aiohttp.ClientResponse:
    async with http.post(served.url + "/api/login", headers={"Origin": served.url},
                         json={"user": user, "password": password}) as response:
        await response.read()
        return response


async def test_concurrent_guesses_wait_their_turn_and_few_are_checked(
        served: Served, hashes: list[str]):
    # a connection per guess, as 40 guessers would have: a pooled connection reused just as
    # the board closes it for idleness ([board] keep-alive, 10 s; a loaded machine gets there)
    # fails the POST with "server disconnected", which says nothing of the brake
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        answers = await asyncio.gather(*(sign_in(http, served, f"guess{n}")
                                         for n in range(40)))
        statuses = [answer.status for answer in answers]
        assert statuses.count(401) == len(hashes) <= 6, statuses
        assert statuses.count(429) == 40 - len(hashes)
        # the real user, after the delay the answer gave: a delay, never a lockout
        retry = max(int(a.headers["Retry-After"]) for a in answers if a.status == 429)
        await asyncio.sleep(retry + 0.1)
        assert (await sign_in(http, served, PASSWORD)).status == 200
    assert PASSWORD in hashes


async def test_rotating_the_source_address_does_not_reset_the_brake(
        served: Served, hashes: list[str], monkeypatch: pytest.MonkeyPatch):
    # the brake's clock held still: all 30 attempts fall within the first delay however slow
    # the machine is (on a loaded one, 25 connections could outlast its 2 s)
    monkeypatch.setattr(served.board.brake, "_clock", lambda: 1000.0)
    statuses = []
    for last in range(2, 32):  # 127.0.0.2 ... 127.0.0.31, one connection each
        connector = aiohttp.TCPConnector(local_addr=(f"127.0.0.{last}", 0))
        async with aiohttp.ClientSession(connector=connector) as http:
            statuses.append((await sign_in(http, served, f"guess{last}")).status)
    assert statuses == [401] * 5 + [429] * 25
    assert len(hashes) == 5
    # a name that is no user gets the same answers: the brake does not tell who is a user
    async with aiohttp.ClientSession() as http:
        other = [(await sign_in(http, served, "guess", user="mallory")).status
                 for _ in range(6)]
    assert other == [401] * 5 + [429]


async def test_sign_ins_are_published_and_shown_without_the_password(served: Served):
    await served.board.publisher.wait_for_subscriber(topics.BOARD_SIGN_IN, 10)
    ctx = zmq.asyncio.Context()
    watcher = Subscriber(ctx, [served.board.publisher.url], [topics.BOARD_SIGN_IN])
    try:
        await served.board.publisher.wait_for_subscriber(topics.BOARD_SIGN_IN, 10, count=2)
        async with aiohttp.ClientSession() as http, \
                http.ws_connect(served.url.replace("http", "ws") + "/ws") as ws:
            await next_update(ws, "log")  # the snapshot
            assert (await sign_in(http, served, "not-the-password")).status == 401
            assert (await sign_in(http, served, PASSWORD)).status == 200
            events = [await watcher.recv(timeout=5), await watcher.recv(timeout=5)]
            lines: list[dict] = []
            deadline = time.monotonic() + 5
            while sum(topics.BOARD_SIGN_IN in item["line"] for item in lines) < 2:
                assert time.monotonic() < deadline, lines
                lines += (await next_update(ws, "log"))["items"]
    finally:
        watcher.close()
        ctx.term()
    assert [(e.topic, e.payload["user"], e.payload["ok"]) for e in events] == [
        (topics.BOARD_SIGN_IN, "alice", False), (topics.BOARD_SIGN_IN, "alice", True)]
    assert events[0].payload["address"] == "127.0.0.1"
    shown = [item for item in lines if topics.BOARD_SIGN_IN in item["line"]]
    assert [item["level"] for item in shown] == ["warning", "notice"]
    for text in [json.dumps(e.payload) for e in events] + [item["line"] for item in shown]:
        assert "not-the-password" not in text and PASSWORD not in text


async def test_a_request_for_another_host_name_is_misdirected(served: Served):
    port = int(served.url.rsplit(":", 1)[1])
    async with aiohttp.ClientSession() as http:
        for host in ("evil.example:8600", f"evil.example:{port}", f"localhost:{port}",
                     f"[::1]:{port}"):  # localhost is not this board's: it binds 127.0.0.1 only
            for path in ("/api/snapshot", "/", "/static/board.js", "/api/session"):
                async with http.get(served.url + path, headers={"Host": host}) as response:
                    assert response.status == 421, (host, path)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(served.url.replace("http", "ws") + "/ws",
                                  headers={"Host": "evil.example:8600"})
        assert refused.value.status == 421
        async with http.get(served.url + "/api/snapshot") as response:
            assert response.status == 200
        # a page of another user serving localhost cannot sign in here
        async with http.post(served.url + "/api/login", json={"user": "alice", "password": "x"},
                             headers={"Origin": f"http://localhost:{port}"}) as response:
            assert response.status == 403


def loopback6() -> bool:
    with socket.socket(socket.AF_INET6) as sock:
        try:
            sock.bind(("::1", 0))
        except OSError:
            return False
    return True


@pytest.mark.skipif(not loopback6(), reason="no IPv6 loopback on this host")
async def test_a_board_on_localhost_holds_both_loopback_addresses(tmp_path: Path):
    cfg = load_config(overrides=[
        ("urls", "event_urls", f"ipc://{tmp_path}/tcs.ipc"),
        ("urls", "ocd_main_loop", f"ipc://{tmp_path}/main.ipc"),
        ("urls", "ocd_allow_hetdex", f"ipc://{tmp_path}/allow0.ipc, ipc://{tmp_path}/a1.ipc"),
        ("board", "url", "http://localhost:0"), ("board", "users", ENTRY),
        ("board", "hosts", "ocd-host"), ("bus", "linger", "0")])
    board = Board(cfg, board_options(cfg), make_plan(cfg, tcs=True), RealClock())
    running = asyncio.ensure_future(board.run())
    try:
        await asyncio.wait_for(board.serving.wait(), 20)
        port = int(board.url.rsplit(":", 1)[1])
        # nobody else can take ::1 at the board's port: it holds it
        with socket.socket(socket.AF_INET6) as squatter, pytest.raises(OSError):
            squatter.bind(("::1", port))
        async with aiohttp.ClientSession() as http:
            for url, host in ((f"http://127.0.0.1:{port}", None), (f"http://[::1]:{port}", None),
                              (f"http://127.0.0.1:{port}", f"localhost:{port}"),
                              (f"http://[::1]:{port}", f"ocd-host:{port}")):
                headers = {"Host": host} if host else {}
                async with http.get(url + "/api/snapshot", headers=headers) as response:
                    assert response.status == 200, (url, host)
            async with http.get(f"http://[::1]:{port}/api/snapshot",
                                headers={"Host": "evil.example"}) as response:
                assert response.status == 421
            for origin in (f"http://localhost:{port}", f"http://[::1]:{port}"):
                async with http.post(f"http://[::1]:{port}/api/login",
                                     json={"user": "alice", "password": "wrong"},
                                     headers={"Origin": origin}) as response:
                    assert response.status == 401, origin  # checked: the origin is the board's
    finally:
        board.request_stop("test over")
        assert await asyncio.wait_for(running, 20) == 0


def test_a_host_name_with_a_port_is_refused_naming_the_option():
    cfg = load_config(overrides=[("board", "hosts", "ocd-host:8600")])
    with pytest.raises(OcdError, match=r"hosts.*without a port"):
        board_options(cfg)


async def open_pages(url: str, count: int, addresses: list[str] | None = None
                     ) -> tuple[list[aiohttp.ClientWebSocketResponse], list[aiohttp.ClientSession]]:
    """``count`` anonymous WebSockets (from one address, or one per address given)."""
    sessions, pages = [], []
    for n in range(count):
        if addresses is None and sessions:
            http = sessions[0]
        else:
            local = None if addresses is None else (addresses[n], 0)
            http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0,
                                                                        local_addr=local))
            sessions.append(http)
        pages.append(await http.ws_connect(url.replace("http", "ws") + "/ws"))
    return pages, sessions


async def admitted(pages: list[aiohttp.ClientWebSocketResponse]) -> int:
    """How many pages got their first batch; the others must have been refused with 1013."""
    count = 0
    for ws in pages:
        message = await ws.receive(timeout=5)
        if message.type == aiohttp.WSMsgType.TEXT:
            count += 1
        else:
            assert ws.close_code == 1013, message
    return count


async def test_a_signed_in_page_gets_in_past_a_hundred_anonymous_ones(served: Served):
    hub = served.board.hub
    local, local_sessions = await open_pages(served.url, 100)
    rotated, rotated_sessions = await open_pages(
        served.url, 100, [f"127.0.1.{n}" for n in range(1, 101)])
    try:
        assert await admitted(local) == hub.max_per_address  # one address: capped
        assert await admitted(rotated) == hub.max_anonymous - hub.max_per_address  # in all
        assert hub.anonymous == hub.max_anonymous
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            start = time.monotonic()
            async with http.get(served.url + "/api/snapshot") as response:
                assert response.status == 200 and set(await response.json()) == set(PANELS)
            assert time.monotonic() - start < 1.0
            async with http.post(served.url + "/api/login", headers={"Origin": served.url},
                                 json={"user": "alice", "password": PASSWORD}) as response:
                assert response.status == 200
            async with http.ws_connect(served.url.replace("http", "ws") + "/ws") as ws:
                await next_update(ws, "states")  # the signed-in page is served
                await served.main.publish(topics.MAIN_NO_SHOT, {"reason": "still live"})
                # other updates of the panel may come first (without a no-shot yet)
                while ((await next_update(ws, "decision")).get("no_shot")
                       or {}).get("reason") != "still live":
                    pass
    finally:
        for ws in local + rotated:
            await ws.close()
        for http in local_sessions + rotated_sessions:
            await http.close()


async def test_a_connection_that_never_finishes_its_headers_is_dropped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(server, "HEADER_TIMEOUT", 1.0)
    cfg = load_config(overrides=[
        ("urls", "event_urls", f"ipc://{tmp_path}/tcs.ipc"),
        ("urls", "ocd_main_loop", f"ipc://{tmp_path}/main.ipc"),
        ("urls", "ocd_allow_hetdex", f"ipc://{tmp_path}/allow0.ipc, ipc://{tmp_path}/a1.ipc"),
        ("board", "url", "http://127.0.0.1:0"), ("bus", "linger", "0")])
    board = Board(cfg, board_options(cfg), make_plan(cfg, tcs=True), RealClock())
    running = asyncio.ensure_future(board.run())
    half_open: list[socket.socket] = []
    try:
        await asyncio.wait_for(board.serving.wait(), 20)
        host, port = board.url[len("http://"):].rsplit(":", 1)
        loop = asyncio.get_running_loop()
        for _ in range(1100):  # requests whose headers never end (the board runs on this loop)
            sock = socket.socket()
            sock.setblocking(False)
            half_open.append(sock)
            await loop.sock_connect(sock, (host, int(port)))
            await loop.sock_sendall(
                sock, f"GET /api/snapshot HTTP/1.1\r\nHost: {host}:{port}\r\n".encode())
        async with aiohttp.ClientSession() as http:
            start = time.monotonic()
            async with http.get(board.url + "/api/snapshot") as response:
                assert response.status == 200
            assert time.monotonic() - start < 1.0
        deadline = time.monotonic() + 10
        for sock in half_open:  # each is closed by the board after the header timeout
            closed = await asyncio.wait_for(loop.sock_recv(sock, 100),
                                            max(0.1, deadline - time.monotonic()))
            assert closed == b""
    finally:
        for sock in half_open:
            sock.close()
        board.request_stop("test over")
        assert await asyncio.wait_for(running, 20) == 0


async def test_a_cross_site_websocket_is_refused(served: Served):
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(served.url.replace("http", "ws") + "/ws",
                                  headers={"Origin": "http://evil.example"})
    assert refused.value.status == 403


async def test_stopping_the_board_closes_its_pages_cleanly(tmp_path: Path):
    cfg = load_config(overrides=[
        ("urls", "event_urls", f"ipc://{tmp_path}/tcs.ipc"),
        ("urls", "ocd_main_loop", f"ipc://{tmp_path}/main.ipc"),
        ("board", "url", "http://127.0.0.1:0"), ("bus", "linger", "0")])
    board = Board(cfg, board_options(cfg), make_plan(cfg, tcs=True), RealClock())
    running = asyncio.ensure_future(board.run())
    await asyncio.wait_for(board.serving.wait(), 20)
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(board.url.replace("http", "ws") + "/ws") as ws:
        await ws.receive(timeout=5)  # the snapshot
        board.request_stop("test")
        message = await ws.receive(timeout=5)
        while message.type is aiohttp.WSMsgType.TEXT:  # an update flushed before the stop
            message = await ws.receive(timeout=5)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert await asyncio.wait_for(running, 10) == 0
    assert ws.close_code == 1001


async def test_the_cockpit_carries_the_sky_and_the_shots_ocd_plan_expects(tmp_path: Path):
    """A board on the night's mock clock: the snapshot (and so every page) gets the Sun, the
    dark time, the Moon with its distance from the next shot, HET's time zone, and the shots
    the code of ``ocd plan`` expects from the same instant."""
    import datetime as dt

    from e2e_helpers import MOCK_TIME, night_config

    from ocd.app.simulation.plan import expected_night, expected_shots, plan_end
    from ocd.clock import MockClock
    from ocd.shots.store import load_shots
    from ocd.sky import het
    from ocd.sky.almanac import separation

    config = night_config(tmp_path, extra="\n[board]\nurl = http://127.0.0.1:0\n")
    cfg = load_config([config])
    clock = MockClock(dt.datetime.fromisoformat(MOCK_TIME))  # at 1x: the plan stays current
    board = Board(cfg, board_options(cfg), make_plan(cfg, tcs=True), clock)
    running = asyncio.ensure_future(board.run())
    try:
        await asyncio.wait([running, asyncio.ensure_future(board.serving.wait())],
                           return_when=asyncio.FIRST_COMPLETED, timeout=20)
        assert board.serving.is_set()
        deadline = time.monotonic() + 90
        async with aiohttp.ClientSession() as http:
            while True:
                async with http.get(board.url + "/api/snapshot") as response:
                    snapshot = await response.json()
                if snapshot["next"]["shots"] and snapshot["almanac"]["almanac"]:
                    break
                assert not running.done() and time.monotonic() < deadline, snapshot["next"]
                await asyncio.sleep(0.5)
        assert list(snapshot) == list(PANELS)
        cockpit = snapshot["almanac"]
        assert cockpit["zone"] == "America/Chicago" and cockpit["error"] is None
        sky = cockpit["almanac"]
        assert sky["sun"] == pytest.approx(het.sun_altitude(sky["t"]), abs=0.01)
        start, end = het.dark_interval(sky["t"], cfg.get_float("schedule", "sun_altitude"))
        assert (sky["dark_start"], sky["dark_end"]) == (pytest.approx(start, abs=1),
                                                         pytest.approx(end, abs=1))
        assert sky["dark_start"] < sky["t"] < sky["dark_end"]  # 03:00 UTC: dark
        assert sky["moon"]["illumination"] < 0.02  # the new Moon of 2017-11-18
        # the same shots as the code of ocd plan from the same instant and conditions
        plan = snapshot["next"]
        when = dt.datetime.fromtimestamp(int(plan["t"]), dt.timezone.utc)
        store = load_shots(config.parent / "shots.dat")
        try:
            expected = await asyncio.to_thread(
                expected_night, cfg, store, when, plan_end(cfg, when), plan["seeing"],
                plan["transparency"])
        finally:
            store.close()
        assert [(s["shotid"], s["track"]) for s in plan["shots"]] == \
            [(s["shotid"], s["track"]) for s in expected_shots(expected)][:len(plan["shots"])]
        assert cockpit["obsnum"].startswith("observation numbers: ")
        assert f"SQLite file {tmp_path}/obsnum.sqlite" in cockpit["obsnum"]
        distance = cockpit["moon_distance"]["next"]
        first = plan["shots"][0]
        assert distance["shotid"] == first["shotid"]
        assert distance["degrees"] == pytest.approx(separation(
            sky["moon"]["ra"], sky["moon"]["dec"], first["ra"], first["dec"]), abs=0.1)
    finally:
        board.request_stop("test over")
        assert await asyncio.wait_for(running, 20) == 0


def test_where_observation_numbers_come_from_names_the_database_never_the_password():
    from ocd.app.board.cockpit import obsnum_source

    cfg = load_config(overrides=[
        ("database", "backend", "mysql"), ("database", "mysql_host", "db.example"),
        ("database", "mysql_database", "hetdex_obs"), ("database", "mysql_user", "ocd"),
        ("database", "mysql_password", "s3cret-pw")])
    said = obsnum_source(cfg, RealClock())
    assert "MySQL database 'hetdex_obs' on db.example" in said and "s3cret-pw" not in said


def test_the_next_shots_are_planned_again_when_conditions_move_a_step_not_a_hair(
        tmp_path: Path):
    from ocd.app.board.cockpit import SEEING_STEP, Cockpit
    from ocd.monitor.night import NightSettings, NightView

    cfg = load_config(overrides=[("shots", "shot_file", str(tmp_path / "shots.dat"))])
    view = NightView(NightSettings())
    cockpit = Cockpit(cfg, view, time.time, lambda panels: None, RealClock())
    view.conditions = {"seeing": 1.2, "transparency": 0.9}
    key = cockpit._plan_key()
    view.conditions = {"seeing": 1.21, "transparency": 0.91}
    assert cockpit._plan_key() == key
    view.conditions = {"seeing": 1.2 + SEEING_STEP, "transparency": 0.9}
    assert cockpit._plan_key() != key
    view.conditions = {"seeing": 1.2, "transparency": 0.9}
    (tmp_path / "shots.dat").write_text("a new shot list\n")
    assert cockpit._plan_key() != key
