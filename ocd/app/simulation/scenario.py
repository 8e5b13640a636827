"""What happens to a simulated night besides the sky: the RA's commands, shots run by hand,
outages of the TCS and of the database, failing subsystem commands.

A quiet night is the RA allowing HETDEX shots at the start and nothing else. ``--faults``
draws a night of trouble from the seed (:func:`random_scenario`): the same seed always gives
the same night, so a night that broke a rule can be replayed exactly.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """From ``start`` to ``end``, seconds after the start of the night."""

    start: float
    end: float

    def covers(self, elapsed: float) -> bool:
        return self.start <= elapsed < self.end


@dataclass(frozen=True)
class Command:
    """A one-shot command at ``at`` seconds: ``allow`` / ``forbid`` (``ocd allow_hetdex
    start`` / ``stop``) or ``abort`` (``ocd abort``)."""

    at: float
    kind: str


@dataclass(frozen=True)
class ManualShot:
    """``ocd run_shot -e`` at ``at`` seconds, of the ``pick``-th shot (modulo their number)
    among those with visits left and not running then."""

    at: float
    pick: int


@dataclass(frozen=True)
class Failure:
    """Subsystem command ``command`` (e.g. ``virus.expose``) fails during ``span``."""

    command: str
    span: Span


@dataclass(frozen=True)
class Scenario:
    """Everything that happens to a night besides the weather."""

    commands: tuple[Command, ...] = (Command(0.0, "allow"),)
    manual: tuple[ManualShot, ...] = ()
    tcs_outages: tuple[Span, ...] = ()
    db_outages: tuple[Span, ...] = ()
    #: Longest an observation number takes to come (seconds; each allocation draws up to it).
    db_latency: float = 0.0
    failures: tuple[Failure, ...] = ()
    seed: int = 1

    @property
    def quiet(self) -> bool:
        """Nothing happens but the RA allowing HETDEX shots at the start."""
        return (self.commands == (Command(0.0, "allow"),) and not self.manual
                and not self.tcs_outages and not self.db_outages and not self.failures
                and not self.db_latency)

    def describe(self, start: dt.datetime | None = None) -> list[str]:
        """One line per happening, in time order, for the report: at its UTC time when the
        night's ``start`` is given, else hours after the start."""
        lines: list[tuple[float, str]] = []
        for command in self.commands:
            lines.append((command.at, {"allow": "ocd allow_hetdex start",
                                       "forbid": "ocd allow_hetdex stop",
                                       "abort": "ocd abort"}[command.kind]))
        for manual in self.manual:
            lines.append((manual.at, "ocd run_shot -e (a shot by hand)"))
        for outage in self.tcs_outages:
            lines.append((outage.start, f"TCS silent for {_minutes(outage)}"))
        for outage in self.db_outages:
            lines.append((outage.start, f"database unreachable for {_minutes(outage)}"))
        for failure in self.failures:
            lines.append((failure.span.start,
                          f"{failure.command} fails for {_minutes(failure.span)}"))
        def when(at: float) -> str:
            if start is None:
                return f"+{at / 3600:5.2f} h"
            return f"{start + dt.timedelta(seconds=at):%H:%M} UTC"

        text = [f"{when(at)}  {what}" for at, what in sorted(lines)]
        if self.db_latency:
            text.append(f"observation numbers take up to {self.db_latency:g} s")
        return text


def _minutes(span: Span) -> str:
    return f"{(span.end - span.start) / 60:.0f} min"


def _spans(draw: random.Random, duration: float, most: int, mean: float) -> tuple[Span, ...]:
    spans = []
    for _ in range(draw.randint(0, most)):
        start = draw.uniform(0.0, duration)
        spans.append(Span(start, start + min(draw.expovariate(1.0 / mean), 3 * mean)))
    return tuple(sorted(spans, key=lambda s: s.start))


#: Subsystem commands a random night may make fail for a while.
FAILING = ("tcs.goto", "pas.setup_guiders", "virus.expose")


def random_scenario(seed: int, duration: float) -> Scenario:
    """A night of trouble drawn from ``seed`` for a night of ``duration`` seconds: forbid and
    allow again, aborts, shots by hand, TCS and database outages, a slow database, failing
    commands. The RA allows HETDEX shots at a random time in the first half hour."""
    draw = random.Random(f"ocd-scenario-{seed}")
    commands = [Command(draw.uniform(0.0, 1800.0), "allow")]
    for _ in range(draw.randint(0, 3)):
        stop = draw.uniform(0.0, duration)
        commands.append(Command(stop, "forbid"))
        if draw.random() < 0.8:
            commands.append(Command(stop + draw.expovariate(1 / 1200.0), "allow"))
    commands += [Command(draw.uniform(0.0, duration), "abort")
                 for _ in range(draw.randint(0, 3))]
    manual = tuple(ManualShot(draw.uniform(0.0, duration), draw.randrange(1000))
                   for _ in range(draw.randint(0, 2)))
    failures = tuple(Failure(draw.choice(FAILING), span)
                     for span in _spans(draw, duration, 2, 900.0))
    return Scenario(
        commands=tuple(sorted(commands, key=lambda c: c.at)),
        manual=manual,
        tcs_outages=_spans(draw, duration, 3, 600.0),
        db_outages=_spans(draw, duration, 2, 900.0),
        db_latency=draw.choice((0.0, 0.0, 1.0, 5.0, 30.0, 90.0)),
        failures=failures,
        seed=seed)
