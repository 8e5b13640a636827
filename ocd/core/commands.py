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
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, Protocol

from ocd.errors import unknown_option

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
    return f"aborted by {by} at {when.astimezone(timezone.utc):%H:%M:%S} UTC"


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
    for section, option, _ in changes:
        rule = rules.get((section, option))
        if rule is None:
            refused.append(unknown_option(section, option, rules))
        elif rule.executes:
            refused.append(f"[{section}] {option} names what OCD executes: it never changes "
                           "at run time (set it in a file and restart ocd run)")
        elif not rule.modifiable:
            why = _WHY_NOT.get(rule.modify, "cannot change in a running ocd run")
            refused.append(f"[{section}] {option} {why}")
    return refused
