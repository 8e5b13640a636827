"""One-shot control commands (``allow_hetdex``, ``abort``, ``config send``): publish a command
on the ``ocd_allow_hetdex`` address and wait until a main loop (or a shot process) acknowledges.

Built on :func:`ocd.bus.send_acknowledged`, so a command is never fired and forgotten: the
command exits 0 only when the acknowledgement says ``ok``. A command is stamped with the clock
its caller chose (the CLI's: :func:`~ocd.shell.clock_source.choose_clock_now`, the running main
loop's when it runs a mock clock; the board's own).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocd.bus import (
    Event,
    Publisher,
    Subscriber,
    bus_context,
    connect_urls,
    security_from_config,
    send_acknowledged,
    sources_of,
)
from ocd.clock import Clock
from ocd.config import Config, Origin, literal, master_specs, parse_override
from ocd.core.commands import NONCE_LENGTH, refused_changes
from ocd.core.topics import (
    ACK_TOPICS,
    COMMAND_ABORT,
    COMMAND_ALLOW,
    COMMAND_CONFIG,
    HEARTBEAT_REPLY,
)
from ocd.errors import OcdError, UsageError, printable_lines
from ocd.shell.clock_source import choose_clock_now


@dataclass(frozen=True)
class Acknowledgement:
    ok: bool
    message: str
    by: str


async def send_command(cfg: Config, topic: str, data: dict[str, Any], *, clock: Clock,
                       timeout: float,
                       target_service: str | None = "ocd_main_loop",
                       section: str = "allow_hetdex",
                       publisher: Publisher | None = None,
                       subscribers: int = 1,
                       targets: tuple[str, ...] = ("ocd_main_loop", "ocd_run_shot"),
                       target_name: str = "ocd run") -> Acknowledgement:
    """Publish ``topic`` with ``data`` plus a fresh ``id`` on ``[urls] ocd_allow_hetdex`` at
    index ``[section] n_ocd_allow_hetdex`` (the board has its own), stamped on ``clock``;
    return the acknowledgement. A long-lived process passes the ``publisher`` it holds on
    that address (the board's), and then ``section`` and ``clock`` are its. ``subscribers``:
    send once that many processes subscribe to the command (see ``ocd allow_hetdex
    --subscribers``). ``targets``: the services that may answer, the first one's addresses
    waited for (``target_name`` names it in "no ... answered")."""
    request_id = uuid.uuid4().hex
    sources = sources_of(cfg, list(targets))

    def is_ack(event: Event) -> bool:
        return event.topic in ACK_TOPICS and event.payload.get("id") == request_id

    ctx = bus_context(security_from_config(cfg))
    try:
        with contextlib.ExitStack() as stack:
            if publisher is None:
                publisher = stack.enter_context(Publisher.first_free(
                    ctx, cfg, "ocd_allow_hetdex", section, clock=clock))
            subscriber = stack.enter_context(Subscriber.from_config(
                ctx, cfg, sources, [HEARTBEAT_REPLY, *ACK_TOPICS]))
            event = await send_acknowledged(
                publisher, subscriber, topic, {**data, **fresh_fields(), "id": request_id},
                is_ack=is_ack,
                timeout=timeout, target_urls=connect_urls(cfg, [targets[0]]),
                target_service=target_service, target_name=target_name,
                subscribers=subscribers)
    finally:
        ctx.term()
    return Acknowledgement(bool(event.payload.get("ok")), str(event.payload.get("message", "")),
                           event.origin or "?")


def fresh_fields() -> dict[str, Any]:
    """What makes a command fresh (:class:`ocd.core.commands.Freshness`): its creation time
    in real Unix seconds, whatever clock the bus runs on, and a random nonce."""
    return {"created": time.time(), "nonce": secrets.token_hex(NONCE_LENGTH // 2)}


def check(ack: Acknowledgement) -> str:
    """The acknowledgement's message, or an :class:`OcdError` when it refused."""
    if not ack.ok:
        raise OcdError(f"refused by {ack.by}: {ack.message}")
    return f"{ack.message} (acknowledged by {ack.by})"


def _timeout(cfg: Config, timeout: float | None) -> float:
    return timeout if timeout is not None else cfg.get_float("allow_hetdex", "timeout")


def allow_hetdex(cfg: Config, allowed: bool, timeout: float | None,
                 subscribers: int = 1) -> int:
    """``ocd allow_hetdex start|stop``: exit 0 once the main loop acknowledged."""
    if subscribers < 1:
        raise UsageError("--subscribers must be at least 1")
    ack = asyncio.run(send_command(cfg, COMMAND_ALLOW, {"allowed": allowed},
                                   clock=choose_clock_now(cfg).clock,
                                   timeout=_timeout(cfg, timeout), subscribers=subscribers))
    print(printable_lines(check(ack)))
    return 0


def abort(cfg: Config, timeout: float | None) -> int:
    """``ocd abort``: exit 0 once the process running the shot acknowledged."""
    ack = asyncio.run(send_command(cfg, COMMAND_ABORT, {}, clock=choose_clock_now(cfg).clock,
                                   timeout=_timeout(cfg, timeout), target_service=None))
    print(printable_lines(check(ack)))
    return 0


def config_send(cfg: Config, texts: list[str], timeout: float | None) -> int:
    """``ocd config send``: check the changes here (known, modifiable, well typed) with the
    same rules the main loop applies, then send them."""
    changes = [parse_override(text) for text in texts]
    refused = refused_changes(changes, master_specs())
    if refused:
        raise UsageError("; ".join(refused))
    for section, option, value in changes:
        cfg.check_value(section, option, literal(value), Origin("command line", Path.cwd()))
    ack = asyncio.run(send_command(cfg, COMMAND_CONFIG, {"changes": [list(c) for c in changes]},
                                   clock=choose_clock_now(cfg).clock,
                                   timeout=_timeout(cfg, timeout)))
    print(printable_lines(check(ack)))
    return 0
