"""Which main loop drives a TCS: the claims a gateway keeps (one main loop per telescope).

Every ``ocd run`` claims each gateway it drives when it starts and renews the claim while it
runs (``gateway.claim``, see :mod:`ocd.tcs.gateway`); a claim is a lease of ``lease`` real
seconds. The gateway grants the telescope to one main loop at a time and tells every claimant
who holds it and which other main loops claimed it meanwhile, so that a second main loop
refuses to start and a main loop that finds a competitor while it runs stops automatic shots.
A starting main loop that is refused is not remembered (it goes away); a running one is, so
that the holder learns of it too. Pure: the caller gives the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ocd.errors import printable

#: Longest text of one identity field; most addresses in one identity; most main loops a
#: gateway remembers (ids are the sender's choice: bounded).
_TEXT_MAX = 200
_ADDRESSES_MAX = 8
_REMEMBERED = 16
#: Range of a lease, real seconds.
LEASE_MIN, LEASE_MAX = 0.5, 600.0


class ClaimError(ValueError):
    """A claim that is not one (a malformed identity or lease)."""


@dataclass(frozen=True)
class Identity:
    """Who a main loop is: its bus origin, host, process id, start time and addresses."""

    origin: str
    host: str
    pid: int
    started: str
    addresses: tuple[str, ...] = ()

    def as_payload(self) -> dict[str, Any]:
        return {"origin": self.origin, "host": self.host, "pid": self.pid,
                "started": self.started, "addresses": list(self.addresses)}

    def describe(self) -> str:
        """One line naming the main loop, control characters escaped (it came off the wire)."""
        where = f" publishing on {', '.join(self.addresses)}" if self.addresses else ""
        return printable(f"{self.origin} (process {self.pid} on {self.host}, started "
                         f"{self.started}){where}")


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or len(value) > _TEXT_MAX:
        raise ClaimError(f"'{name}' must be a text of 1 to {_TEXT_MAX} characters")
    return value


def identity_of(data: Any) -> Identity:
    """The identity in a claim or a reply, checked field by field (hostile input)."""
    if not isinstance(data, dict):
        raise ClaimError("'main_loop' must be an object")
    pid = data.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 2**31:
        raise ClaimError("'pid' must be a process id")
    addresses = data.get("addresses", [])
    if not isinstance(addresses, list) or len(addresses) > _ADDRESSES_MAX or not all(
            isinstance(a, str) and 0 < len(a) <= _TEXT_MAX for a in addresses):
        raise ClaimError(f"'addresses' must be a list of at most {_ADDRESSES_MAX} addresses")
    return Identity(_text(data, "origin"), _text(data, "host"), pid, _text(data, "started"),
                    tuple(addresses))


def lease_of(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not LEASE_MIN <= value <= LEASE_MAX:
        raise ClaimError(f"'lease' must be a number of seconds from {LEASE_MIN:g} to "
                         f"{LEASE_MAX:g}")
    return float(value)


@dataclass
class _Claim:
    identity: Identity
    expires: float


class Claims:
    """The claims one gateway keeps: the holder and the other main loops seen running."""

    def __init__(self) -> None:
        self.holder: str | None = None
        self._claims: dict[str, _Claim] = {}

    def _forget_expired(self, now: float) -> None:
        for origin in [o for o, c in self._claims.items() if c.expires <= now]:
            del self._claims[origin]
        if self.holder not in self._claims:
            self.holder = None

    def claim(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        """Answer ``gateway.claim``: ``{"granted", "holder", "others", "expires_in"}``.

        ``params``: ``main_loop`` (an identity), ``lease`` (seconds), ``running`` (false
        while the main loop starts: refused, it is not remembered) and ``replaces`` (the
        origin of a holder the claimant found dead on its own host: granted at once)."""
        me = identity_of(params.get("main_loop"))
        lease = lease_of(params.get("lease"))
        running = params.get("running") is True
        replaces = params.get("replaces")
        self._forget_expired(now)
        if self.holder is not None and replaces == self.holder != me.origin:
            del self._claims[self.holder]
            self.holder = None
        if self.holder is None:
            self.holder = me.origin
        granted = self.holder == me.origin
        if granted or running:
            self._claims.pop(me.origin, None)
            self._claims[me.origin] = _Claim(me, now + lease)
            while len(self._claims) > _REMEMBERED:  # the oldest claimant that is not the holder
                oldest = next(o for o in self._claims if o != self.holder)
                del self._claims[oldest]
        holder = self._claims[self.holder]
        return {"granted": granted, "holder": holder.identity.as_payload(),
                "expires_in": round(max(0.0, holder.expires - now), 3),
                "others": [c.identity.as_payload() for o, c in self._claims.items()
                           if o != me.origin]}

    def release(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        """Answer ``gateway.release``: the main loop stops; a new one may start at once."""
        me = identity_of(params.get("main_loop"))
        self._forget_expired(now)
        released = self._claims.pop(me.origin, None) is not None and self.holder == me.origin
        if self.holder == me.origin:
            self.holder = None
        if self.holder is None and self._claims:  # a running competitor takes it over
            self.holder = next(iter(self._claims))
        return {"released": released}
