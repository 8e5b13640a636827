"""One main loop per telescope: the claims a TCS gateway keeps (pure), over real sockets, and
the main loop's side of them (refused at start, a competitor reported while running)."""

import asyncio
import contextlib
import os

import pytest
import zmq
import zmq.asyncio
from shot_fixtures import fast_clock

from ocd.errors import OcdError
from ocd.shell.tcs_guard import TcsGuard, identity
from ocd.tcs.claims import ClaimError, Claims, Identity
from ocd.tcs.gateway import GATEWAY, GatewayClient, GatewayServer
from ocd.tcs.interface import SUBSYSTEMS, TcsError
from ocd.tcs.sim.subsystems import SimulatedSubsystems


def loop_id(n: int, host: str = "ocd-host") -> dict:
    return {"origin": f"ocd_main_loop@{host}:{n}", "host": host, "pid": n,
            "started": "2026-12-07T03:00:00+00:00", "addresses": [f"tcp://{host}:{6600 + n}"]}


def claim(claims: Claims, n: int, now: float, *, running: bool = False, lease: float = 10,
          **more) -> dict:
    return claims.claim({"main_loop": loop_id(n), "lease": lease, "running": running, **more},
                        now)


def test_the_first_claim_is_granted_and_a_second_starting_one_is_refused_and_forgotten():
    claims = Claims()
    assert claim(claims, 1, 0.0)["granted"] is True
    refused = claim(claims, 2, 1.0)
    assert refused["granted"] is False and refused["holder"]["pid"] == 1
    assert refused["expires_in"] == 9.0
    renewed = claim(claims, 1, 2.0, running=True)
    assert renewed["granted"] is True and renewed["others"] == []  # the refused one is gone


def test_a_claim_that_is_not_renewed_runs_out_and_the_next_one_gets_the_telescope():
    claims = Claims()
    claim(claims, 1, 0.0, lease=2)
    assert claim(claims, 2, 1.9, lease=2)["granted"] is False
    assert claim(claims, 2, 2.1, lease=2)["granted"] is True


def test_a_running_loop_refused_is_remembered_so_both_learn_of_each_other():
    claims = Claims()
    claim(claims, 1, 0.0, lease=2)
    claim(claims, 2, 3.0, lease=2)  # 1 was stopped: 2 has it now
    first = claim(claims, 1, 3.5, running=True, lease=2)
    assert first["granted"] is False and first["holder"]["pid"] == 2
    second = claim(claims, 2, 3.6, running=True, lease=2)
    assert second["granted"] is True and [o["pid"] for o in second["others"]] == [1]


def test_a_holder_found_dead_is_replaced_at_once_and_a_release_frees_the_telescope():
    claims = Claims()
    claim(claims, 1, 0.0)
    assert claim(claims, 2, 1.0, replaces="ocd_main_loop@elsewhere:9")["granted"] is False
    assert claim(claims, 2, 1.0, replaces="ocd_main_loop@ocd-host:1")["granted"] is True
    assert claims.release({"main_loop": loop_id(2)}, 2.0) == {"released": True}
    assert claim(claims, 3, 2.1)["granted"] is True


@pytest.mark.parametrize("params", [
    {}, {"main_loop": "me", "lease": 5}, {"main_loop": loop_id(1), "lease": 0},
    {"main_loop": loop_id(1), "lease": True}, {"main_loop": loop_id(1), "lease": 1e9},
    {"main_loop": {**loop_id(1), "pid": -1}, "lease": 5},
    {"main_loop": {**loop_id(1), "origin": "x" * 201}, "lease": 5},
    {"main_loop": {**loop_id(1), "addresses": ["a"] * 9}, "lease": 5},
    {"main_loop": {**loop_id(1), "addresses": [3]}, "lease": 5},
])
def test_a_malformed_claim_is_refused_and_changes_nothing(params):
    claims = Claims()
    with pytest.raises(ClaimError):
        claims.claim(params, 0.0)
    assert claims.holder is None


