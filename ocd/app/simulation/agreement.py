"""Whether an event-driven night and the same night tick by tick (``--exact``) agree: the
same shots in the same order with the same observation numbers, tracks and outcomes, each
started within one tick interval of the other, the same idle reasons in the same order, the
same ``n_obs`` after the night and the same rules held."""

from __future__ import annotations

import datetime as dt
import random

from ocd.app.simulation.calendar import night_of
from ocd.app.simulation.night import NightResult

#: The skies a randomized night draws from.
KINDS = ("steady", "drifting", "cloudy", "random")


def agreement_night(seed: int) -> tuple[dt.datetime, dt.datetime, str]:
    """The night of seed ``seed`` for a comparison: one to three hours from a random moment of
    a night between October and February (twilight included), and its sky."""
    draw = random.Random(f"ocd-agree-{seed}")
    sunset, sunrise = night_of(dt.date(2017, 10, 1) + dt.timedelta(days=draw.randrange(150)))
    length = draw.uniform(3600.0, 3 * 3600.0)
    offset = draw.uniform(0.0, (sunrise - sunset).total_seconds() - length)
    start = (sunset + dt.timedelta(seconds=offset)).replace(microsecond=0)
    return start, start + dt.timedelta(seconds=round(length)), draw.choice(KINDS)


def disagreements(exact: NightResult, jumped: NightResult) -> list[str]:
    """What differs between the two nights (empty: they agree)."""
    tick = exact.setup.tick
    found: list[str] = []
    ours = [(s.shotid, s.track, s.observation, s.outcome, s.by_hand)
            for s in exact.report.shots]
    theirs = [(s.shotid, s.track, s.observation, s.outcome, s.by_hand)
              for s in jumped.report.shots]
    if ours != theirs:
        found.append(f"shots differ: tick by tick {ours}, event-driven {theirs}")
    else:
        for a, b in zip(exact.report.shots, jumped.report.shots, strict=True):
            if abs(a.start - b.start) > tick + 1e-6:
                found.append(f"shot {a.shotid} (observation {a.observation}) starts "
                             f"{b.start - a.start:+.1f} s apart")
    reasons = [p.reason for p in exact.report.idle]
    jumped_reasons = [p.reason for p in jumped.report.idle]
    if reasons != jumped_reasons:
        found.append(f"idle reasons differ: tick by tick {reasons}, event-driven "
                     f"{jumped_reasons}")
    if exact.n_obs_after != jumped.n_obs_after:
        found.append("n_obs after the night differs")
    if exact.ok != jumped.ok or exact.violations != jumped.violations:
        found.append(f"rules: tick by tick {exact.violations + exact.failures}, "
                     f"event-driven {jumped.violations + jumped.failures}")
    return found
