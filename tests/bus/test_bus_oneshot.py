"""Heartbeat and acknowledged one-shot messages against real responders (tasks and
processes)."""

import asyncio
import os

import pytest
import zmq
import zmq.asyncio
from bus_helpers import helper_process, stop, wait_for_line, write_config
from conftest import ocd_env

from ocd.bus import (
    REPLY_TOPIC,
    SERVICES,
    HeartbeatResponder,
    NoAnswer,
    Publisher,
    Subscriber,
    bus_options,
    connect_urls,
    enquire,
    send_acknowledged,
    service_urls,
    validation_errors,
)
from ocd.clock import RealClock
from ocd.config import load_config

pytestmark = pytest.mark.timeout(60)

COMMAND, ACK = "ocd.test.command", "ocd.test.ack"


@pytest.fixture
async def ctx():
    context = zmq.asyncio.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture
def cfg_path(tmp_path):
    return write_config(tmp_path)


def enquirer(ctx, cfg, topics=(ACK,)):
    """What a one-shot command owns: a publisher on the allow_hetdex address and a subscriber
    to the other OCD services."""
    publisher = Publisher.for_service(ctx, cfg, "ocd_allow_hetdex", "allow_hetdex",
                                      clock=RealClock())
    subscriber = Subscriber(ctx, connect_urls(cfg, SERVICES), topics, options=bus_options(cfg))
    return publisher, subscriber


async def cancel(task):
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def responder_task(ctx, cfg, service="ocd_main_loop", ack=True):
    """An in-process main loop that answers heartbeats and acknowledges COMMAND."""
    publisher = Publisher.for_service(ctx, cfg, service, "run", clock=RealClock())
    subscriber = Subscriber(ctx, connect_urls(cfg, SERVICES), ["ocd.heartbeat.enquiry", COMMAND],
                            options=bus_options(cfg))
    responder = HeartbeatResponder(publisher)

    async def on_event(event):
        if event.topic == COMMAND and ack:
            await publisher.publish(ACK, {"received": event.data, "command_seq": event.seq})

    return responder, asyncio.ensure_future(responder.serve(subscriber, on_event))


async def test_enquiry_gets_a_valid_reply_from_a_responder(ctx, cfg_path):
    cfg = load_config([cfg_path])
    responder, task = await responder_task(ctx, cfg)
    publisher, subscriber = enquirer(ctx, cfg, topics=[REPLY_TOPIC])
    try:
        replies = await enquire(publisher, subscriber, timeout=10, interval=0.5, first=True)
    finally:
        await cancel(task)
    assert len(replies) == 1
    reply = replies[0]
    assert reply.payload["service"] == "ocd_main_loop"
    assert reply.payload["in_reply_to"] == publisher.origin
    assert reply.origin == responder.publisher.origin
    assert validation_errors(REPLY_TOPIC, reply.payload) == []
    assert responder.answered >= 1


async def test_acknowledged_send_to_a_responder_process(ctx, cfg_path):
    cfg = load_config([cfg_path])
    publisher, subscriber = enquirer(ctx, cfg)
    # a monitor already subscribed to everything: its subscription must not be taken for the
    # target's
    monitor = Subscriber(ctx, [publisher.url], ["ocd."])
    await publisher.wait_for_subscriber(COMMAND, 10)
    process = helper_process("respond", "--config", str(cfg_path), "--command", COMMAND,
                             "--ack", ACK, env=ocd_env())
    try:
        ack = await send_acknowledged(publisher, subscriber, COMMAND, {"allow": True},
                                      is_ack=lambda e: e.topic == ACK, timeout=20,
                                      target_urls=service_urls(cfg, "ocd_main_loop"))
    finally:
        out, err = stop(process)
    assert ack.data["received"] == {"allow": True}
    assert ack.data["command_seq"] == publisher.seq  # the command is our last event
    assert ack.origin.startswith("ocd_main_loop@") and not ack.origin.endswith(f":{os.getpid()}")
    assert "ready" in out
    monitor.close()


async def test_successive_commands_reach_a_running_responder(ctx, cfg_path):
    """Each one-shot command is a new process binding the same address: the responder must
    hear every one of them, not only the first."""
    cfg = load_config([cfg_path])
    process = helper_process("respond", "--config", str(cfg_path), "--command", COMMAND,
                             "--ack", ACK, env=ocd_env())
    try:
        wait_for_line(process.stdout, "ready")
        for n in range(3):
            command_ctx = zmq.asyncio.Context()  # as if a new process: its own context
            publisher, subscriber = enquirer(command_ctx, cfg)
            ack = await send_acknowledged(publisher, subscriber, COMMAND, {"n": n},
                                          is_ack=lambda e: e.topic == ACK, timeout=20,
                                          target_urls=service_urls(cfg, "ocd_main_loop"))
            assert ack.data["received"] == {"n": n}
            publisher.close()
            subscriber.close()
            command_ctx.term()  # returns once the sockets are really closed
    finally:
        stop(process)


async def test_no_answer_names_the_addresses_and_the_timeout(ctx, cfg_path):
    cfg = load_config([cfg_path])
    publisher, subscriber = enquirer(ctx, cfg)
    target = service_urls(cfg, "ocd_main_loop")
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(NoAnswer) as info:
        await send_acknowledged(publisher, subscriber, COMMAND, {}, is_ack=lambda e: True,
                                timeout=0.5, target_urls=target)
    assert 0.5 <= loop.time() - start < 3
    assert str(info.value) == (f"no ocd run answered on {target[0]} within 0.5 s "
                               "(no reply to the heartbeat enquiry)")
    assert publisher.seq == 0  # nothing was sent: nobody subscribed


async def test_a_target_that_never_acknowledges_times_out(ctx, cfg_path):
    cfg = load_config([cfg_path])
    responder, task = await responder_task(ctx, cfg, ack=False)
    publisher, subscriber = enquirer(ctx, cfg)
    try:
        with pytest.raises(NoAnswer, match=r"within 1.5 s \(ocd.test.command sent, no "
                                           r"acknowledgement\)$"):
            await send_acknowledged(publisher, subscriber, COMMAND, {}, timeout=1.5,
                                    is_ack=lambda e: e.topic == ACK,
                                    target_urls=service_urls(cfg, "ocd_main_loop"))
    finally:
        await cancel(task)
    assert responder.answered >= 1


async def test_replies_of_other_services_do_not_count(ctx, cfg_path):
    cfg = load_config([cfg_path])
    _, task = await responder_task(ctx, cfg, service="ocd_run_shot")
    publisher, subscriber = enquirer(ctx, cfg)
    try:
        with pytest.raises(NoAnswer, match="no reply to the heartbeat enquiry"):
            await send_acknowledged(publisher, subscriber, COMMAND, {}, timeout=1.5,
                                    is_ack=lambda e: e.topic == ACK,
                                    target_urls=service_urls(cfg, "ocd_main_loop"),
                                    target_service="ocd_main_loop")
    finally:
        await cancel(task)
