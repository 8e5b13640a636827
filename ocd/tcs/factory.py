"""Choose the subsystems implementation from ``[tcs] backend``."""

from __future__ import annotations

import zmq.asyncio

from ocd.bus import config_url, security_from_config
from ocd.clock import Clock
from ocd.config import Config
from ocd.tcs.gateway import GatewayClient
from ocd.tcs.interface import SUBSYSTEMS, Subsystems
from ocd.tcs.sim.subsystems import SimulatedSubsystems


def subsystems_from_config(cfg: Config, ctx: zmq.asyncio.Context, clock: Clock) -> Subsystems:
    """In-process simulation, or a client of the gateway(s) at ``[urls] tcs`` etc."""
    if cfg.get_str("tcs", "backend") == "simulated":
        return SimulatedSubsystems(clock, fail=tuple(cfg.get_list("tcs", "sim_fail")))
    urls = {name: config_url(cfg, name) for name in SUBSYSTEMS}
    missing = [name for name, url in urls.items() if not url]
    if missing:
        raise cfg.error("urls", missing[0], "", "a gateway address is needed with "
                        "[tcs] backend = gateway")
    return GatewayClient(ctx, {name: url for name, url in urls.items() if url}, clock,
                         timeout=cfg.get_float("tcs", "command_timeout"),
                         security=security_from_config(cfg))
