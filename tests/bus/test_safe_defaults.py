"""Safe defaults: loopback addresses in plaintext; any other address needs CURVE, or the user's
explicit acceptance of the risk."""

from __future__ import annotations

import pytest
import zmq
import zmq.asyncio
from bus_helpers import free_tcp_url
from conftest import run_ocd

from ocd.bus.curve import BusSecurity, is_loopback
from ocd.bus.publisher import Publisher
from ocd.clock import RealClock
from ocd.errors import ConfigError


@pytest.mark.parametrize("url, local", [
    ("tcp://127.0.0.1:6600", True), ("tcp://127.0.0.5:1", True), ("tcp://[::1]:6600", True),
    ("tcp://localhost:6600", True), ("ipc:///tmp/x.ipc", True), ("inproc://x", True),
    ("tcp://0.0.0.0:6600", False), ("tcp://*:6600", False), ("tcp://192.0.2.7:6600", False),
    ("tcp://no-such-host.invalid:6600", False)])
def test_what_counts_as_loopback(url, local):
    assert is_loopback(url) is local


async def test_a_publisher_refuses_a_network_address_in_plaintext():
    ctx = zmq.asyncio.Context()
    try:
        with pytest.raises(ConfigError, match=r"refusing to bind tcp://0\.0\.0\.0:\* without "
                                              r"CURVE.*allow_plaintext_network"):
            Publisher(ctx, "tcp://0.0.0.0:*", "t", RealClock())
        accepted = Publisher(ctx, "tcp://0.0.0.0:*", "t", RealClock(),
                             security=BusSecurity(allow_plaintext_network=True))
        assert accepted.url.startswith("tcp://0.0.0.0:")
        accepted.close()
        local = Publisher(ctx, "tcp://127.0.0.1:*", "t", RealClock())  # the default addresses: fine
        local.close()
    finally:
        ctx.term()


def test_a_command_binding_a_network_address_stops_with_one_line(tmp_path):
    port = free_tcp_url().rsplit(":", 1)[1]
    result = run_ocd("sim_tcs", "--set", f"urls.event_urls=tcp://0.0.0.0:{port}",
                     cwd=tmp_path, timeout=30)
    assert result.returncode == 2
    assert result.stderr == (f"ocd: error: refusing to bind tcp://0.0.0.0:{port} without "
                             "CURVE: it is reachable from the network, so anyone there could "
                             "command OCD; turn [security] curve on (ocd keys init), or set "
                             "[security] allow_plaintext_network = true to accept the risk\n")
