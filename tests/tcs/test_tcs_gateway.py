"""The TCS gateway protocol over real ZeroMQ sockets on loopback."""

import asyncio
import contextlib
import json

import pytest
import zmq
import zmq.asyncio
from shot_fixtures import fast_clock, make_inputs, shot_dict

from ocd.clock import RealClock
from ocd.shots.runner import ExposurePlan, ShotRunner
from ocd.tcs.gateway import GatewayClient, GatewayServer
from ocd.tcs.interface import SUBSYSTEMS, TcsError
from ocd.tcs.sim.subsystems import SimulatedSubsystems


@contextlib.asynccontextmanager
async def gateway(sim):
    ctx = zmq.asyncio.Context()
    server = GatewayServer(ctx, "tcp://127.0.0.1:*", sim)
    serving = asyncio.ensure_future(server.serve())
    client = GatewayClient(ctx, {s: server.endpoint for s in SUBSYSTEMS}, sim.clock, timeout=600)
    try:
        yield client, server, ctx
    finally:
        await client.close()
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await server.close()
        ctx.term()


async def test_a_whole_shot_runs_through_the_gateway(tmp_path):
    sim = SimulatedSubsystems(fast_clock())
    events = []

    async def publish(topic, data):
        events.append((topic, data["exec_status"]))

    async with gateway(sim) as (client, server, _):
        runner = ShotRunner(publish, client, ExposurePlan(), make_inputs(tmp_path), RealClock())
        outcome = await runner.run(shot_dict(), "W", 3)
    assert outcome.ok, outcome
    assert len(events) == 10 and events[-1] == ("ocd.run_shot.run", 1)
    assert server.served == len(sim.log) == 3 + 2 * 3
    assert sim.pointing.track == "W" and sim.pointing.tracking


async def test_errors_travel_back_as_tcs_errors():
    sim = SimulatedSubsystems(fast_clock(), fail=("tcs.goto",))
    async with gateway(sim) as (client, _, _):
        with pytest.raises(TcsError, match=r"tcs.goto failed \(simulated failure\)"):
            await client.command("tcs", "goto", ra=1.0, dec=2.0, track="E")
        with pytest.raises(TcsError, match="unknown command tcs.fly"):
            await client.command("tcs", "fly")  # refused before it is sent
    async with gateway(SimulatedSubsystems(fast_clock())) as (client, _, _):
        with pytest.raises(TcsError, match="track must be E or W"):
            await client.command("tcs", "goto", ra=1.0, dec=2.0, track="X")


async def test_abort_while_exposing_through_the_gateway():
    sim = SimulatedSubsystems(fast_clock(speed=1.0))  # a real 370 s exposure: must be aborted
    async with gateway(sim) as (client, _, _):
        exposing = asyncio.ensure_future(client.command(
            "virus", "expose", seconds=360.0, observation=1, exposure=1, object="x",
            recipe="hetdex", x_binning=2, y_binning=1, type="sci"))
        while not sim.exposing:  # the gateway has started it: abort now
            await asyncio.sleep(0.005)
        result = await client.command("virus", "abort")
        assert result == {"aborted": True}
        with pytest.raises(TcsError, match="exposure aborted"):
            await asyncio.wait_for(exposing, 5)


async def test_malformed_request_gets_an_error_reply_and_req_clients_work():
    sim = SimulatedSubsystems(fast_clock())
    async with gateway(sim) as (_, server, ctx):
        req = ctx.socket(zmq.REQ)
        req.connect(server.endpoint)
        await req.send(b"{not json")
        reply = json.loads(await asyncio.wait_for(req.recv(), 5))
        assert reply["ok"] is False and reply["error"].startswith("malformed request")
        await req.send(json.dumps({"id": 9, "subsystem": "pfip", "command": "acam_image",
                                   "params": {"path": "a.jpg"}}).encode())
        reply = json.loads(await asyncio.wait_for(req.recv(), 5))
        assert reply == {"id": 9, "ok": True, "result": {"path": "a.jpg"}}
        await req.send(json.dumps({"id": 10, "subsystem": "tcs", "command": "fly",
                                   "params": {}}).encode())
        reply = json.loads(await asyncio.wait_for(req.recv(), 5))
        assert reply == {"id": 10, "ok": False, "error": "unknown command tcs.fly"}
        req.close(linger=0)


async def test_silent_gateway_times_out():
    ctx = zmq.asyncio.Context()
    mute = ctx.socket(zmq.ROUTER)
    port = mute.bind_to_random_port("tcp://127.0.0.1")
    clock = fast_clock(speed=1000.0)  # 1000 OCD seconds -> 1 s, plus the 5 s margin
    client = GatewayClient(ctx, {"tcs": f"tcp://127.0.0.1:{port}"}, clock, timeout=1000)
    try:
        with pytest.raises(TcsError, match=r"no reply from the tcs gateway at .* within 6 s"):
            await client.command("tcs", "stop")
        assert await asyncio.wait_for(mute.recv_multipart(), 1)  # the request did arrive
    finally:
        await client.close()
        mute.close(linger=0)
        ctx.term()


