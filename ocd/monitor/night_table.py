"""The night's table for a person, one copy for every command that tells a night (``ocd
simulate``, ``ocd plan``, ``ocd archive night``): shots and idle stretches in time order,
with the short time and text forms they share."""

from __future__ import annotations

import datetime as dt

from ocd.monitor.timeline import IdlePeriod, NightReport, ShotRecord

#: Idle stretches shorter than this (seconds) are blinks, not rows.
MIN_IDLE = 60


def hm(seconds: float | None) -> str:
    """``HH:MM`` UTC of Unix ``seconds`` (``--:--`` for none)."""
    if seconds is None:
        return "--:--"
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%H:%M")


def span(seconds: float) -> str:
    """A duration as people read it: ``42 min`` or ``1h05``."""
    minutes = int(round(seconds / 60))
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}"


def clip(text: str, width: int = 90) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def night_rows(report: NightReport, plan: bool = False) -> list[tuple[str, ...]]:
    """(UTC, what, track, obs, outcome, why) with its header row; a plan shows no observation
    numbers (the database gives them when the shots run) and its shots as planned."""
    items: list[tuple[float, int, ShotRecord | IdlePeriod]] = [
        (s.start, 1, s) for s in report.shots]
    items += [(p.start, 0, p) for p in report.idle if p.seconds >= MIN_IDLE]
    rows: list[tuple[str, ...]] = [("UTC", "what", "track", "" if plan else "obs", "outcome",
                                    "why")]
    for _, _, item in sorted(items, key=lambda i: (i[0], i[1])):
        if isinstance(item, ShotRecord):
            when = f"{hm(item.start)}-{hm(item.end) if item.end is not None else 'end'}"
            outcome = "planned" if plan and item.outcome == "completed" else item.outcome
            why = item.reason + (f"; {item.error}" if item.error else "")
            number = "" if plan or item.observation is None else str(item.observation)
            rows.append((when, item.shotid + (" (by hand)" if item.by_hand else ""),
                         item.track, number, outcome, clip(why, 130)))
        else:
            rows.append((f"{hm(item.start)}-{hm(item.end)}", f"idle {span(item.seconds)}",
                         "", "", item.reason, clip(item.detail)))
    return rows


def aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """The rows as indented columns (the last one, free text, unpadded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  " + "  ".join([cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
                             + [row[-1]]).rstrip() for row in rows]
