"""What a simulated night tells, for a person (a table) and for a tool (JSON).

One chronological table per night: every shot (its time, shot, track, observation number,
outcome and why it was chosen) and every idle stretch (its reason and the scheduler's or the
main loop's words), then the totals and whether OCD's rules held.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ocd.app.simulation.night import NightResult
from ocd.errors import UsageError
from ocd.monitor.night_table import aligned, clip, hm, night_rows

#: Lines of the simulated processes' log shown per night (all are in the JSON).
_LOG_LINES = 5


def _utc(seconds: float | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def header(result: NightResult, how: str, plan: bool = False) -> list[str]:
    report, setup = result.report, result.setup
    dark = ""
    if report.dark_start is not None and report.dark_end is not None:
        dark = (f"dark time {hm(report.dark_start)} to {hm(report.dark_end)} UTC "
                f"({_hours(report.dark_seconds)} of it in this stretch)")
    visits = sum(result.n_obs_before.values())
    shots = f"{len(result.n_obs_before)} shots in the list, {visits} visits left"
    if plan:
        return [how, f"{dark}; {shots}"]
    return [f"night from {setup.start:%Y-%m-%d %H:%M} to {setup.end:%Y-%m-%d %H:%M} UTC; "
            f"{dark}", f"{how}; {shots}"]


def summary(result: NightResult, plan: bool = False) -> list[str]:
    """The totals of one night and whether the rules held."""
    report = result.report
    dark = report.dark_seconds
    share = f" ({100 * report.exposure_seconds / dark:.0f}%)" if dark > 0 else ""
    lines = [f"shots: {report.count('completed')} completed, {report.count('failed')} "
             f"failed, {report.count('aborted')} aborted, {report.count('interrupted')} cut "
             f"by the end of the stretch; exposure {_hours(report.exposure_seconds)} of "
             f"{_hours(dark)} dark time{share}"]
    idle = report.idle_by_reason()
    if idle:
        lines.append("idle: " + ", ".join(f"{reason} {_hours(seconds)}"
                                          for reason, seconds in idle.items()))
    if not result.setup.scenario.quiet:
        lines.append("happenings:")
        lines.extend(f"  {line}" for line in result.setup.scenario.describe(
            result.setup.start))
    rejected = sum(result.rejected.values())
    if rejected:
        lines.append(f"the recording: {rejected} event(s) refused as a subscriber refuses "
                     "them (each kind once):")
        lines.extend(f"  {count}x {clip(what, 120)}" for what, count
                     in list(result.rejected.items())[:_LOG_LINES])
    for time, error in report.errors[:_LOG_LINES]:
        lines.append(f"main loop error at {hm(time)}: {clip(error, 120)}")
    if len(report.errors) > _LOG_LINES:
        lines.append(f"({len(report.errors) - _LOG_LINES} more main loop errors)")
    lines.extend(rules(result, plan))
    return lines


def rules(result: NightResult, plan: bool = False) -> list[str]:
    """Whether OCD's rules held: each broken one, or one line saying what was checked."""
    if result.ok and plan:
        return ["rules: all held"]
    if result.ok:
        numbers = "; ".join(f"{day}: {_numbers(found)}" for day, found in
                            result.obsnums.items() if found) or "none taken"
        down = sum(result.n_obs_before.values()) - sum(result.n_obs_after.values())
        return [f"rules: all held (observation numbers {numbers}; n_obs down by {down}, once "
                "per completed shot; no shot started while forbidden, TCS dead, metrology "
                "bad or another shot running; every shot ended)"]
    lines = [f"RULE BROKEN: {v}" for v in result.violations]
    lines += [f"HANDLING FAILED: {f}" for f in result.failures]
    lines += [f"EVENT DROPPED ({count}x): {what}" for what, count in result.dropped.items()]
    return lines


def _numbers(found: list[int]) -> str:
    if len(found) > 1 and found == list(range(found[0], found[-1] + 1)):
        return f"{found[0]} to {found[-1]}"
    return ", ".join(map(str, found))


def render_night(result: NightResult, how: str, plan: bool = False) -> str:
    lines = header(result, how, plan)
    lines.append("")
    lines.extend(aligned(night_rows(result.report, plan)))
    lines.append("")
    lines.extend("  " + line for line in summary(result, plan))
    shown = result.log[:_LOG_LINES]
    if shown:
        lines.append(f"  logged by the simulated processes ({len(result.log)} line(s)), "
                     "first:")
        lines.extend(f"    {clip(line, 120)}" for line in shown)
    return "\n".join(lines) + "\n"


def render_totals(results: list[NightResult], wall: float, saved: Path | None) -> str:
    """The last lines: how much was simulated, how fast, and what the shot list became."""
    simulated = sum(r.setup.seconds for r in results)
    completed = sum(r.report.count("completed") for r in results)
    exposure = sum(r.report.exposure_seconds for r in results)
    dark = sum(r.report.dark_seconds for r in results)
    left = sum(results[-1].n_obs_after.values()) if results else 0
    before = sum(results[0].n_obs_before.values()) if results else 0
    held = sum(1 for r in results if r.ok)
    lines = [f"{len(results)} night(s), {_hours(simulated)} of OCD time simulated in "
             f"{wall:.2f} s of wall time ({simulated / wall:,.0f}x real time)" if wall > 0
             else f"{len(results)} night(s)",
             f"{completed} shots completed, exposure {_hours(exposure)} of {_hours(dark)} "
             f"dark time; visits left {left} of {before}; rules held in {held} of "
             f"{len(results)} night(s)"]
    if saved is not None:
        lines.append(f"the shot list after the last night: {saved} (the original is "
                     "unchanged)")
    return "\n".join(lines)


def night_document(result: NightResult) -> dict[str, Any]:
    document = result.report.as_dict()
    setup = result.setup
    document.update({
        "weather": {"kind": setup.weather.kind, "seed": setup.weather.seed},
        "happenings": setup.scenario.describe(setup.start),
        "rules_held": result.ok, "violations": result.violations,
        "failures": result.failures, "dropped": dict(result.dropped),
        "rejected": dict(result.rejected),
        "obsnums": result.obsnums, "log": result.log,
        "n_obs_before": result.n_obs_before, "n_obs_after": result.n_obs_after,
        "metrology": _sampled(result),
    })
    return document


#: Seconds between two metrology readings kept in the JSON (the guiders report every few
#: seconds: a night would be megabytes).
_METROLOGY_STEP = 300.0


def _sampled(result: NightResult) -> list[dict[str, Any]]:
    kept: list[dict[str, Any]] = []
    next_time = 0.0
    for time, seeing, transparency in result.report.metrology:
        if time >= next_time:
            kept.append({"time": _utc(time).isoformat(timespec="seconds"),  # type: ignore[union-attr]
                         "seeing": seeing, "transparency": transparency})
            next_time = time + _METROLOGY_STEP
    return kept


def results_document(results: list[NightResult], how: str, wall: float) -> dict[str, Any]:
    """The ``--json`` document: every night, and the wall time it took."""
    return {"how": how, "wall_seconds": round(wall, 3),
            "simulated_hours": round(sum(r.setup.seconds for r in results) / 3600.0, 3),
            "nights": [night_document(r) for r in results]}


def check_png(path: Path) -> None:
    """``--plot``: a PNG name in a directory that exists (checked before anything runs)."""
    if path.suffix.lower() != ".png":
        raise UsageError(f"--plot {path}: the file name must end in .png")
    if not path.parent.is_dir():
        raise UsageError(f"--plot {path}: no directory {path.parent}")
