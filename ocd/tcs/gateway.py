"""The TCS gateway protocol: JSON commands over ZeroMQ DEALER/ROUTER.

A request is one frame (a JSON object)::

    {"id": "7f3c-12", "subsystem": "virus", "command": "expose", "params": {...}}

and the reply, sent when the command has completed, is one frame::

    {"id": "7f3c-12", "ok": true, "result": {...}}
    {"id": "7f3c-12", "ok": false, "error": "virus.expose: exposure aborted"}

The gateway binds a ROUTER socket; OCD connects a DEALER, so several commands can be in flight
(an ``abort`` while an ``expose`` runs). A REQ client works too: the gateway answers with the
same envelope frames it received. Commands and parameters: :data:`ocd.tcs.interface.COMMANDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
from typing import Any

import zmq
import zmq.asyncio

from ocd.bus import BindHint, BusSecurity, RateLimitedLog, bind
from ocd.bus.envelope import loads
from ocd.clock import Clock, real_seconds
from ocd.tcs.interface import Subsystems, TcsError, check_command

log = logging.getLogger(__name__)


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
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
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
            sock.connect(url)
            self._sockets[url] = sock
            self._readers[url] = asyncio.ensure_future(self._read(url, sock))
        return self._sockets[url]

    async def _read(self, url: str, sock: zmq.asyncio.Socket) -> None:
        while True:
            try:
                frames = await sock.recv_multipart()
            except zmq.ZMQError as exc:  # the socket is gone: the waiting commands time out
                log.error("gateway %s: receiving failed: %s", url, exc)
                return
            try:
                reply = loads(frames[-1])
                future = self._waiting.pop(str(reply["id"]))
            except (ValueError, KeyError, TypeError):
                self._limited.warning("reply", f"gateway {url}: ignoring a malformed or "
                                      f"unexpected reply {frames[-1][:200]!r}")
                continue
            if not future.done():
                future.set_result(reply)

    async def command(self, subsystem: str, command: str, **params: Any) -> dict[str, Any]:
        check_command(subsystem, command, params)
        url = self.urls.get(subsystem)
        if not url:
            raise TcsError(f"no gateway address for subsystem {subsystem} ([urls] {subsystem})")
        request_id = f"{self._prefix}-{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        request = {"id": request_id, "subsystem": subsystem, "command": command,
                   "params": params}
        ocd_timeout = self.timeout + (float(params["seconds"]) if command == "expose" else 0.0)
        wait = real_seconds(self.clock, ocd_timeout) + 5.0
        try:
            await self._socket(url).send(json.dumps(request).encode())
            reply = await asyncio.wait_for(future, wait)
        except asyncio.TimeoutError:
            raise TcsError(f"no reply from the {subsystem} gateway at {url} to "
                           f"{subsystem}.{command} within {wait:.0f} s") from None
        finally:
            self._waiting.pop(request_id, None)
        if not reply.get("ok"):
            raise TcsError(str(reply.get("error") or f"{subsystem}.{command} failed"))
        result = reply.get("result")
        return result if isinstance(result, dict) else {}

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
        else:
            try:
                result = await self.subsystems.command(subsystem, command, **params)
                reply = {"id": request_id, "ok": True, "result": result}
            except TcsError as exc:
                reply = {"id": request_id, "ok": False, "error": str(exc)}
            except Exception as exc:  # a bad parameter value, say: one request, not the server
                self._limited.log(logging.ERROR, "failed", f"gateway {self.url}: "
                                  f"{subsystem[:40]}.{command[:40]} failed: "
                                  f"{type(exc).__name__}: {str(exc)[:200]}")
                reply = {"id": request_id, "ok": False,
                         "error": f"{subsystem}.{command} failed: {type(exc).__name__}"}
        self.served += 1
        await self.sock.send_multipart([*envelope, json.dumps(reply).encode()])

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        self.sock.close(linger=0)
