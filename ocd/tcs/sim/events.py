"""The event side of ``ocd sim_tcs``: heartbeats, pointing and guider metrology.

Publishing goes through a ``publish(topic, data)`` coroutine so this loop is independent of the
socket layer. Times are OCD-clock times: at a fast mock speed the heartbeat (one per OCD-clock
second by default) is capped at ``max_rate`` per real second, so the bus is not flooded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ocd.clock import Clock, real_seconds
from ocd.core.topics import TcsTopics
from ocd.tcs.sim.subsystems import SimulatedSubsystems
from ocd.tcs.sim.weather import Weather

Publish = Callable[[str, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class SimulatorSettings:
    topics: TcsTopics = field(default_factory=TcsTopics)
    heartbeat_interval: float = 1.0
    max_rate: float = 20.0
    metrology_interval: float = 10.0


class TcsSimulator:
    """Publishes what a TCS would. ``heartbeats_on`` can be switched off to rehearse a dead
    TCS (``ocd sim_tcs`` toggles it on SIGUSR1)."""

    def __init__(self, clock: Clock, publish: Publish, subsystems: SimulatedSubsystems,
                 weather: Weather, settings: SimulatorSettings) -> None:
        self.clock = clock
        self.publish = publish
        self.subsystems = subsystems
        self.weather = weather
        self.settings = settings
        self.heartbeats_on = True
        self.published: dict[str, int] = {}
        self._start = clock.timestamp()
        self._next_metrology = self._start

    def toggle_heartbeats(self) -> bool:
        self.heartbeats_on = not self.heartbeats_on
        return self.heartbeats_on

    async def _send(self, topic: str, data: dict[str, Any]) -> None:
        await self.publish(topic, data)
        self.published[topic] = self.published.get(topic, 0) + 1

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """What one heartbeat period publishes, in order: heartbeat and pointing, and
        metrology when it is due (``ocd simulate`` sends them on its own bus)."""
        s = self.settings
        now = self.clock.timestamp()
        events = self.heartbeat_events() if self.heartbeats_on else []
        if now + s.metrology_interval < self._next_metrology:  # the clock went back (it
            self._next_metrology = now  # follows a restarted main loop): due at once
        if now >= self._next_metrology:
            self._next_metrology = now + s.metrology_interval
            events += self.metrology_events(max(0.0, now - self._start))
        return events

    def heartbeat_events(self) -> list[tuple[str, dict[str, Any]]]:
        """A heartbeat and the pointing, as every step publishes them."""
        topics, p = self.settings.topics, self.subsystems.pointing
        return [(topics.heartbeat, {"status": "ok"}),
                (topics.ra_dec, {"ra": p.ra, "dec": p.dec, "track": p.track,
                                 "tracking": p.tracking, "dx": p.dx, "dy": p.dy})]

    def metrology_events(self, elapsed: float,
                         sample: Callable[[float, int], tuple[float, float]] | None = None
                         ) -> list[tuple[str, dict[str, Any]]]:
        """Every guider's reading of the weather ``elapsed`` seconds after the start
        (``sample``: the weather's, drawn already)."""
        events: list[tuple[str, dict[str, Any]]] = []
        draw = self.weather.sample if sample is None else sample
        for number, topic in enumerate(self.settings.topics.metrology, start=1):
            seeing, transparency = draw(elapsed, number)
            events.append((topic, {"seeing": seeing, "transparency": transparency,
                                   "guider": number}))
        return events

    async def step(self) -> None:
        """One heartbeat period: heartbeat and pointing, and metrology when it is due."""
        for topic, data in self.events():
            await self._send(topic, data)

    def period(self) -> float:
        """Real seconds between two steps."""
        s = self.settings
        return max(real_seconds(self.clock, s.heartbeat_interval), 1.0 / s.max_rate)

    async def run(self) -> None:
        """Step forever at the heartbeat period, without drifting."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            await self.step()
            next_at += self.period()
            await asyncio.sleep(max(0.0, next_at - loop.time()))
