"""One main loop per telescope, on the telescope itself: the claims of ``ocd run`` on the TCS
gateways it drives (the protocol: :mod:`ocd.tcs.claims`).

At start the main loop claims each gateway: a gateway held by another main loop that renews
its claim refuses it, and ``ocd run`` stops with one line naming the other (a holder that is
a dead process on this host, or that stops renewing within its lease, is replaced). While it
runs it renews its claims every quarter lease; a gateway that names another main loop (a
competitor that started while this one was stopped, or that this one was refused for) makes
it stop automatic shots, said in one line. It releases its claims when it stops, so that the
next ``ocd run`` starts at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from ocd.errors import OcdError
from ocd.tcs.claims import ClaimError, Identity, identity_of
from ocd.tcs.gateway import GATEWAY, GatewayClient
from ocd.tcs.interface import TcsError

log = logging.getLogger(__name__)

#: Real seconds a claim may wait for its reply at start and when released (a gateway not up
#: yet is claimed by the renewals once it answers).
_START_WAIT = 2.0
#: Real seconds over a holder's lease a starting main loop waits for it to renew.
_LEASE_MARGIN = 0.5


def identity(origin: str, addresses: list[str]) -> Identity:
    """This process as a main loop: its origin, host, pid, start time and addresses."""
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return Identity(origin, socket.gethostname(), os.getpid(), started, tuple(addresses))


def dead_here(other: Identity, me: Identity) -> bool:
    """Whether ``other`` is a process of this host that is gone (a main loop killed with
    ``kill -9``: its lease need not be waited for)."""
    if other.host != me.host or other.pid == me.pid:
        return False
    try:
        os.kill(other.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


class TcsGuard:
    """The claims of one main loop on the gateways of its client."""

    def __init__(self, client: GatewayClient, me: Identity, lease: float,
                 on_competitor: Callable[[str, bool], None]) -> None:
        self.client, self.me, self.lease = client, me, lease
        self.on_competitor = on_competitor
        #: Gateways that do not know claims (an older gateway): said once, not guarded.
        self._unguarded: set[str] = set()
        #: Competitors seen at the last renewal (each said once while it lasts).
        self._reported: set[str] = set()

    async def _claim(self, url: str, wait: float, *, running: bool,
                     replaces: str | None = None) -> dict[str, Any] | None:
        """The gateway's answer to a claim; None if it has none (no reply, or no claims)."""
        params: dict[str, Any] = {"main_loop": self.me.as_payload(), "lease": self.lease,
                                  "running": running}
        if replaces is not None:
            params["replaces"] = replaces
        try:
            return await self.client.request(url, GATEWAY, "claim", params, wait)
        except TcsError as exc:
            if "unknown subsystem" in str(exc) and url not in self._unguarded:
                self._unguarded.add(url)
                log.warning("the gateway at %s does not take claims (%s): a second main loop "
                            "on that telescope would not be seen there", url, exc)
            elif "unknown subsystem" not in str(exc):
                log.info("claiming the gateway at %s: %s", url, exc)
            return None

    async def claim_at_start(self) -> None:
        """Claim every gateway; OcdError naming the main loop that holds one and renews."""
        for url in self.client.gateways():
            answer = await self._claim(url, _START_WAIT, running=False)
            if answer is None or answer.get("granted") is True:
                continue
            holder = self._holder(answer)
            replaces = holder.origin if dead_here(holder, self.me) else None
            if replaces is None:  # alive or elsewhere: granted only if it does not renew
                expires_in = answer.get("expires_in")
                wait = float(expires_in) if isinstance(expires_in, (int, float)) else 0.0
                await asyncio.sleep(min(max(wait, 0.0), self.lease) + _LEASE_MARGIN)
            answer = await self._claim(url, _START_WAIT, running=False, replaces=replaces)
            if answer is not None and answer.get("granted") is not True:
                raise OcdError(f"another ocd run drives the telescope at {url}: "
                               f"{self._holder(answer).describe()}; stop it first (one main "
                               "loop per telescope)")

    @staticmethod
    def _holder(answer: dict[str, Any]) -> Identity:
        try:
            return identity_of(answer.get("holder"))
        except ClaimError as exc:
            raise OcdError(f"a gateway answered a claim with a bad holder: {exc}") from None

    async def keep(self) -> None:
        """Forever: renew the claims every quarter lease and report competitors."""
        while True:
            await asyncio.sleep(self.lease / 4)
            for url in self.client.gateways():
                answer = await self._claim(url, self.lease / 2, running=True)
                if answer is not None:
                    self._check(url, answer)

    def _check(self, url: str, answer: dict[str, Any]) -> None:
        others = answer.get("others")
        rivals: list[Any] = list(others) if isinstance(others, list) else []
        if answer.get("granted") is not True:
            rivals.insert(0, answer.get("holder"))
        names = []
        for rival in rivals[:4]:
            try:
                names.append(identity_of(rival).describe())
            except ClaimError:
                names.append("a main loop that did not say who it is")
        new = any(name not in self._reported for name in names)
        self._reported = set(names)
        if names:  # at every renewal while it lasts: automatic shots stay forbidden
            self.on_competitor(f"another ocd run drives the telescope at {url}: "
                               f"{'; '.join(names)}", new)

    async def release(self) -> None:
        """Give the claims up (the main loop stops): the next one need not wait a lease."""
        params = {"main_loop": self.me.as_payload()}
        for url in self.client.gateways():
            if url in self._unguarded:
                continue
            try:
                await self.client.request(url, GATEWAY, "release", params, _START_WAIT)
            except TcsError as exc:
                log.info("releasing the gateway at %s: %s", url, exc)
