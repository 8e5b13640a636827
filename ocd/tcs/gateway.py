"""The TCS gateway protocol: JSON commands over ZeroMQ DEALER/ROUTER.

A request is one frame (a JSON object)::

    {"id": "7f3c-12", "subsystem": "virus", "command": "expose", "params": {...}}

and the reply, sent when the command has completed, is one frame::

    {"id": "7f3c-12", "ok": true, "result": {...}}
    {"id": "7f3c-12", "ok": false, "error": "virus.expose: exposure aborted"}

The gateway binds a ROUTER socket; OCD connects a DEALER, so several commands can be in flight
(an ``abort`` while an ``expose`` runs). A REQ client works too: the gateway answers with the
same envelope frames it received. Commands and parameters: :data:`ocd.tcs.interface.COMMANDS`.

The gateway itself answers subsystem ``gateway``: ``claim`` and ``release``, by which each main
loop says it drives this telescope (its identity and a lease of real seconds), so that a second
main loop finds the first one here whatever bus addresses each uses (:mod:`ocd.tcs.claims`).

A command survives a gateway that goes away and comes back while it is pending: the request is
sent again, unchanged (same ``id``), when the connection is made again, and the gateway treats a
repeated ``id`` as the same command (joined while it runs, its reply sent again once done), so a
re-send never runs a command twice on a gateway that kept running. A reply is awaited in short
slices of awake time, so that a process stopped for a while (SIGSTOP, a long pause) reads the
replies that came meanwhile before it judges a command timed out.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from ocd.bus import BindHint, BusSecurity, RateLimitedLog, bind
from ocd.bus.envelope import loads
from ocd.clock import Clock, real_seconds
from ocd.errors import printable
from ocd.tcs.claims import ClaimError, Claims, identity_of
from ocd.tcs.interface import Subsystems, TcsError, check_command

log = logging.getLogger(__name__)

#: Real seconds of one slice of the wait for a reply: a slice that took much longer than this
#: means the process was stopped (SIGSTOP, a long pause), and the time lost does not count.
_SLICE = 1.0
#: Real seconds a slice may overrun before the overrun counts as a stall.
_STALL = 1.0
#: Request ids a client remembers as answered (a repeated reply is then no surprise), and
#: requests a gateway remembers to answer a repeated id (bounded: ids are the sender's choice).
_REMEMBERED = 256
#: Most requests with one id answered when it is done (the newest ones).
_ENVELOPES = 4
#: Longest request id a gateway remembers (a longer one is served, never de-duplicated).
_ID_MAX = 200
#: The subsystem name of the gateway's own commands (:mod:`ocd.tcs.claims`).
GATEWAY = "gateway"


@dataclass
class _Pending:
    """A command sent and not answered yet: what to send again when its gateway comes back."""

    url: str
    what: str  # subsystem.command
    frame: bytes
    future: asyncio.Future[dict[str, Any]]
    #: How many times it was sent again; the wait for its reply starts over each time.
    resent: int = 0


class GatewayClient:
    """:class:`~ocd.tcs.interface.Subsystems` over the gateway protocol.

    ``urls`` maps each subsystem to its gateway address (several may share one). A command that
    gets no reply within its timeout (``timeout`` OCD-clock seconds, plus the exposure time for
    ``virus.expose``) raises :class:`TcsError`.
    """

    def __init__(self, ctx: zmq.asyncio.Context, urls: dict[str, str], clock: Clock,
                 timeout: float = 600.0, security: BusSecurity | None = None) -> None:
        self.ctx = ctx
        self.security = security or BusSecurity()
        self.urls = urls
        self.clock = clock
        self.timeout = timeout
        self._sockets: dict[str, zmq.asyncio.Socket] = {}
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._pending: dict[str, _Pending] = {}
        self._answered: OrderedDict[str, None] = OrderedDict()
        self._ids = itertools.count(1)
        self._prefix = f"{os.getpid()}-{id(self):x}"
        self._limited = RateLimitedLog(log, 10.0)

    def _socket(self, url: str) -> zmq.asyncio.Socket:
        if url not in self._sockets:
            sock = self.ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            self.security.client(sock, tcs=True)
            sock.setsockopt(zmq.RECONNECT_IVL, 100)
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
            sock.setsockopt(zmq.HEARTBEAT_IVL, 2000)
            sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 6000)
            monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED
                                              | zmq.EVENT_HANDSHAKE_SUCCEEDED)
            sock.connect(url)
            self._sockets[url] = sock
            self._readers[url] = asyncio.ensure_future(self._read(url, sock))
            self._readers[f"monitor {url}"] = asyncio.ensure_future(
                self._watch(url, sock, monitor))
        return self._sockets[url]

    async def _watch(self, url: str, sock: zmq.asyncio.Socket,
                     monitor: zmq.asyncio.Socket) -> None:
        """When the gateway at ``url`` comes back after the connection was lost (restarted,
        or the network back), send again every command still pending there."""
        lost = False
        try:
            while True:
                event = parse_monitor_message(await monitor.recv_multipart())["event"]
                if event == zmq.EVENT_DISCONNECTED:
                    if not lost:
                        pending = self._which(url)
                        log.warning("gateway %s: connection lost%s", url,
                                    f" with {pending} pending" if pending else "")
                    lost = True
                elif lost:
                    lost = False
                    await self._resend(url, sock)
        except zmq.ZMQError:
            return
        finally:
            with contextlib.suppress(zmq.ZMQError):
                sock.disable_monitor()
            monitor.close(linger=0)

    def _which(self, url: str) -> str:
        names = [f"{p.what} ({request_id})" for request_id, p in self._pending.items()
                 if p.url == url and not p.future.done()]
        return ", ".join(names)

    async def _resend(self, url: str, sock: zmq.asyncio.Socket) -> None:
        pending = [p for p in self._pending.values() if p.url == url and not p.future.done()]
        if pending:
            log.warning("gateway %s is back: sending %s again (same id: a gateway that "
                        "kept it runs it once)", url, self._which(url))
        for request in pending:
            request.resent += 1
            await sock.send(request.frame)

    async def _read(self, url: str, sock: zmq.asyncio.Socket) -> None:
        while True:
            try:
                frames = await sock.recv_multipart()
            except zmq.ZMQError as exc:  # the socket is gone: the waiting commands time out
                log.error("gateway %s: receiving failed: %s", url, exc)
                return
            try:
                reply = loads(frames[-1])
                request_id = str(reply["id"])
            except (ValueError, KeyError, TypeError):
                reply, request_id = None, ""
            request = self._pending.pop(request_id, None)
            if request is None:
                if request_id not in self._answered:
                    self._limited.warning("reply", f"gateway {url}: ignoring a malformed or "
                                          f"unexpected reply {frames[-1][:200]!r}")
                continue  # else the second answer to a command sent twice: already taken
            self._remember(request_id)
            if not request.future.done():
                request.future.set_result(reply)

    def _remember(self, request_id: str) -> None:
        self._answered[request_id] = None
        while len(self._answered) > _REMEMBERED:
            self._answered.popitem(last=False)

    async def command(self, subsystem: str, command: str, **params: Any) -> dict[str, Any]:
        check_command(subsystem, command, params)
        url = self.urls.get(subsystem)
        if not url:
            raise TcsError(f"no gateway address for subsystem {subsystem} ([urls] {subsystem})")
        ocd_timeout = self.timeout + (float(params["seconds"]) if command == "expose" else 0.0)
        return await self.request(url, subsystem, command, params,
                                  real_seconds(self.clock, ocd_timeout) + 5.0)

    def gateways(self) -> list[str]:
        """Each gateway address once (several subsystems may share one)."""
        return list(dict.fromkeys(self.urls.values()))

    async def request(self, url: str, subsystem: str, command: str, params: dict[str, Any],
                      wait: float) -> dict[str, Any]:
        """Send one request to the gateway at ``url`` and return its result; TcsError if it
        fails or gets no reply within ``wait`` real seconds of awake time."""
        request_id = f"{self._prefix}-{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        frame = json.dumps({"id": request_id, "subsystem": subsystem, "command": command,
                            "params": params}).encode()
        pending = self._pending[request_id] = _Pending(url, f"{subsystem}.{command}", frame, future)
        try:
            await self._socket(url).send(frame)
            reply = await self._reply(pending, wait)
        except asyncio.TimeoutError:
            raise TcsError(f"no reply from the {subsystem} gateway at {url} to "
                           f"{subsystem}.{command} within {wait:.0f} s") from None
        finally:
            if self._pending.pop(request_id, None) is not None:
                self._remember(request_id)  # given up: a late answer is no surprise
        if not reply.get("ok"):
            raise TcsError(str(reply.get("error") or f"{subsystem}.{command} failed"))
        result = reply.get("result")
        return result if isinstance(result, dict) else {}

    @staticmethod
    async def _reply(pending: _Pending, wait: float) -> dict[str, Any]:
        """The reply within ``wait`` real seconds of awake time, counted again from the
        start when the command is sent again. Time the process spent stopped does not
        count: after a stall one more slice is waited, so a reply that came meanwhile is
        read before the command is judged timed out."""
        loop = asyncio.get_running_loop()
        remaining, resent = wait, pending.resent
        while True:
            slice_ = min(remaining, _SLICE)
            began = loop.time()
            await asyncio.wait({pending.future}, timeout=slice_)
            if pending.future.done():
                return pending.future.result()
            if pending.resent != resent:  # sent again: its time starts over
                remaining, resent = wait, pending.resent
                continue
            took = loop.time() - began
            if took > slice_ + _STALL:
                log.warning("stalled %.1f s while waiting for a gateway reply: the time "
                            "stopped does not count", took - slice_)
                remaining = max(remaining - slice_, _SLICE)
            else:
                remaining -= took
            if remaining <= 0:
                raise asyncio.TimeoutError

    async def close(self) -> None:
        for task in self._readers.values():
            task.cancel()
        for task in self._readers.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sock in self._sockets.values():
            sock.close(linger=0)
        self._sockets.clear()
        self._readers.clear()


@dataclass
class _Served:
    """A request a gateway runs or ran: its frame, every envelope that asked for it (a client
    that reconnected has a new one), and the reply once made."""

    body: bytes
    envelopes: list[list[bytes]] = field(default_factory=list)
    reply: bytes | None = None


class GatewayServer:
    """Serves the gateway protocol for ``subsystems`` on a bound ROUTER socket."""

    def __init__(self, ctx: zmq.asyncio.Context, url: str, subsystems: Subsystems,
                 hint: BindHint | None = None, security: BusSecurity | None = None) -> None:
        self.url = url
        security = security or BusSecurity()
        security.check_bind(url, tcs=True)
        self.subsystems = subsystems
        self.sock = ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        try:
            security.server(self.sock, "the TCS gateway", tcs=True)
            #: The bound address (with the real port when ``url`` asked for ``*``).
            self.endpoint = bind(self.sock, url, hint, what="the TCS gateway",
                                 advice="change [urls] tcs, virus, pfip and pas")
        except BaseException:
            self.sock.close(linger=0)
            raise
        self.tasks: set[asyncio.Task[None]] = set()
        self.served = 0
        #: The main loops that drive (or tried to drive) this telescope.
        self.claims = Claims()
        #: Recent requests by id: the request, where to answer, the reply once made.
        self._recent: OrderedDict[str, _Served] = OrderedDict()
        self._limited = RateLimitedLog(log, 10.0)

    async def serve(self) -> None:
        """Answer requests until cancelled; each runs in its own task."""
        while True:
            frames = await self.sock.recv_multipart()
            task = asyncio.ensure_future(self._answer(frames))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _answer(self, frames: list[bytes]) -> None:
        envelope, body = frames[:-1], frames[-1]
        request_id: Any = None
        try:
            request = loads(body)
            if not isinstance(request, dict):
                raise ValueError("not a JSON object")
            request_id = request.get("id")
            params = request.get("params", {})
            if not isinstance(params, dict):
                raise ValueError("'params' must be an object")
            subsystem, command = str(request.get("subsystem")), str(request.get("command"))
        except ValueError as exc:
            reply = {"id": request_id, "ok": False, "error": f"malformed request: {exc}"}
            await self._send([envelope], reply)
            return
        served = self._served(request_id, body, envelope)
        if served is None:  # a repeat: answered with the first
            return
        reply = await self._run(request_id, subsystem, command, params)
        served.reply = json.dumps(reply).encode()
        await self._send(served.envelopes, reply)

    def _served(self, request_id: Any, body: bytes, envelope: list[bytes]) -> _Served | None:
        """The record of a new request (a throwaway one when its id cannot be remembered);
        None for a repeated id (the same request sent again): its reply goes to the new
        envelope too, now if made, else when made."""
        if not isinstance(request_id, str) or len(request_id) > _ID_MAX:
            return _Served(body, [envelope])
        served = self._recent.get(request_id)
        if served is None:
            served = self._recent[request_id] = _Served(body, [envelope])
            while len(self._recent) > _REMEMBERED:
                self._recent.popitem(last=False)
            return served
        if served.body != body:  # the same id for another command: served on its own
            return _Served(body, [envelope])
        log.info("gateway %s: request %s again: %s", self.url, printable(request_id),
                 "answered again" if served.reply else "answered when done")
        if served.reply:
            self._spawn(self.sock.send_multipart([*envelope, served.reply]))
        else:  # one reply per request, as a REQ client needs
            served.envelopes = [*served.envelopes[-_ENVELOPES + 1:], envelope]
        return None

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, request_id: Any, subsystem: str, command: str,
                   params: dict[str, Any]) -> dict[str, Any]:
        try:
            if subsystem == GATEWAY:
                result = self._own(command, params)
            else:
                result = await self.subsystems.command(subsystem, command, **params)
            reply = {"id": request_id, "ok": True, "result": result}
        except (TcsError, ClaimError) as exc:
            reply = {"id": request_id, "ok": False, "error": str(exc)}
        except Exception as exc:  # a bad parameter value, say: one request, not the server
            self._limited.log(logging.ERROR, "failed", f"gateway {self.url}: "
                              f"{subsystem[:40]}.{command[:40]} failed: "
                              f"{type(exc).__name__}: {str(exc)[:200]}")
            reply = {"id": request_id, "ok": False,
                     "error": f"{subsystem}.{command} failed: {type(exc).__name__}"}
        return reply

    def _own(self, command: str, params: dict[str, Any]) -> dict[str, Any]:
        """The gateway's own commands: a main loop claims or releases this telescope."""
        now = asyncio.get_running_loop().time()
        if command == "claim":
            result = self.claims.claim(params, now)
            if not result["granted"] and params.get("running") is True:
                claimant = identity_of(params["main_loop"]).describe()
                holder = identity_of(result["holder"]).describe()
                self._limited.warning("claim", f"gateway {self.url}: two main loops drive "
                                      f"this telescope: {claimant} and the holder {holder}")
            return result
        if command == "release":
            return self.claims.release(params, now)
        raise TcsError(f"unknown command {GATEWAY}.{printable(command[:40])} "
                       "(known: claim, release)")

    async def _send(self, envelopes: list[list[bytes]], reply: dict[str, Any]) -> None:
        self.served += 1
        frame = json.dumps(reply).encode()
        for envelope in envelopes:
            await self.sock.send_multipart([*envelope, frame])

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        self.sock.close(linger=0)
