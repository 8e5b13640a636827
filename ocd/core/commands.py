"""The rules of one-shot commands (``allow_hetdex``, ``abort``, ``config send``), shared by
every process that answers them (``ocd run`` and ``ocd run_shot -e``) and by the CLI that
sends them, so both ends agree.

- A command carries an ``id``; a process acts on each ``id`` once, however often it arrives
  (a repeated send must not abort two shots), and remembers a bounded number of them.
- Every command is acknowledged on the answering process's ``*.ack`` topic with the same ``id``;
  a command may name the user behind it (``by``), and the acknowledgement then says so.
- ``config send`` may change only options whose master-file marker is ``{conf modifiable}``,
  and never an option naming a program OCD runs or its arguments: no message can make OCD
  execute anything.
- A command is fresh: it carries its creation time (``created``, real Unix seconds) and a random
  ``nonce``; ``ocd run`` refuses one made before it started, older than
  ``[security] command_max_age``, or whose nonce it already received with another id (the same
  command again is a sender's resend, ignored as any repeated id; see :class:`Freshness`).
- A sent value is data: it is never interpolated, so ``${...}`` (a reference to another option
  or to the environment, a feature of files only) is refused; an answer quotes only the
  sender's own value, cut short. A secret is never sendable, so it never travels on the bus.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from ocd.errors import unknown_option
from ocd.timetext import hms_utc

#: How many request ids a process remembers (oldest forgotten first). A client that repeats a
#: request does so within seconds, so a few thousand ids cover any honest sender.
REQUEST_MEMORY = 4096


class RequestLog:
    """The request ids already acted on, bounded to ``capacity`` (least recent forgotten)."""

    def __init__(self, capacity: int = REQUEST_MEMORY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._seen

    def first_time(self, request_id: str) -> bool:
        """True the first time ``request_id`` is seen (and remember it); False for a repeat."""
        if request_id in self._seen:
            self._seen.move_to_end(request_id)
            return False
        self._seen[request_id] = None
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True


#: Length in characters of a command's nonce (hexadecimal: 128 random bits).
NONCE_LENGTH = 32
#: Seconds a command's creation time may lie ahead of the receiver's clock (same host: the
#: same clock, read a little later by the sender than the receiver's start).
FUTURE_SLACK = 2.0


def command_nonce(payload: Mapping[str, Any]) -> str | None:
    """The command's ``nonce`` if it is a hexadecimal text of :data:`NONCE_LENGTH`."""
    value = payload.get("nonce")
    if isinstance(value, str) and len(value) == NONCE_LENGTH and \
            all(c in "0123456789abcdef" for c in value):
        return value
    return None


def command_created(payload: Mapping[str, Any]) -> float | None:
    """The command's creation time (``created``, real Unix seconds) if it is a finite number."""
    value = payload.get("created")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and \
            value == value and abs(value) < 1e11:
        return float(value)
    return None


#: :meth:`Freshness.refusal`'s verdict on the same command again (same nonce, same id): a
#: sender resends until it is acknowledged, so a repeat is ignored, without an answer.
REPEATED = "repeated"


