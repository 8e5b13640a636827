"""``ocd alarms list|ack|mute``: one-shot commands on the alarm watcher (``ocd alarms watch``).

``ack`` and ``mute`` are acknowledged commands, as ``ocd allow_hetdex``: sent on the
commanders' address, answered by the watcher on ``ocd.alarm.ack``, exit 0 only when it says
``ok``. ``list`` prints the watcher's next ``ocd.alarm.list``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import re
from typing import Any

from ocd.app.commander import check, send_command
from ocd.bus import Subscriber, bus_context, security_from_config, sources_of
from ocd.config import Config
from ocd.core import events as ev
from ocd.core import topics
from ocd.errors import OcdError, UsageError, printable_lines
from ocd.shell.clock_source import choose_clock_now

SERVICE = "ocd_alarms"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")
_UNIT_MINUTES = {"s": 1 / 60, "m": 1.0, "": 1.0, "h": 60.0}


def minutes_of(text: str) -> float:
    """``30m``, ``2h``, ``90s`` or a bare number of minutes -> minutes (UsageError else)."""
    found = _DURATION.match(text)
    minutes = float(found.group(1)) * _UNIT_MINUTES[found.group(2)] if found else 0.0
    if not 0 < minutes <= 1440:
        raise UsageError(f"--for {text[:40]!r}: give a duration above 0 and at most 24h, "
                         "e.g. 30m, 2h or 90s")
    return minutes


def _timeout(cfg: Config, timeout: float | None) -> float:
    return timeout if timeout is not None else cfg.get_float("allow_hetdex", "timeout")


#: Where an alarm command goes: the watcher answers it (``send_command``'s target arguments).
TARGET: dict[str, Any] = {"target_service": SERVICE, "targets": (SERVICE,),
                          "target_name": "ocd alarms watch"}
#: The actions of ``ocd alarms`` that command the watcher, and their topics.
ACTIONS = {"ack": topics.COMMAND_ALARM_ACK, "mute": topics.COMMAND_ALARM_MUTE}


def alarm_command(action: str, alarm: str, duration: str | None = None
                  ) -> tuple[str, dict[str, Any]]:
    """The topic and data of ``ocd alarms ack ALARM`` or ``ocd alarms mute ALARM --for
    DURATION`` (the board sends the same); UsageError for a duration out of range."""
    if action == "mute":
        return ACTIONS[action], {"alarm": alarm, "minutes": minutes_of(duration or "")}
    return ACTIONS[action], {"alarm": alarm}


def _send(cfg: Config, command: tuple[str, dict[str, Any]], timeout: float | None) -> int:
    topic, data = command
    ack = asyncio.run(send_command(cfg, topic, {**data, "by": _user()},
                                   clock=choose_clock_now(cfg).clock,
                                   timeout=_timeout(cfg, timeout), **TARGET))
    print(printable_lines(check(ack)))
    return 0


def _user() -> str:
    """Who runs the command, as the acknowledgement records it."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return name[:64] if name.isprintable() and name else "unknown"


def acknowledge(cfg: Config, alarm: str, timeout: float | None) -> int:
    return _send(cfg, alarm_command("ack", alarm), timeout)


def mute(cfg: Config, alarm: str, duration: str, timeout: float | None) -> int:
    return _send(cfg, alarm_command("mute", alarm, duration), timeout)


def _shown(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%H:%M:%S UTC")


def line_of(alarm: ev.AlarmNotice) -> str:
    """One alarm as ``ocd alarms list`` prints it."""
    extra = f" by {alarm.by}" if alarm.by else ""
    if alarm.muted_until is not None:
        extra += f" until {_shown(alarm.muted_until)}"
    return (f"{(alarm.severity or '?').upper():8} {alarm.alarm or '?':18} {alarm.state or '?'}"
            f"{extra} since {_shown(alarm.since)}: {alarm.reason or ''}")


async def _next_list(cfg: Config, timeout: float) -> ev.AlarmList:
    ctx = bus_context(security_from_config(cfg))
    try:
        with Subscriber.from_config(ctx, cfg, sources_of(cfg, [SERVICE]),
                                    [topics.ALARM_LIST], log_gaps=False) as subscriber:
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                left = deadline - asyncio.get_running_loop().time()
                try:
                    event = await subscriber.recv(timeout=max(0.0, left))
                except TimeoutError:
                    raise OcdError(f"no ocd alarms watch published its list within "
                                   f"{timeout:g} s") from None
                decoded = ev.decode(event.topic, event.payload)
                if isinstance(decoded, ev.AlarmList):
                    return decoded
    finally:
        ctx.term()


def list_alarms(cfg: Config, timeout: float | None) -> int:
    """Print every alarm not normal (exit 0; "no alarm" when none)."""
    wait = timeout if timeout is not None else 2 * cfg.get_float("alarms", "list_interval") + 2
    listed = asyncio.run(_next_list(cfg, wait))
    lines = [line_of(alarm) for alarm in listed.alarms] or ["no alarm"]
    print(printable_lines("\n".join(lines)))
    return 0
