"""The events of simulated nights, as they cross the simulated bus: what the archive's tests
and ``bench/archive_scale.py`` store, so that the archive is filled with what OCD publishes.

``ocd simulate`` runs a night in virtual time without sockets: the TCS's events and the shots'
reach the main loop through :class:`~ocd.app.simulation.night.SimulatedBus`, and what the main
loop publishes goes to the report's observers through
:class:`~ocd.app.simulation.night.SimulatedEdges`. :func:`capture` listens at both for the
length of a call, and stamps each event as a live publisher would (the main loop's with its
origin, sequence and OCD time; the TCS's with the data and wire times the real TCS stamps).
Only for development: it wraps the simulation's classes while it runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ocd.app.simulation import night as simulated
from ocd.core import topics

#: The simulated main loop's origin: its shots are ``ocd_run_shot@simulation:1``'s, the origin
#: ``ocd simulate`` gives them (the same host and pid, as in a live ``ocd run``).
MAIN = "ocd_main_loop@simulation:1"
#: Topics repeated at every heartbeat, which a caller may thin.
PERIODIC = (topics.TCS_HEARTBEAT, topics.TCS_RA_DEC, topics.MAIN_STATUS, topics.STATES_STATE,
            topics.HEARTBEAT_ENQUIRY, topics.HEARTBEAT_REPLY)

#: One captured event: topic, payload (stamped), OCD time (Unix seconds).
Captured = tuple[str, dict[str, Any], float]


@contextmanager
def capture(keep: Callable[[str], bool] = lambda topic: True) -> Iterator[list[Captured]]:
    """Every event of the nights simulated inside the ``with`` (those ``keep`` keeps)."""
    events: list[Captured] = []
    seq = [0]
    deliver, publish = simulated.SimulatedBus._deliver, simulated.SimulatedEdges.publish

    def on_bus(bus: Any, topic: str, payload: dict[str, Any], valid: bool,
               recorded: bool = False) -> None:
        if keep(topic):
            now = bus.clock.timestamp()
            events.append((topic, {"__data_time": now, "__wire_time": now, **payload}, now))
        deliver(bus, topic, payload, valid, recorded)

    def on_main(edges: Any, topic: str, data: dict[str, Any]) -> None:
        if keep(topic):
            now = edges.clock.timestamp()
            seq[0] += 1
            system, _, rest = topic.partition(".")
            source, _, key = rest.rpartition(".")
            events.append((topic, {
                **data, "__system": system, "__source": source, "__key": key,
                "__data_time": now, "__wire_time": now, "__data": False, "__seq": seq[0],
                "__origin": MAIN, "__clock": "mock",
                "__ocd_utc": dt.datetime.fromtimestamp(now, dt.timezone.utc).isoformat()}, now))
        publish(edges, topic, data)

    simulated.SimulatedBus._deliver = on_bus  # type: ignore[method-assign, assignment]
    simulated.SimulatedEdges.publish = on_main  # type: ignore[method-assign, assignment]
    try:
        yield events
    finally:
        simulated.SimulatedBus._deliver = deliver  # type: ignore[method-assign]
        simulated.SimulatedEdges.publish = publish  # type: ignore[method-assign]


def thinned(one_in: int) -> Callable[[str], bool]:
    """A ``keep`` for :func:`capture` keeping one in ``one_in`` of the :data:`PERIODIC` topics
    (each counted apart) and every other event."""
    seen: dict[str, int] = {}

    def keep(topic: str) -> bool:
        if topic not in PERIODIC:
            return True
        seen[topic] = seen.get(topic, 0) + 1
        return seen[topic] % one_in == 0

    return keep
