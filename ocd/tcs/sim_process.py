"""``ocd sim_tcs``: a TCS simulator process.

Publishes TCS events on ``[urls] event_urls`` (index ``[sim_tcs] n_event_urls``) and serves the
gateway protocol on the ``[urls] tcs``/``virus``/``pfip``/``pas`` addresses, all on OCD's clock
(mock-aware). SIGUSR1 switches the heartbeats off and on, to rehearse a dead TCS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import zmq.asyncio

from ocd.bus import BindHint, Publisher, bus_options
from ocd.clock import Clock
from ocd.config import Config
from ocd.tcs.gateway import GatewayServer
from ocd.tcs.interface import SUBSYSTEMS
from ocd.tcs.simulated import SimulatedSubsystems
from ocd.tcs.simulator import SimulatorSettings, TcsSimulator
from ocd.tcs.topics import TcsTopics
from ocd.tcs.weather import Weather

log = logging.getLogger(__name__)


def event_url(cfg: Config) -> tuple[str, BindHint]:
    urls = cfg.get("urls", "event_urls") or []
    index = cfg.get("sim_tcs", "n_event_urls")
    if not 0 <= index < len(urls):
        raise cfg.error("sim_tcs", "n_event_urls", str(index),
                        f"no such index in [urls] event_urls ({len(urls)} address(es))")
    return urls[index], BindHint("event_urls", "sim_tcs", index)


def simulator_settings(cfg: Config) -> SimulatorSettings:
    return SimulatorSettings(
        topics=TcsTopics.from_config(cfg),
        heartbeat_interval=cfg.get("sim_tcs", "heartbeat_interval"),
        max_rate=cfg.get("sim_tcs", "max_rate"),
        metrology_interval=cfg.get("sim_tcs", "metrology_interval"))


def weather_from_config(cfg: Config) -> Weather:
    return Weather(kind=cfg.get("sim_tcs", "weather"), seeing=cfg.get("sim_tcs", "seeing"),
                   transparency=cfg.get("sim_tcs", "transparency"),
                   cloud_start=cfg.get("sim_tcs", "cloud_start"),
                   cloud_duration=cfg.get("sim_tcs", "cloud_duration"))


async def serve_sim_tcs(cfg: Config, clock: Clock) -> None:
    """Run until SIGINT or SIGTERM."""
    url, hint = event_url(cfg)
    ctx = zmq.asyncio.Context()
    tasks: list[asyncio.Task[None]] = []
    with contextlib.ExitStack() as resources:  # closed in reverse order
        resources.callback(ctx.term)
        publisher = Publisher(ctx, url, "tcs", clock, options=bus_options(cfg), hint=hint)
        resources.callback(publisher.close)
        subsystems = SimulatedSubsystems(clock, fail=tuple(cfg.get("tcs", "sim_fail")))
        servers = []
        for gateway_url in dict.fromkeys(cfg.get("urls", name) for name in SUBSYSTEMS):
            if gateway_url:
                server = GatewayServer(ctx, gateway_url, subsystems)
                servers.append(server)
                resources.callback(server.sock.close)
        simulator = TcsSimulator(clock, publisher.publish, subsystems,
                                 weather_from_config(cfg), simulator_settings(cfg))
        log.info("TCS simulator: events on %s, gateway on %s, %s, weather %s", publisher.url,
                 ", ".join(s.endpoint for s in servers), clock.describe(),
                 simulator.weather.kind)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def toggle() -> None:
            log.warning("heartbeats %s", "on" if simulator.toggle_heartbeats() else "OFF")

        loop.add_signal_handler(signal.SIGUSR1, toggle)
        stopped = asyncio.ensure_future(stop.wait())
        tasks = [stopped, asyncio.ensure_future(simulator.run()),
                 *(asyncio.ensure_future(s.serve()) for s in servers)]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopped and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            log.info("TCS simulator stopping: %s", simulator.published)
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
