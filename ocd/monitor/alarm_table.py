"""The alarms a monitor shows, as a pure model: the alarm watcher's events in, a panel out.

``ocd alarms watch`` decides (:mod:`ocd.core.alarms`); a monitor only follows what it says:
:class:`AlarmTable` keeps the active alarms (severity, rule, reason, since, acknowledged by
whom, muted until) from ``ocd.alarm.raised|cleared|acknowledged|muted`` and takes the
watcher's periodic ``ocd.alarm.list`` as the truth (a board started after an alarm was raised
learns it there), and keeps tonight's history of those events (bounded; a new night, from
local noon at the site, starts a new history). It counts the urgent alarms raised (critical
or serious, raised again included), so a page can beep once for each new one.

Everything here comes from the bus: the alarm ids are bounded in number and length, every
text is cut, every number was read finite by the decoder. A hostile publisher on the alarm
address (only the watcher's address is heard, :mod:`ocd.core.sources`) can make the table
show nonsense, never grow without bound.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from ocd.core.events import AlarmList, AlarmNotice

#: Severities, the least urgent first (:data:`ocd.core.alarms.SEVERITIES`); anything else
#: is shown as unknown, ranked below them.
SEVERITIES = ("warning", "serious", "critical")
#: The severities that beep on a page whose sound is on.
URGENT = ("serious", "critical")
#: What happened to an alarm, as the history says it (the topic's last part).
KINDS = ("raised", "cleared", "acknowledged", "muted")
MAX_ACTIVE = 32      # alarms shown at once (the watcher has about ten rules)
MAX_HISTORY = 200    # history entries kept, the newest
MAX_ID = 40          # longest alarm id kept
MAX_TEXT = 300       # longest reason or name kept


def _cut(value: str | None, limit: int = MAX_TEXT) -> str | None:
    return None if value is None else value[:limit]


def rank(severity: str | None) -> int:
    """How urgent a severity is: 0 (unknown) to 3 (critical)."""
    return SEVERITIES.index(severity) + 1 if severity in SEVERITIES else 0


@dataclass(frozen=True)
class AlarmSettings:
    """``noon_utc``: the UTC hour of local noon at the site, where one night's history ends
    and the next begins."""

    noon_utc: float = 12.0
    max_active: int = MAX_ACTIVE
    max_history: int = MAX_HISTORY


class AlarmTable:
    """Active alarms and tonight's history; see the module's docstring."""

    def __init__(self, settings: AlarmSettings | None = None) -> None:
        self.settings = settings or AlarmSettings()
        self.active: dict[str, dict[str, Any]] = {}
        self.history: deque[dict[str, Any]] = deque(maxlen=self.settings.max_history)
        self.night: int | None = None
        #: Urgent alarms raised so far (raised again included): a page beeps when it grows.
        self.urgent = 0
        self._n = 0

    # -- feeding ---------------------------------------------------------------------------
    def notice(self, event: AlarmNotice, when: float | None) -> bool:
        """One ``ocd.alarm.<kind>`` event at OCD time ``when`` (None: not known yet); whether
        the table changed."""
        alarm = _cut(event.alarm, MAX_ID)
        if alarm is None or event.kind not in KINDS:
            return False
        self._record(event, alarm, when)
        if event.kind == "cleared":
            self.active.pop(alarm, None)
            return True
        if event.kind == "raised" and event.severity in URGENT:
            self.urgent += 1
        self._put(alarm, event)
        return True

    def listing(self, alarms: AlarmList) -> bool:
        """The watcher's ``ocd.alarm.list``: every alarm not normal, taken as the truth;
        whether the table changed."""
        listed: dict[str, dict[str, Any]] = {}
        for item in alarms.alarms[:self.settings.max_active]:
            alarm = _cut(item.alarm, MAX_ID)
            if alarm is not None:
                listed[alarm] = self._row(alarm, item, self.active.get(alarm))
        if listed == self.active:
            return False
        self.active = listed
        return True

    def _put(self, alarm: str, event: AlarmNotice) -> None:
        """Keep the alarm; when the table is full, the least urgent, oldest goes (maybe
        this one)."""
        self.active[alarm] = self._row(alarm, event, self.active.get(alarm))
        if len(self.active) > self.settings.max_active:
            least = min(self.active, key=lambda a: (rank(self.active[a]["severity"]),
                                                    self.active[a]["since"] or 0.0))
            del self.active[least]

    @staticmethod
    def _row(alarm: str, event: AlarmNotice, old: dict[str, Any] | None) -> dict[str, Any]:
        escalated = event.escalated or bool(old and old["escalated"] and event.kind != "raised")
        return {"alarm": alarm, "state": _cut(event.state, MAX_ID),
                "severity": _cut(event.severity, MAX_ID), "reason": _cut(event.reason),
                "since": event.since, "by": _cut(event.by), "muted_until": event.muted_until,
                "escalated": escalated}

    def _record(self, event: AlarmNotice, alarm: str, when: float | None) -> None:
        if when is not None:
            night = math.floor((when - self.settings.noon_utc * 3600.0) / 86400.0)
            if self.night is not None and night > self.night:
                self.history.clear()  # a new night: yesterday's alarms are not tonight's
            self.night = night if self.night is None else max(self.night, night)
        self._n += 1
        self.history.append({
            "n": self._n, "t": when, "kind": event.kind, "alarm": alarm,
            "severity": _cut(event.severity, MAX_ID), "reason": _cut(event.reason),
            "by": _cut(event.by), "muted_until": event.muted_until,
            "escalated": event.escalated})

    # -- the panel -------------------------------------------------------------------------
    def panel(self) -> dict[str, Any]:
        """``active``: the alarms not normal, the most urgent first, then the newest;
        ``count``; ``worst``: the highest severity of those not acknowledged or muted (None
        when none needs a person); ``newest``: the reason of the newest of those; ``urgent``:
        the count of urgent alarms raised so far; ``history``: tonight's, newest first."""
        active = sorted(self.active.values(),
                        key=lambda a: (-rank(a["severity"]), -(a["since"] or 0.0), a["alarm"]))
        waiting = [a for a in active if a["state"] not in ("acknowledged", "muted")]
        newest = max(waiting, key=lambda a: a["since"] or 0.0, default=None)
        return {"active": active, "count": len(active),
                "worst": waiting[0]["severity"] if waiting else None,
                "newest": newest and {"alarm": newest["alarm"], "reason": newest["reason"]},
                "urgent": self.urgent, "history": list(reversed(self.history))}