class Freshness:
    """Refuses a replayed command: one made before this process started (a frame captured
    earlier and re-sent after a restart), older than ``max_age`` seconds, made in the future,
    or whose nonce was already received under another id. Nonces are remembered only while a
    command bearing them could still be fresh, so memory is bounded by the window (and the
    bus's rate limit).
    """

    def __init__(self, max_age: float, started: float) -> None:
        self.max_age = max_age
        self.started = started
        #: nonce -> (the id it came with, when it expires)
        self._nonces: OrderedDict[str, tuple[str | None, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._nonces)

    def refusal(self, created: float | None, nonce: str | None, request: str | None,
                now: float) -> str | None:
        """Why the command cannot be obeyed, :data:`REPEATED` for the same command again,
        None when it is fresh (its nonce is then remembered). Times are real Unix seconds."""
        self._forget(now)
        if created is None or nonce is None:
            return ("a command must carry its creation time ('created') and a nonce of "
                    f"{NONCE_LENGTH} hexadecimal characters")
        if created < self.started:
            return "refused: the command was made before this ocd run started (a replay?)"
        age = now - created
        if age > self.max_age:
            return (f"refused: the command was made {age:.0f} s ago, more than [security] "
                    f"command_max_age = {self.max_age:g} s (a replay?)")
        if age < -FUTURE_SLACK:
            return f"refused: the command was made {-age:.0f} s in the future"
        if nonce in self._nonces:
            if self._nonces[nonce][0] == request:
                return REPEATED
            return "refused: a command with this nonce was already received (a replay?)"
        self._nonces[nonce] = (request, created + self.max_age)
        return None

    def _forget(self, now: float) -> None:
        """Drop the nonces of commands too old to be accepted again anyway (in arrival
        order: one arriving late is kept a little longer, never forgotten early)."""
        while self._nonces:
            nonce, (_, expires) = next(iter(self._nonces.items()))
            if expires >= now:
                return
            del self._nonces[nonce]


def request_id(payload: Mapping[str, Any]) -> str | None:
    """The command's ``id`` if it is a non-empty string, else None (the command is ignored:
    without an id nobody can match an acknowledgement to it)."""
    value = payload.get("id")
    return value if isinstance(value, str) and value else None


#: Longest user name a command may carry in ``by``.
MAX_USER = 64


def requested_by(payload: Mapping[str, Any]) -> str | None:
    """The user a command names (``by``, e.g. ``board:alice``), or None when it names none
    (or not as a short printable text). A claim of the sending process, kept for the record:
    who may send at all is the bus's business."""
    value = payload.get("by")
    if isinstance(value, str) and 0 < len(value) <= MAX_USER and value.isprintable():
        return value
    return None


def sender(payload: Mapping[str, Any]) -> str:
    """Who sent the command: its publisher (``__origin``), after the user it names if any
    (``board:alice via ocd_allow_hetdex@host:42``)."""
    value = payload.get("__origin")
    origin = value if isinstance(value, str) and value else "unknown"
    user = requested_by(payload)
    return f"{user} via {origin}" if user else origin


def abort_reason(by: str, when: datetime) -> str:
    """The ``exc_value`` of a shot aborted on request: who sent ``ocd abort`` (as
    :func:`sender` says) and when (UTC, to the second), for whoever reads the shot's end."""
    return f"aborted by {by} at {hms_utc(when)}"


def by_user(payload: Mapping[str, Any]) -> str:
    """`` by USER`` for an acknowledgement's message when the command names a user, else
    nothing."""
    user = requested_by(payload)
    return f" by {user}" if user else ""


def ack_payload(request: str, command: str, ok: bool, message: str,
                by: str = "unknown") -> dict[str, Any]:
    """The acknowledgement of command ``command`` with id ``request``, sent by ``by`` (its
    ``__origin``: whoever reads the acknowledgement alone knows whose command it answers)."""
    return {"id": request, "command": command, "ok": ok, "message": message, "by": by}


class OptionRule(Protocol):
    """What the rules need to know of an option (``ocd.config.OptionSpec`` is one)."""

    @property
    def modifiable(self) -> bool: ...

    @property
    def modify(self) -> str: ...

    @property
    def executes(self) -> bool: ...

    @property
    def secret(self) -> bool: ...


def parse_changes(value: Any) -> tuple[tuple[str, str, str], ...] | None:
    """The ``changes`` of a ``config_send`` payload as (section, option, value) triples, or
    None when it is not a list of three strings each."""
    if not isinstance(value, list):
        return None
    changes = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 3
                and all(isinstance(part, str) for part in item)):
            return None
        changes.append((item[0], item[1], item[2]))
    return tuple(changes)


#: Why an option that is not ``{conf modifiable}`` cannot change at run time, in words (the
#: marker itself is the configuration file's business).
_WHY_NOT = {
    "conf static": "is read only when ocd run starts: it cannot change in a running ocd run "
                   "(restart it with the new value)",
    "conf do not modify": "is part of the contract with the TCS or the database: it cannot "
                          "change in a running ocd run, and should not change at all",
}


def refused_changes(changes: Iterable[tuple[str, str, str]],
                    rules: Mapping[tuple[str, str], OptionRule]) -> list[str]:
    """Why each change that may not happen at run time is refused (empty: all may)."""
    refused = []
    for section, option, value in changes:
        rule = rules.get((section, option))
        if rule is None:
            refused.append(unknown_option(section, option, rules))
        elif rule.executes:
            refused.append(f"[{section}] {option} names what OCD executes: it never changes "
                           "at run time (set it in a file and restart ocd run)")
        elif rule.secret:
            refused.append(f"[{section}] {option} is a secret: it never travels on the bus "
                           "(set it in a file or the environment and restart ocd run)")
        elif not rule.modifiable:
            why = _WHY_NOT.get(rule.modify, "cannot change in a running ocd run")
            refused.append(f"[{section}] {option} {why}")
        elif REFERENCE_MARK in value:
            refused.append(f"[{section}] {option}: a value sent at run time is taken as "
                           f"written, and '{REFERENCE_MARK}' (a reference to another option or "
                           "to the environment) works only in files")
    return refused


#: What starts a reference in a configuration file, refused in a sent value.
REFERENCE_MARK = "${"

