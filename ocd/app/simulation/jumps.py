"""Event-driven virtual time: a night that jumps from one moment that can change a decision
to the next, instead of a TCS step and a main-loop tick every second.

What ``ocd run`` receives between two such moments changes nothing: heartbeats while the
TCS stays up, the pointing (kept for the status only), guider readings on the same side of
the limits, ticks before any deadline of the core. So :class:`Jumps` (the
:class:`~ocd.app.simulation.virtual_time.Waker` of the night's loop) stops only at:

- every timer of the night (a shot's step ends, the RA's commands, a slow database...): on
  arrival, the core is first given the latest heartbeat, pointing and guider readings the TCS
  sent since the last stop, as a subscriber would hold them, then the timers run;
- the deadlines of the core (:meth:`~ocd.core.orchestrator.Orchestrator.deadlines`: the error
  pause, a silent shot, the start and schedule timeouts, the next try of the scheduler; the
  TCS heartbeat timeout while the TCS is silent), at the first tick of ``[simulate]
  tick_interval``'s grid at or after them, and at the first TCS step after them (a heartbeat
  also lets the core decide);
- the TCS steps where its stream changes: the last heartbeat before an outage, the first
  after it;
- the guider readings that change the core's judgement of the conditions (the core's own
  :func:`~ocd.core.states.judgement`, asked after each guider's reading as they arrive one by
  one; a stretch of readings whose bounds, :meth:`Weather.envelope`, keep them on the same
  side of the limits is not even drawn), and one every :data:`REFRESH` seconds for the
  report's conditions curve. While they are judged alike, the readings are given at a stop
  only when the core's would be stale by then (``[run] metrology_stale_after``): the core
  judges at the stops only, so between two it never sees them stale.

Every input given is one the tick-by-tick night (``--exact``) gives at the same OCD-clock
time, or its latest heartbeat and readings given at the stop rather than at their step (at
most one step later: they only make the TCS look alive and the readings fresh a little
longer, and neither can run out before the next stop; readings the core holds that would be
stale by then are replaced before the heartbeat is taken). The periodic status (every
``[run] status_interval``) is published at the stops only, and a shot says it is alive every
half ``[run] shot_silent_after`` (:meth:`SimulatedNight._plan`): no monitor listens to a
simulation, and the core judges the shot alive either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ocd.app.simulation.scenario import Span
from ocd.core.orchestrator import Orchestrator
from ocd.core.states import MetrologyTrigger, judgement, median
from ocd.tcs.sim.events import TcsSimulator

Events = list[tuple[str, dict[str, Any]]]

#: Two times closer than this are the same moment (grid arithmetic in floats).
_SAME = 1e-6
#: Seconds between two guider readings given to the core at least (the report's conditions
#: curve; the core's never go stale at a stop: see :meth:`Jumps.catch_up`).
REFRESH = 900.0
#: Guider steps judged at once from the weather's bounds, when they allow.
STRIDE = 30


@dataclass(frozen=True)
class Grid:
    """The night's periodic inputs: TCS steps every ``period`` from 0 (heartbeat, pointing,
    and metrology every ``metrology_interval`` at the first step due), main-loop ticks every
    ``tick`` from ``tick``; TCS silent (no heartbeat, no pointing) during ``outages``."""

    period: float
    metrology_interval: float
    tick: float
    outages: tuple[Span, ...] = ()

    def heard(self, step: int) -> bool:
        at = step * self.period
        return not any(outage.covers(at) for outage in self.outages)

    def step_at_or_after(self, when: float) -> int:
        return max(0, math.ceil(when / self.period - _SAME / self.period))

    def tick_after(self, when: float, now: float) -> float:
        """The first tick at or after ``when`` and after ``now``."""
        k = max(1, math.ceil(when / self.tick - _SAME), math.floor(now / self.tick + _SAME) + 1)
        return k * self.tick

    def next_fire(self, fire: float) -> float:
        """The metrology step after the one at ``fire`` (a step: the TCS sends readings at
        the first step at least ``metrology_interval`` later)."""
        return fire + self.fire_gap

    @property
    def fire_gap(self) -> float:
        return self.step_at_or_after(self.metrology_interval) * self.period

    def silences(self, end: float) -> list[tuple[float, float]]:
        """(last heartbeat before, first heartbeat after) of each silence of the TCS before
        ``end`` (the first of a silence at the start is -infinity)."""
        found: list[tuple[float, float]] = []
        for outage in sorted(self.outages, key=lambda o: o.start):
            first = self.step_at_or_after(outage.start)
            if first * self.period >= end or self.heard(first):
                continue
            last = first - 1
            while last >= 0 and not self.heard(last):
                last -= 1
            after = first
            while not self.heard(after) and after * self.period < end:
                after += 1
            silence = (last * self.period if last >= 0 else -math.inf, after * self.period)
            if not found or silence != found[-1]:
                found.append(silence)
        return found


class Jumps:
    """The waker of an event-driven night (see the module's docstring)."""

    def __init__(self, grid: Grid, end: float, orchestrator: Orchestrator,
                 simulator: TcsSimulator, deliver: Callable[[Events], None],
                 tick: Callable[[], None], stale_after: float, origin: float) -> None:
        self.grid, self.end, self.orchestrator = grid, end, orchestrator
        #: The OCD-clock time of the loop's time 0 (the core reckons in OCD-clock time).
        self.origin = origin
        self.simulator, self.deliver, self.tick = simulator, deliver, tick
        self.silences = grid.silences(end)
        #: Steps the TCS must be heard at on time: the edges of its silences.
        self._edges = sorted({t for pair in self.silences for t in pair if 0 <= t < end})
        self.refresh = max(REFRESH, grid.metrology_interval)
        self.stale_after = stale_after
        self._gap = grid.fire_gap
        self._pointing: dict[str, Any] | None = None
        self.ticking = True
        self._tick_at = math.inf
        self._last_step = -1.0
        self._last_fire = -math.inf
        self._stamped = math.inf  # when the core's readings were given (none yet)
        self._guiders = range(1, len(simulator.settings.topics.metrology) + 1)
        self._samples: dict[tuple[int, int], tuple[float, float]] = {}
        #: The readings the core holds, by guider number.
        self._held: dict[int, tuple[float | None, float | None]] = {}
        self._next_fire = 0.0
        self._judged = judgement(None, None, orchestrator.metrology.limits)
        self._scanned = 0.0  # the first fire not yet judged
        self._change: float | None = None  # the first fire found to change the judgement

    # -- the Waker protocol ----------------------------------------------------------------
    def next_wake(self, now: float) -> float:
        grid = self.grid
        wakes = [self._next_edge(now), self._refresh_at()]
        deadlines = self.orchestrator.deadlines(self.origin + now)
        tick_at = math.inf
        if self.ticking:
            own = deadlines.own
            if self._silent(now):
                own = min(own, deadlines.heartbeat)
            own -= self.origin
            if own < math.inf:
                tick_at = grid.tick_after(own, now)
                wakes.append(self._heard_step(max(own, now + 2 * _SAME)))
        self._tick_at = tick_at
        wakes.append(tick_at)
        wakes = [w for w in wakes if w > now + _SAME]  # (a moment now is being handled)
        wakes.append(self._conditions_change(min(wakes, default=self.end)))
        return min((w for w in wakes if w > now + _SAME), default=math.inf)

    def arrive(self, now: float) -> None:
        self.catch_up(now)
        if self.ticking and abs(now - self._tick_at) < _SAME:
            self._tick_at = math.inf
            self.tick()

    # -- the TCS -----------------------------------------------------------------------------
    def catch_up(self, now: float) -> None:
        """Give the core what the TCS sent since the last stop: its latest heartbeat and
        pointing, its latest guider readings (in a step's order)."""
        events: Events = []
        step = self._latest_heard(now)
        if step is not None and step > self._last_step:
            self._last_step = step
            heartbeat, pointing = self.simulator.heartbeat_events()
            events.append(heartbeat)
            if pointing[1] != self._pointing:  # a vault: the same pointing again changes nothing
                self._pointing = pointing[1]
                events.append(pointing)
        fire = None
        if self._next_fire <= now + _SAME:
            fire = self._next_fire + math.floor((now + _SAME - self._next_fire) / self._gap) \
                * self._gap
            if self._due(fire, now):
                self._next_fire = fire + self._gap
            else:
                fire = None
        if fire is not None:
            readings: Events = []
            for step in self._chain(fire):
                readings += self.simulator.metrology_events(step, self._sample)
            for _, reading in readings:
                self._held[reading["guider"]] = (reading["seeing"], reading["transparency"])
            # readings older than [run] metrology_stale_after never reach a tick of the
            # tick-by-tick night: the fresh ones go first then, so no step sees them stale
            stale = now - self._stamped > self.stale_after
            events = readings + events if stale else events + readings
            self._last_fire, self._stamped = fire, now
            self._judged = self._judge(list(self._held.values()))
            if self._change is not None and fire >= self._change - _SAME:
                self._change = None
            self._scanned = max(self._scanned, self._next_fire)
        if events:
            self.deliver(events)

    def _due(self, fire: float, now: float) -> bool:
        """Whether the readings up to the step at ``fire`` (the latest) are given at this
        stop: when one of them changes the judgement, when the core's would be stale now
        (the core judges only at the stops: between two, staleness is never seen), and
        every :attr:`refresh`; otherwise the core's readings are judged as the new ones."""
        return (self._change is not None and fire >= self._change - _SAME) \
            or now - self._stamped > self.stale_after \
            or fire >= self._last_fire + self.refresh - _SAME

    def _latest_heard(self, now: float) -> float | None:
        for last, after in self.silences:
            if after > now + _SAME and (last <= now + _SAME):
                return last if last > -math.inf else None
        return math.floor(now / self.grid.period + _SAME) * self.grid.period

    def _silent(self, now: float) -> bool:
        return any(last <= now + _SAME < after for last, after in self.silences)

    def _next_edge(self, now: float) -> float:
        return next((t for t in self._edges if t > now + _SAME), math.inf)

    def _heard_step(self, when: float) -> float:
        step = self.grid.step_at_or_after(when)
        while not self.grid.heard(step) and step * self.grid.period < self.end:
            step += 1
        return step * self.grid.period

    # -- the guiders -------------------------------------------------------------------------
    def _refresh_at(self) -> float:
        fire = self._next_fire
        if fire < self._last_fire + self.refresh - _SAME:
            fire += math.ceil((self._last_fire + self.refresh - _SAME - fire) / self._gap) \
                * self._gap
        return fire

    def _judge(self, readings: Sequence[tuple[float | None, float | None]]) -> MetrologyTrigger:
        seeing = [s for s, _ in readings if s is not None]
        transparency = [t for _, t in readings if t is not None]
        return judgement(median(seeing) if seeing else None,
                         median(transparency) if transparency else None,
                         self.orchestrator.metrology.limits)

    def _conditions_change(self, until: float) -> float:
        """The first guider step up to ``until`` whose readings change the judgement of the
        readings the core holds (infinity: none), each step judged once. The readings come one
        guider at a time, so the judgement after each is asked (the first guider's new reading
        with the others' previous ones can cross a limit the pair does not); a step whose
        readings and the previous step's all lie within bounds judged alike is not drawn."""
        if self._change is not None:
            return self._change
        gap = self._gap
        fire = max(self._scanned, self._next_fire)
        while fire <= until + _SAME:
            last = fire + (STRIDE - 1) * gap
            if self._alike_from(fire, last):  # a stretch of steps judged alike at once
                fire = last + gap
                continue
            for step in range(STRIDE):
                at = fire + step * gap
                if not self._alike_from(at, at) and self._changes_at(at):
                    self._change = at
                    return at
            fire = last + gap
        self._scanned = fire
        return math.inf

    def _alike_from(self, first: float, last: float) -> bool:
        """Whether every reading from the step before ``first`` to ``last`` is judged as the
        core's readings are, in any mix."""
        low, high, dim, clear = self.simulator.weather.envelope(max(0.0, first - self._gap),
                                                                last)
        limits = self.orchestrator.metrology.limits
        return judgement(low, clear, limits) == judgement(high, dim, limits) == self._judged

    def _chain(self, fire: float) -> list[float]:
        """The guider steps to give now so that the core's judgement goes through what it
        does tick by tick up to ``fire``: its readings alone, when taking them one by one
        over the readings the core holds judges as over the step before's; else the steps
        before it too, back to one that does (at the latest the step after the last given:
        then every step follows its own predecessor, as tick by tick)."""
        first = fire
        while first - self._gap > self._last_fire + _SAME and not self._alike(first) and \
                self._sequence(self._held, first) != self._sequence(self._before(first), first):
            first -= self._gap
        return [first + k * self._gap for k in range(round((fire - first) / self._gap) + 1)]

    def _alike(self, fire: float) -> bool:
        """Whether every reading the core holds and every one ``fire`` can bring are judged
        alike, in any mix (then neither order nor the step before matters)."""
        low, high, dim, clear = self.simulator.weather.envelope(fire)
        for seeing, transparency in self._held.values():
            if seeing is not None:
                low, high = min(low, seeing), max(high, seeing)
            if transparency is not None:
                dim, clear = min(dim, transparency), max(clear, transparency)
        limits = self.orchestrator.metrology.limits
        return judgement(low, clear, limits) == judgement(high, dim, limits) == self._judged

    def _sample(self, fire: float, guider: int) -> tuple[float, float]:
        """The weather's reading (drawn once: a step is judged, then maybe given)."""
        key = (round(fire / self._gap), guider)
        found = self._samples.get(key)
        if found is None:
            if len(self._samples) > 64:
                self._samples.clear()
            found = self._samples[key] = self.simulator.weather.sample(fire, guider)
        return found

    def _before(self, fire: float) -> dict[int, tuple[float | None, float | None]]:
        """The readings the core holds before ``fire``'s, tick by tick (the step before's)."""
        previous = fire - self._gap
        if previous < -_SAME:
            return {}
        return {n: self._sample(previous, n) for n in self._guiders}

    def _sequence(self, held: dict[int, tuple[float | None, float | None]],
                  fire: float) -> list[MetrologyTrigger]:
        """The judgements after each reading of ``fire``, taken one by one over ``held``."""
        held = dict(held)
        judged = []
        for n in self._guiders:
            held[n] = self._sample(fire, n)
            judged.append(self._judge(list(held.values())))
        return judged

    def _changes_at(self, fire: float) -> bool:
        """Whether the readings of the step at ``fire``, taken one by one after those of the
        step before, change the judgement at any of them."""
        return any(j != self._judged for j in self._sequence(self._before(fire), fire))