def test_a_flood_of_running_claimants_is_bounded_and_the_holder_kept():
    claims = Claims()
    claim(claims, 1, 0.0)
    for n in range(2, 200):
        claim(claims, n, 1.0, running=True)
    answer = claim(claims, 1, 2.0, running=True)
    assert answer["granted"] is True and len(answer["others"]) == 15


def test_an_identity_from_the_wire_is_shown_with_its_control_characters_escaped():
    shown = Identity("ocd_main_loop@h\x1b[2J:1", "h", 1, "now", ("tcp://h:1",)).describe()
    assert "\x1b" not in shown and "publishing on tcp://h:1" in shown


@contextlib.asynccontextmanager
async def gateway():
    ctx = zmq.asyncio.Context()
    sim = SimulatedSubsystems(fast_clock())
    server = GatewayServer(ctx, "tcp://127.0.0.1:*", sim)
    serving = asyncio.ensure_future(server.serve())
    clients = []

    def client() -> GatewayClient:
        made = GatewayClient(ctx, {s: server.endpoint for s in SUBSYSTEMS}, sim.clock)
        clients.append(made)
        return made
    try:
        yield client, server
    finally:
        for made in clients:
            await made.close()
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await server.close()
        ctx.term()


async def test_over_the_wire_a_bad_claim_gets_an_error_reply_and_an_unknown_command_too():
    async with gateway() as (client, server):
        ours = client()
        with pytest.raises(TcsError, match="'lease' must be a number"):
            await ours.request(server.endpoint, GATEWAY, "claim",
                               {"main_loop": loop_id(1), "lease": "long"}, 10)
        with pytest.raises(TcsError, match="unknown command gateway.own"):
            await ours.request(server.endpoint, GATEWAY, "own", {}, 10)
        assert server.claims.holder is None


async def test_a_second_guard_is_refused_naming_the_first_and_a_released_one_is_not():
    async with gateway() as (client, server):
        found: list[tuple[str, bool]] = []
        first = TcsGuard(client(), identity("ocd_main_loop@a:1", ["tcp://a:1"]), 1.0,
                         lambda line, new: found.append((line, new)))
        await first.claim_at_start()
        keeping = asyncio.ensure_future(first.keep())
        me = Identity("ocd_main_loop@b:2", "elsewhere", os.getpid() + 1, "now")
        second = TcsGuard(client(), me, 1.0, lambda line, new: found.append((line, new)))
        with pytest.raises(OcdError, match=r"another ocd run drives the telescope at tcp://"
                                           r"127\.0\.0\.1:\d+: ocd_main_loop@a:1 \(process "
                                           rf"{os.getpid()} on "):
            await second.claim_at_start()
        keeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeping
        await first.release()
        await second.claim_at_start()  # at once: the first gave its claim up
        assert server.claims.holder == "ocd_main_loop@b:2" and found == []


async def test_a_running_guard_reports_a_competitor_once_and_forbids_again_at_each_renewal():
    async with gateway() as (client, server):
        found: list[tuple[str, bool]] = []
        first = TcsGuard(client(), identity("ocd_main_loop@a:1", []), 1.0,
                         lambda line, new: found.append((line, new)))
        await first.claim_at_start()
        keeping = asyncio.ensure_future(first.keep())
        try:  # a main loop that runs already (started while the first was stopped)
            answer = await client().request(server.endpoint, GATEWAY, "claim", {
                "main_loop": loop_id(7, "b"), "lease": 1.0, "running": True}, 10)
            assert answer["granted"] is False
            deadline = asyncio.get_running_loop().time() + 20
            while len(found) < 2 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
        finally:
            keeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeping
        assert [new for _, new in found[:2]] == [True, False]
        line = found[0][0]
        assert line.startswith(f"another ocd run drives the telescope at {server.endpoint}: ")
        assert "ocd_main_loop@b:7 (process 7 on b, started " in line
