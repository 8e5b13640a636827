"""``ocd board``: the web page of the night, served on the same asyncio loop as its bus
subscriber.

The bus side feeds every event to the pure :class:`~ocd.monitor.night.NightView` and tells the
:class:`~ocd.app.board.hub.Hub` which panels changed; the hub paces the updates to every open
page over a WebSocket. The HTTP side serves the page and its assets (all shipped in the
package), a JSON snapshot, sign-in, and the commands of signed-in users, which go out through
the acknowledged one-shot path (:func:`ocd.app.commander.send_command`) on the board's own
``[urls] ocd_allow_hetdex`` address.

Why aiohttp: one well-kept asyncio package with both an HTTP server and WebSockets, which runs
on the loop that already carries pyzmq's sockets (Starlette would need uvicorn, a server with
a loop and signal handling of its own, beside it).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import re
import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from ocd.app.alarms_tool import ACTIONS, TARGET, alarm_command
from ocd.app.board.auth import (
    Sessions,
    SignInBrake,
    check_password,
    csrf_ok,
    host_name,
    own_names,
)
from ocd.app.board.cockpit import COCKPIT_PANELS, Cockpit
from ocd.app.board.hub import Hub, Page
from ocd.app.board.options import BoardOptions
from ocd.app.board.past_nights import PastNights
from ocd.app.commander import send_command
from ocd.app.listener import ListenPlan
from ocd.bus import (
    NoAnswer,
    Publisher,
    RateLimitedLog,
    Subscriber,
    security_from_config,
    tcp_holder,
)
from ocd.clock import Clock
from ocd.config import Config, static_file
from ocd.core.events import COMPLETED
from ocd.core.topics import BOARD_SIGN_IN, COMMAND_ABORT, COMMAND_ALLOW
from ocd.errors import OcdError, UsageError, printable
from ocd.monitor.night import APPEND_PANELS, PANELS, NightView
from ocd.shell.clock_source import ClockFollower
from ocd.shell.service import Service
from ocd.shots.store import file_stamp, load_shots
from ocd.sky.chart import pointing_chart, shot_chart
from ocd.sky.scheduler import Conditions, ScheduleSettings

log = logging.getLogger("ocd.board")

COOKIE = "ocd_board_session"
CSRF_HEADER = "X-OCD-CSRF"
#: The page's files (``ocd/static/board``); nothing else is served.
ASSETS = {"board.js": "text/javascript", "board.css": "text/css",
          "favicon.svg": "image/svg+xml", "past_nights.js": "text/javascript"}
#: Commands a signed-in user may send: (topic, data, target service).
COMMANDS: dict[str, tuple[str, dict[str, Any], str | None]] = {
    "allow": (COMMAND_ALLOW, {"allowed": True}, "ocd_main_loop"),
    "stop": (COMMAND_ALLOW, {"allowed": False}, "ocd_main_loop"),
    "abort": (COMMAND_ABORT, {}, None),  # whoever runs the shot answers
}
#: An alarm id a page may name (the watcher's rules are named so; it refuses unknown ones).
_ALARM_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: Seconds a connection has to send a request's headers, and a request to send its body.
HEADER_TIMEOUT, BODY_TIMEOUT = 10.0, 5.0
#: Seconds, at a stop, that the pages get to answer the close of their WebSockets, and that
#: requests still being handled get to finish before they are cancelled (twice over: aiohttp
#: waits this long for a handler, then as long again for its cancellation): the board stops
#: within a couple of seconds, whatever its pages do.
CLOSE_TIMEOUT, SHUTDOWN_TIMEOUT = 1.0, 0.5
#: Password checks (scrypt, 32 MiB each) the board runs at once, whoever asks.
HASHES_AT_ONCE = 2
#: Seconds (real) between two recomputations of the sky chart at most, and OCD-clock seconds
#: the sky may turn before it is recomputed.
SKY_EVERY, SKY_TURN = 1.0, 60.0
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def assets_dir() -> Path:
    return static_file("board")


#: What to change when the board's address cannot be served, as ``ocd board`` is given it.
BOARD_ADVICE = "change [board] url or --url, or stop the other process"


def _addresses(options: BoardOptions) -> list[tuple[int, Any]]:
    """(family, address) of every socket to bind: each address the host of ``[board] url``
    resolves to, and for ``localhost`` both loopback addresses, whatever the resolver says
    (a browser takes ``localhost`` for either: the board holds both, or another user of
    the host could serve a page of the board's origin on the other)."""
    host, port = options.host, options.port
    if host.lower() == "localhost":
        return [(socket.AF_INET, ("127.0.0.1", port)), (socket.AF_INET6, ("::1", port))]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OcdError(f"cannot serve on {options.url()}: {exc.strerror}; change "
                       "[board] url or --url") from None
    found: dict[tuple[int, str], Any] = {}
    for family, _, _, _, address in infos:
        found.setdefault((family, str(address[0])), address)
    return [(family, address) for (family, _), address in found.items()]


def bind_board(options: BoardOptions, advice: str = BOARD_ADVICE) -> list[socket.socket]:
    """The board's listening sockets, bound here so that "address in use" says what to change
    (``advice``: a command that runs the board for the user gives its own); with port 0, the
    port the first one got for all."""
    sockets: list[socket.socket] = []
    port = options.port
    try:
        for family, address in _addresses(options):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address[0], port, *address[2:]))
            sock.listen(128)
            sock.setblocking(False)
            port = sock.getsockname()[1]
    except OSError as exc:
        for sock in sockets:
            sock.close()
        where = f"{options.url()} ({address[0]})"
        holder = tcp_holder(port) if exc.errno == errno.EADDRINUSE else None
        why = (f"address already in use by another process{f' ({holder})' if holder else ''}"
               if exc.errno == errno.EADDRINUSE else exc.strerror)
        raise OcdError(f"cannot serve on {where}: {why}; {advice}") from None
    return sockets


