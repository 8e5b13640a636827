"""One-shot control commands (``allow_hetdex``, ``abort``, ``config send``): publish a command
on the ``ocd_allow_hetdex`` address and wait until a main loop (or a shot process) acknowledges.

Built on :func:`ocd.bus.send_acknowledged`, so a command is never fired and forgotten: the
command exits 0 only when the acknowledgement says ``ok``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import zmq.asyncio

from ocd.bus import Event, Publisher, Subscriber, connect_urls, send_acknowledged
from ocd.clock import clock_from_config
from ocd.config import Config
from ocd.errors import OcdError

ACK_TOPICS = ("ocd.main_loop.ack", "ocd.run_shot.ack")


@dataclass(frozen=True)
class Acknowledgement:
    ok: bool
    message: str
    by: str


async def send_command(cfg: Config, topic: str, data: dict[str, Any], *, timeout: float,
                       target_service: str | None = "ocd_main_loop") -> Acknowledgement:
    """Publish ``topic`` with ``data`` plus a fresh ``id``; return the acknowledgement."""
    request_id = uuid.uuid4().hex
    targets = connect_urls(cfg, ["ocd_main_loop", "ocd_run_shot"])

    def is_ack(event: Event) -> bool:
        return event.topic in ACK_TOPICS and event.payload.get("id") == request_id

    ctx = zmq.asyncio.Context()
    try:
        with Publisher.for_service(ctx, cfg, "ocd_allow_hetdex", "allow_hetdex",
                                   clock=clock_from_config(cfg)) as publisher, \
                Subscriber.from_config(ctx, cfg, targets,
                                       ["ocd.heartbeat.reply", *ACK_TOPICS]) as subscriber:
            event = await send_acknowledged(
                publisher, subscriber, topic, {**data, "id": request_id}, is_ack=is_ack,
                timeout=timeout, target_urls=connect_urls(cfg, ["ocd_main_loop"]),
                target_service=target_service)
    finally:
        ctx.term()
    return Acknowledgement(bool(event.payload.get("ok")), str(event.payload.get("message", "")),
                           event.origin or "?")


def check(ack: Acknowledgement) -> str:
    """The acknowledgement's message, or an :class:`OcdError` when it refused."""
    if not ack.ok:
        raise OcdError(f"refused by {ack.by}: {ack.message}")
    return f"{ack.message} (acknowledged by {ack.by})"