def test_bind_conflict_is_one_clear_line():
    ctx = zmq.asyncio.Context()
    first = ctx.socket(zmq.ROUTER)
    port = first.bind_to_random_port("tcp://127.0.0.1")
    try:
        with pytest.raises(Exception, match=rf"cannot bind the TCS gateway address "
                           rf"tcp://127.0.0.1:{port}: address already in use "
                           r".*change \[urls\] tcs"):
            GatewayServer(ctx, f"tcp://127.0.0.1:{port}", SimulatedSubsystems(fast_clock()))
    finally:
        first.close(linger=0)
        ctx.term()


def test_slew_distance_wraps_around_ra():
    from ocd.tcs.sim.subsystems import separation

    assert separation(23.9, 0.0, 0.1, 0.0) == pytest.approx(3.0)
    assert separation(0.0, 90.0, 12.0, 90.0) == pytest.approx(0.0, abs=1e-6)
    assert separation(1.0, 10.0, 1.0, -20.0) == pytest.approx(30.0)


EXPOSE = {"seconds": 100.0, "observation": 7, "exposure": 1, "object": "HS0015_E",
          "recipe": "hetdex", "x_binning": 2, "y_binning": 1, "type": "sci"}


async def until(condition, timeout: float, what: str) -> None:
    """Wait for ``condition()`` (checked every 10 ms) or fail naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"no {what} within {timeout:g} s"
        await asyncio.sleep(0.01)


async def serve_at(ctx, url: str, sim) -> tuple[GatewayServer, asyncio.Task]:
    """A gateway at ``url``, retried while the previous one's port is being released."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        try:
            server = GatewayServer(ctx, url, sim)
            break
        except Exception:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.05)
    return server, asyncio.ensure_future(server.serve())


async def test_a_pending_command_is_sent_again_when_its_gateway_comes_back():
    ctx = zmq.asyncio.Context()
    clock = fast_clock(speed=100.0)  # the exposure: 110 OCD seconds, 1.1 s
    first_sim, second_sim = SimulatedSubsystems(clock), SimulatedSubsystems(clock)
    first, first_task = await serve_at(ctx, "tcp://127.0.0.1:*", first_sim)
    url = first.endpoint
    client = GatewayClient(ctx, {"virus": url}, clock, timeout=600)
    second = second_task = None
    try:
        expose = asyncio.ensure_future(client.command("virus", "expose", **EXPOSE))
        await until(lambda: first_sim.exposing, 10, "exposure on the first gateway")
        first_task.cancel()  # the gateway dies mid-exposure; its reply never comes
        await first.close()
        second, second_task = await serve_at(ctx, url, second_sim)
        result = await asyncio.wait_for(expose, 30)
        assert result["observation"] == 7
        assert [entry[:2] for entry in second_sim.log] == [("virus", "expose")]
        assert second.served == 1
    finally:
        await client.close()
        for task in (first_task, second_task):
            if task is not None:
                task.cancel()
        if second is not None:
            await second.close()
        ctx.term()


async def test_a_repeated_request_id_runs_once_and_is_answered_each_time():
    sim = SimulatedSubsystems(fast_clock(speed=100.0))
    async with gateway(sim) as (_, server, ctx):
        dealer = ctx.socket(zmq.DEALER)
        dealer.connect(server.endpoint)
        try:
            frame = json.dumps({"id": "r-1", "subsystem": "virus", "command": "expose",
                                "params": EXPOSE}).encode()
            await dealer.send(frame)
            await until(lambda: sim.exposing, 10, "exposure")
            await dealer.send(frame)  # while it runs: joined
            replies = [json.loads(await asyncio.wait_for(dealer.recv(), 10)) for _ in "ab"]
            await dealer.send(frame)  # once done: the same reply again
            replies.append(json.loads(await asyncio.wait_for(dealer.recv(), 10)))
            other = json.dumps({"id": "r-1", "subsystem": "tcs", "command": "stop",
                                "params": {}}).encode()
            await dealer.send(other)  # the id used for another command: run on its own
            replies.append(json.loads(await asyncio.wait_for(dealer.recv(), 10)))
        finally:
            dealer.close(linger=0)
    assert [r["ok"] for r in replies] == [True] * 4
    assert replies[0] == replies[1] == replies[2]
    assert [entry[:2] for entry in sim.log] == [("virus", "expose"), ("tcs", "stop")]
