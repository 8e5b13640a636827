"""``ocd sim_tcs``: a TCS simulator process.

Publishes TCS events on ``[urls] event_urls`` (index ``[sim_tcs] n_event_urls``) and serves the
gateway protocol on the ``[urls] tcs``/``virus``/``pfip``/``pas`` addresses, all on OCD's clock
(mock-aware). SIGUSR1 switches the heartbeats off and on, to rehearse a dead TCS.
"""

from __future__ import annotations

import logging
import signal

from ocd.bus import Publisher, config_url, security_from_config
from ocd.clock import Clock
from ocd.config import Config
from ocd.shell.clock_source import choose_clock_now, follow_main_loop, log_choice
from ocd.shell.service import Service, run_service
from ocd.shell.settings import tcs_topics
from ocd.tcs.gateway import GatewayServer
from ocd.tcs.interface import SUBSYSTEMS
from ocd.tcs.sim.events import SimulatorSettings, TcsSimulator
from ocd.tcs.sim.subsystems import SimulatedSubsystems
from ocd.tcs.sim.weather import Weather

log = logging.getLogger(__name__)


def simulator_settings(cfg: Config) -> SimulatorSettings:
    return SimulatorSettings(
        topics=tcs_topics(cfg),
        heartbeat_interval=cfg.get_float("sim_tcs", "heartbeat_interval"),
        max_rate=cfg.get_float("sim_tcs", "max_rate"),
        metrology_interval=cfg.get_float("sim_tcs", "metrology_interval"))


def weather_from_config(cfg: Config) -> Weather:
    return Weather(kind=cfg.get_str("sim_tcs", "weather"),
                   seeing=cfg.get_float("sim_tcs", "seeing"),
                   transparency=cfg.get_float("sim_tcs", "transparency"),
                   cloud_start=cfg.get_float("sim_tcs", "cloud_start"),
                   cloud_duration=cfg.get_float("sim_tcs", "cloud_duration"))


class SimulatedTcs(Service):
    """One ``ocd sim_tcs`` process: the event stream and the gateway servers."""

    extra_signals = {signal.SIGUSR1: "toggle_heartbeats"}

    def __init__(self, cfg: Config, clock: Clock) -> None:
        super().__init__("ocd sim_tcs")
        self.cfg, self.clock = cfg, clock
        self.security = security_from_config(cfg)

    async def start(self) -> None:
        cfg, ctx, clock = self.cfg, self.ctx, self.clock
        self.publisher = self.closing(Publisher.for_service(ctx, cfg, "event_urls", "sim_tcs",
                                                            name="tcs", clock=clock))
        subsystems = SimulatedSubsystems(clock, fail=tuple(cfg.get_list("tcs", "sim_fail")))
        self.servers = []
        gateway_urls = (config_url(cfg, name) for name in SUBSYSTEMS)
        for url in dict.fromkeys(u for u in gateway_urls if u):
            self.servers.append(self.closing(GatewayServer(ctx, url, subsystems,
                                                           security=self.security)))
        self.simulator = TcsSimulator(clock, self.publisher.publish, subsystems,
                                      weather_from_config(cfg), simulator_settings(cfg))

    def toggle_heartbeats(self) -> None:
        log.warning("heartbeats %s", "on" if self.simulator.toggle_heartbeats() else "OFF")

    async def main(self) -> int:
        log.info("TCS simulator: events on %s, gateway on %s, %s, weather %s",
                 self.publisher.url, ", ".join(s.endpoint for s in self.servers),
                 self.clock.describe(), self.simulator.weather.kind)
        self.spawn(self.simulator.run(), name="event stream")
        # a main loop restarted with another mock_time: said, and followed
        self.spawn(follow_main_loop(self.ctx, self.cfg, self.clock, "ocd sim_tcs"),
                   name="the main loop's clock", daemon=True)
        for server in self.servers:
            self.spawn(server.serve(), name=f"gateway {server.endpoint}")
        await self.stopping.wait()
        log.info("TCS simulator stopping: %s", self.simulator.published)
        return 0


def run_sim_tcs(cfg: Config) -> int:
    """``ocd sim_tcs``: until SIGINT or SIGTERM, on the running main loop's clock (or its
    own, said in one line)."""
    choice = choose_clock_now(cfg)
    log_choice(choice)
    return run_service(SimulatedTcs(cfg, choice.clock))