def check_board_address(options: BoardOptions, advice: str) -> None:
    """Stop with one line (ending with ``advice``) now if the board could not serve on its
    address, rather than once the processes around it have started."""
    for sock in bind_board(options, advice):
        sock.close()


class Board(Service):
    """One ``ocd board`` process."""

    file_headroom = True

    def __init__(self, cfg: Config, options: BoardOptions, plan: ListenPlan,
                 clock: Clock) -> None:
        super().__init__("ocd board")
        self.cfg, self.options, self.plan, self.clock = cfg, options, plan, clock
        self.security = security_from_config(cfg)
        # the page's clock until OCD's events say better: this process's (adopted) clock
        self.view = NightView(replace(options.night, mock=clock.is_mock, speed=clock.speed))
        self.follower = ClockFollower(clock, "ocd board")
        interval = 1.0 / options.max_panel_rate
        #: The page's panels: the night's, then the cockpit's.
        self.panels = PANELS + COCKPIT_PANELS
        intervals = dict.fromkeys(self.panels, interval)
        intervals["bus"] = max(interval, 1.0)
        self.hub = Hub(self.panels, APPEND_PANELS, intervals, self._build)
        self.cockpit = Cockpit(cfg, self.view, self.ocd_now, self.hub.changed, clock)
        self.sessions = Sessions(options.session_hours * 3600.0)
        self.brake = SignInBrake(options.users)
        #: One sign-in per brake record at a time (a bounded table: the users and the shared
        #: records of other names), and few password checks at once for the whole board.
        self._sign_in_locks: dict[str, asyncio.Lock] = {}
        self._hashing = asyncio.Semaphore(HASHES_AT_ONCE)
        self.schedule = ScheduleSettings.from_config(cfg)
        self.shot_file = cfg.get_path("shots", "shot_file")
        self.sky: dict[str, Any] = {"shots": [], "error": None}
        self.url = options.url()
        self.origins: frozenset[str] = frozenset()
        self.hosts: frozenset[str] = frozenset()
        self.feed_errors = 0
        self._limited = RateLimitedLog(log, 10.0)
        self._command_lock = asyncio.Lock()
        self._pumps: dict[Page, asyncio.Task[None]] = {}
        #: Set once the page is served (``url`` is then the address really bound).
        self.serving = asyncio.Event()

    # -- start -----------------------------------------------------------------------------
    async def start(self) -> None:
        # made the way every OCD process makes its own, so bus security applies to it too
        self.subscriber = self.closing(Subscriber.from_config(
            self.ctx, self.cfg, self.plan.sources, self.plan.topics, log_gaps=False))
        # the board's own address: its commands and its sign-in events go out on it
        self.publisher = self.closing(Publisher.first_free(
            self.ctx, self.cfg, "ocd_allow_hetdex", "board", clock=self.clock,
            name="ocd_board"))
        app = web.Application(client_max_size=16 * 1024,
                              middlewares=[self._own_host, _security_headers])
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._asset)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/api/snapshot", self._snapshot)
        app.router.add_get("/api/session", self._session)
        app.router.add_post("/api/login", self._login)
        app.router.add_post("/api/logout", self._logout)
        app.router.add_post("/api/command", self._command)
        app.router.add_post("/api/alarm", self._alarm)
        self.closing(PastNights(self.cfg, self.options.night)).add_routes(app)  # the archive
        # a connection must send its request's headers within HEADER_TIMEOUT s of opening (or
        # of its previous answer): aiohttp's keep-alive timer runs from the connection's start
        runner = web.AppRunner(app, access_log=None, handle_signals=False,
                               keepalive_timeout=HEADER_TIMEOUT, max_line_size=4096,
                               max_field_size=4096, max_headers=64,
                               shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        # at the end, in this order: stop listening (a page whose WebSocket closes reconnects
        # at once, and a page let in then would hold the runner's cleanup), close the pages,
        # then end what is left (requests still handled are cancelled after SHUTDOWN_TIMEOUT)
        self.on_close(runner.cleanup)
        sockets = bind_board(self.options)
        self.on_close(self._close_pages)
        self.on_close(self.hub.stop)
        self.on_close(lambda: _stop_listening(runner))
        for sock in sockets:
            await web.SockSite(runner, sock).start()
        port = sockets[0].getsockname()[1]
        bound = frozenset(str(sock.getsockname()[0]) for sock in sockets)
        self.url = self.options.url(port)
        self.hosts = own_names(self.options.host, bound) | set(self.options.hosts)
        self.origins = self.options.allowed_origins(port, own_names(self.options.host, bound))
        log.info("serving on %s; answering to the host names %s", ", ".join(sorted(bound)),
                 ", ".join(sorted(self.hosts)))
        self.serving.set()

    @web.middleware
    async def _own_host(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """421 for a request naming another host than the board's (DNS rebinding)."""
        if host_name(request.headers.get("Host")) not in self.hosts:
            self._limited.warning("host", f"refused a request for host "
                                  f"{(request.headers.get('Host') or 'none')[:100]!r} "
                                  f"(answering to {', '.join(sorted(self.hosts))})")
            return web.json_response({"error": "this board does not answer to that host name"},
                                     status=421)
        response: web.StreamResponse = await handler(request)
        return response

    async def _close_pages(self) -> None:
        """Close every page's WebSocket at once ("going away"), each with CLOSE_TIMEOUT s to
        answer: a page that does not is dropped with the runner's cleanup."""
        async def close(page: Page, pump: asyncio.Task[None]) -> None:
            pump.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(page.socket.close(code=1001, message=b"board stopping"),
                                       CLOSE_TIMEOUT)

        await asyncio.gather(*(close(page, pump) for page, pump in list(self._pumps.items())))

    # -- the bus side ----------------------------------------------------------------------
    async def main(self) -> int:
        users = len(self.options.users)
        print(f"ocd board: the night on {self.url}/ ("
              + (f"{users} user{'s' if users != 1 else ''} may sign in to command"
                 if users else "read-only: no [board] users") + ")", flush=True)
        log.info("following %s for topics %s", ", ".join(self.plan.urls),
                 ", ".join(repr(t) for t in self.plan.topics))
        self.spawn(self._every_second(), name="ticker")
        self.spawn(self._sky_loop(), name="sky chart", critical=False)
        self.spawn(self.cockpit.run(), name="cockpit", critical=False)
        while True:
            event = await self.receive(self.subscriber)
            if event is None:
                return 0
            said = self.follower.check(event)  # a restarted main loop's other clock
            if said is not None:
                self.view.clock_notice(said, time.time())
            try:
                self.view.feed(event, time.time(), self.subscriber.last_check)
            except Exception as exc:  # a bug must not stop the board: count it, go on
                self.feed_errors += 1
                self._limited.warning("feed", f"could not show an event of {event.topic[:80]} "
                                      f"({self.feed_errors} so far): {type(exc).__name__}: {exc}")
            self.hub.changed(self.view.take_dirty())

    async def _every_second(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.view.tick(time.time())
            self.view.set_malformed(self.subscriber.stats.malformed)
            self.hub.changed(self.view.take_dirty())

    def ocd_now(self) -> float:
        """OCD's clock as the events show it (the board's own before any event)."""
        now = self.view.ocd_now(time.time())
        return self.clock.timestamp() if now is None else now

    async def _sky_loop(self) -> None:
        """Recompute the sky chart when the shot list changes, a shot ends, or the sky turned."""
        table = None
        stamp: tuple[int, int] | None = None
        last: tuple[float, int] | None = None
        while True:
            now = self.ocd_now()
            new_stamp = file_stamp(self.shot_file) if self.shot_file is not None else None
            done = len(self.view.tally.of_state(COMPLETED))
            if new_stamp != stamp or table is None:
                stamp = new_stamp
                table, error = await asyncio.to_thread(self._load_table)
                last = None
                if error:
                    self.sky = {"shots": [], "error": error}
                    self.hub.changed({"sky"})
            if table is not None and (last is None or last[1] != done
                                      or abs(now - last[0]) >= SKY_TURN):
                last = (now, done)
                conditions = Conditions(**self.view.conditions)
                self.sky = {**await asyncio.to_thread(shot_chart, table, now, self.schedule,
                                                      conditions), "error": None}
                self.hub.changed({"sky"})
            await asyncio.sleep(SKY_EVERY)

    def _load_table(self) -> tuple[Any, str | None]:
        if self.shot_file is None:
            return None, "no shot list ([shots] shot_file is empty)"
        try:
            store = load_shots(self.shot_file)
        except OcdError as exc:
            return None, str(exc)
        try:
            return store.table(remaining=False), None
        finally:
            store.close()

    def _build(self, panel: str, delta: bool) -> dict[str, Any] | None:
        if delta:
            return self.view.delta(panel)
        if panel in COCKPIT_PANELS:
            return self.cockpit.panel(panel)
        data = self.view.panel(panel)
        if panel == "sky":
            data.update(self.sky)
        elif panel == "pointing" and data["pointing"] is not None:
            pointing = data["pointing"]
            data["altaz"] = pointing_chart(pointing["ra"], pointing["dec"], self.ocd_now())
        return data

    # -- pages -----------------------------------------------------------------------------
    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(assets_dir() / "index.html",
                                headers={"Content-Type": "text/html; charset=utf-8"})

    async def _asset(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in ASSETS:
            raise web.HTTPNotFound()
        return web.FileResponse(assets_dir() / name, headers={"Content-Type": ASSETS[name]})

    async def _snapshot(self, request: web.Request) -> web.Response:
        """Every panel as JSON: what a page gets first, for scripts and GUI authors."""
        return web.json_response({p: self._build(p, False) for p in self.panels})

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and origin not in self.origins:
            raise web.HTTPForbidden(text="cross-site WebSocket refused")
        ws = web.WebSocketResponse(heartbeat=15.0, max_msg_size=4096, compress=False)
        await ws.prepare(request)
        signed_in = self.sessions.get(self._session_key(request)) is not None
        page = self.hub.open(ws, {"users": bool(self.options.users), "url": self.url,
                                  "max_panel_rate": self.options.max_panel_rate},
                             address=request.remote or "?", signed_in=signed_in)
        if page is None:
            await ws.close(code=1013, message=b"too many pages open")
            return ws
        pump = asyncio.ensure_future(page.pump(self.hub.send_timeout))
        self._pumps[page] = pump
        try:
            async for message in ws:  # the page has nothing to say: read to notice the close
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            self.hub.close(page)
            self._pumps.pop(page, None)
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
        return ws

    # -- sign-in and commands --------------------------------------------------------------
    def _session_key(self, request: web.Request) -> str | None:
        return request.cookies.get(COOKIE)

    def _cross_site(self, request: web.Request) -> web.Response | None:
        """The refusal of a state-changing request that is not from the board's own page."""
        origin = request.headers.get("Origin")
        if origin is None or origin not in self.origins:
            log.warning("refused a %s %s from origin %r (allowed: %s)", request.method,
                        request.path, (origin or "none")[:100], ", ".join(sorted(self.origins)))
            return web.json_response({"error": "cross-site request refused"}, status=403)
        if request.content_type != "application/json":
            return web.json_response({"error": "expected a JSON body"}, status=415)
        return None

    async def _body(self, request: web.Request) -> dict[str, Any] | None:
        try:
            body = await asyncio.wait_for(request.json(), BODY_TIMEOUT)
        except (ValueError, asyncio.TimeoutError):
            return None
        return body if isinstance(body, dict) else None

    async def _session(self, request: web.Request) -> web.Response:
        session = self.sessions.get(self._session_key(request))
        return web.json_response({"user": session.user if session else None,
                                  "csrf": session.csrf if session else None,
                                  "users": bool(self.options.users)})

    async def _login(self, request: web.Request) -> web.Response:
        refused = self._cross_site(request)
        if refused is not None:
            return refused
        address = request.remote or "?"
        body = await self._body(request)
        user, password = (body or {}).get("user"), (body or {}).get("password")
        if not (isinstance(user, str) and isinstance(password, str)
                and 0 < len(user) <= 32 and len(password) <= 1024):
            return web.json_response({"error": "expected {\"user\": ..., \"password\": ...}"},
                                     status=400)
        lock = self._sign_in_locks.setdefault(self.brake.key(user), asyncio.Lock())
        async with lock:  # attempts for one name wait their turn
            wait = self.brake.attempt(user)  # counted as failed before the check
            if wait > 0:
                return web.json_response(
                    {"error": f"too many failed sign-ins as this user: try again in "
                              f"{math.ceil(wait)} s"},
                    # rounded up: a client that waits what it is told is not refused again
                    status=429, headers={"Retry-After": str(max(1, math.ceil(wait)))})
            async with self._hashing:
                ok = await asyncio.to_thread(check_password, self.options.users, user, password)
            if ok:
                self.brake.succeeded(user)
            self._signed_in(user, address, ok)
        if not ok:
            return web.json_response({"error": "unknown user or wrong password"}, status=401)
        key, session = self.sessions.create(user)
        response = web.json_response({"user": user, "csrf": session.csrf})
        response.set_cookie(COOKIE, key, max_age=int(self.sessions.lifetime), httponly=True,
                            samesite="Strict", path="/", secure=request.secure)
        return response

    def _signed_in(self, user: str, address: str, ok: bool) -> None:
        """Log and publish a checked sign-in (never the password)."""
        shown = printable(user)
        failures = self.brake.failures(user)
        delay = self.brake.wait(user)
        if ok:
            log.info("%s signed in from %s", shown, address)
        else:
            log.warning("failed sign-in as %r from %s (%d failures for this name; next check "
                        "in %.0f s at the earliest)", shown, address, failures, delay)
        try:
            self.publisher.publish_nowait(BOARD_SIGN_IN, {
                "user": shown, "address": address[:100], "ok": ok, "failures": failures,
                "delay": round(delay, 3)})
        except Exception as exc:  # the sign-in holds even when the bus does not
            self._limited.warning("sign-in event", f"could not publish a sign-in: {exc}")

    async def _logout(self, request: web.Request) -> web.Response:
        refused = self._cross_site(request)
        if refused is not None:
            return refused
        session = self.sessions.get(self._session_key(request))
        self.sessions.drop(self._session_key(request))
        if session is not None:
            log.info("%s signed out", session.user)
        response = web.json_response({"user": None})
        response.del_cookie(COOKIE, path="/")
        return response

    async def _signed_in_request(self, request: web.Request
                                 ) -> tuple[str, dict[str, Any] | None] | web.Response:
        """A state-changing request of a signed-in user from the board's own page: the user
        and the JSON body (None when unreadable), or the refusal."""
        refused = self._cross_site(request)
        if refused is not None:
            return refused
        session = self.sessions.get(self._session_key(request))
        if session is None:
            return web.json_response({"error": "sign in to command"}, status=401)
        if not csrf_ok(session, request.headers.get(CSRF_HEADER)):
            log.warning("refused a command of %s without its session token", session.user)
            return web.json_response({"error": "missing or wrong session token"}, status=403)
        return session.user, await self._body(request)

    async def _command(self, request: web.Request) -> web.Response:
        checked = await self._signed_in_request(request)
        if isinstance(checked, web.Response):
            return checked
        user, body = checked
        name = (body or {}).get("command")
        if not isinstance(name, str) or name not in COMMANDS:
            return web.json_response({"error": f"command must be one of {', '.join(COMMANDS)}"},
                                     status=400)
        topic, data, target = COMMANDS[name]
        return await self._send(user, name, topic, data, target_service=target)

    async def _alarm(self, request: web.Request) -> web.Response:
        """Acknowledge or mute an alarm: the command ``ocd alarms ack|mute`` sends, from the
        signed-in user, answered by ``ocd alarms watch``."""
        checked = await self._signed_in_request(request)
        if isinstance(checked, web.Response):
            return checked
        user, body = checked
        action, alarm, duration = ((body or {}).get(key) for key in ("action", "alarm", "for"))
        if not (isinstance(action, str) and action in ACTIONS
                and isinstance(alarm, str) and _ALARM_ID.match(alarm)):
            return web.json_response(
                {"error": f"expected {{\"action\": {' or '.join(map(repr, ACTIONS))}, "
                          "\"alarm\": an alarm id, \"for\": a duration to mute}"},
                status=400)
        try:
            topic, data = alarm_command(action, alarm, duration if isinstance(duration, str)
                                        else None)
        except UsageError as exc:
            return web.json_response({"error": str(exc).replace("--for ", "")}, status=400)
        return await self._send(user, f"alarm {action} {alarm}", topic, data, **TARGET)

    async def _send(self, user: str, name: str, topic: str, data: dict[str, Any],
                    **target: Any) -> web.Response:
        """Send one acknowledged command as ``board:USER``; its answer as JSON."""
        by = f"board:{user}"
        log.info("%s sends %s", by, name)
        try:
            async with self._command_lock:  # one board address: one command at a time
                ack = await send_command(self.cfg, topic, {**data, "by": by}, clock=self.clock,
                                         timeout=self.options.command_timeout, section="board",
                                         publisher=self.publisher, **target)
        except OcdError as exc:
            log.warning("%s: %s failed: %s", by, name, exc)
            return web.json_response({"ok": False, "message": str(exc), "by": None},
                                     status=504 if isinstance(exc, NoAnswer) else 502)
        log.info("%s: %s %s: %s (acknowledged by %s)", by, name,
                 "done" if ack.ok else "refused", ack.message, ack.by)
        return web.json_response({"ok": ack.ok, "message": ack.message, "by": ack.by})


async def _stop_listening(runner: web.AppRunner) -> None:
    """Close the listening sockets (the runner's cleanup then finds no site left to stop)."""
    for site in list(runner.sites):
        await site.stop()


@web.middleware
async def _security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    if not response.prepared:  # a WebSocket's headers are gone already
        response.headers.update(SECURITY_HEADERS)
    return response
