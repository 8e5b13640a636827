"""Publisher and subscriber over real ZeroMQ sockets (loopback tcp and ipc)."""

import asyncio
import logging
import os
import socket

import pytest
import zmq
import zmq.asyncio
from bus_helpers import raw_frames, tcs_payload

from ocd.bus import (
    AddressInUse,
    BindHint,
    BusOptions,
    Publisher,
    SeqKind,
    Subscriber,
    bus_options,
)
from ocd.clock import RealClock
from ocd.config import load_config

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def ctx():
    context = zmq.asyncio.Context()
    yield context
    context.destroy(linger=0)


async def connected(ctx, topics=("",), options=None, url="tcp://127.0.0.1:*", name="test"):
    """A publisher and a subscriber whose subscription the publisher has seen."""
    publisher = Publisher(ctx, url, name, RealClock(), options=options)
    subscriber = Subscriber(ctx, [publisher.url], topics, options=options)
    await publisher.wait_for_subscriber(topics[0] + "x.y" if topics[0] else "a.b.c", 5)
    return publisher, subscriber


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
async def test_events_arrive_in_order_with_sequence_numbers(ctx, tmp_path, transport):
    url = "tcp://127.0.0.1:*" if transport == "tcp" else f"ipc://{tmp_path}/sub/pub.ipc"
    publisher, subscriber = await connected(ctx, ("ocd.",), url=url)
    sent = [await publisher.publish("ocd.test.event", {"i": i}) for i in range(5)]
    received = [await subscriber.recv(timeout=5) for _ in range(5)]
    assert [e.payload for e in received] == sent
    assert [e.seq for e in received] == [1, 2, 3, 4, 5]
    assert {e.origin for e in received} == {publisher.origin}
    assert publisher.origin.startswith("test@")
    assert subscriber.stats.received == 5 and subscriber.stats.lost == 0
    assert subscriber.stats.origins[publisher.origin].last_seq == 5
    assert publisher.stats.sent == 5


async def test_topic_prefix_filters(ctx):
    publisher, subscriber = await connected(ctx, ("ocd.wanted",))
    await publisher.publish("ocd.unwanted.event", {})
    await publisher.publish("ocd.wanted.event", {"n": 1})
    event = await subscriber.recv(timeout=5)
    assert event.topic == "ocd.wanted.event"
    with pytest.raises(TimeoutError):
        await subscriber.recv(timeout=0.2)
    assert subscriber.covers("ocd.wanted.x") and not subscriber.covers("ocd.unwanted.x")


async def test_recv_times_out(ctx):
    subscriber = Subscriber(ctx, ["tcp://127.0.0.1:1"], [""])
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(TimeoutError):
        await subscriber.recv(timeout=0.3)
    assert loop.time() - start >= 0.29


async def test_every_socket_gets_the_configured_options(ctx):
    cfg = load_config(overrides=[
        ("bus", "heartbeat_interval", "0.7"), ("bus", "heartbeat_timeout", "3.5"),
        ("bus", "heartbeat_ttl", "12"), ("bus", "reconnect_interval", "0.25"),
        ("bus", "reconnect_interval_max", "4"), ("bus", "send_hwm", "1234"),
        ("bus", "receive_hwm", "4321"), ("bus", "linger", "0.5")])
    options = bus_options(cfg)
    publisher = Publisher(ctx, "tcp://127.0.0.1:*", "t", RealClock(), options=options)
    subscriber = Subscriber(ctx, [publisher.url], ["x"], options=options)
    for sock in (publisher._sock, *subscriber.sockets):
        assert sock.getsockopt(zmq.HEARTBEAT_IVL) == 700
        assert sock.getsockopt(zmq.HEARTBEAT_TIMEOUT) == 3500
        assert sock.getsockopt(zmq.HEARTBEAT_TTL) == 12000
        assert sock.getsockopt(zmq.RECONNECT_IVL) == 250
        assert sock.getsockopt(zmq.RECONNECT_IVL_MAX) == 4000
        assert sock.getsockopt(zmq.SNDHWM) == 1234
        assert sock.getsockopt(zmq.RCVHWM) == 4321
        assert sock.getsockopt(zmq.LINGER) == 500


async def test_malformed_messages_are_counted_logged_once_and_skipped(ctx, caplog):
    raw = ctx.socket(zmq.XPUB)
    port = raw.bind_to_random_port("tcp://127.0.0.1")
    subscriber = Subscriber(ctx, [f"tcp://127.0.0.1:{port}"], [""])
    assert (await raw.recv()) == b"\x01"  # the subscription reached the publisher
    caplog.set_level(logging.WARNING, logger="ocd.bus")
    bad = [[b"tcs.root.ra_dec"], [b"tcs.root.ra_dec", b"{oops"], [b"tcs.root.ra_dec", b"[1]"],
           [b"\xff\xfe", b"{}"], [b"a.b.c", b"{}", b"{}"]]
    for frames in bad:
        await raw.send_multipart(frames)
    for _ in range(3):  # the same fault again: counted, not logged again
        await raw.send_multipart([b"tcs.root.ra_dec", b"{oops"])
    await raw.send_multipart(raw_frames("tcs.root.ra_dec", tcs_payload("tcs.root.ra_dec",
                                                                       ra=1.5)))
    event = await subscriber.recv(timeout=5)
    assert event.topic == "tcs.root.ra_dec" and event.data == {"ra": 1.5}
    assert event.seq is None
    assert subscriber.stats.malformed == 8
    assert subscriber.stats.dropped == {"frames": 2, "json": 4, "not_object": 1, "topic": 1}
    assert subscriber.stats.received == 1 and subscriber.stats.unsequenced == 1
    records = [r.getMessage() for r in caplog.records if "dropped a message" in r.getMessage()]
    assert len(records) == 4, records  # one per kind: frames, json, not_object, topic
    assert any("topic tcs.root.ra_dec" in r and "expected 2 frames" in r for r in records)
    assert not any("topic a.b.c" in r for r in records)  # a second "frames" drop: counted
    raw.close(0)


async def test_gaps_from_any_publisher_are_detected(ctx):
    raw = ctx.socket(zmq.XPUB)
    port = raw.bind_to_random_port("tcp://127.0.0.1")
    subscriber = Subscriber(ctx, [f"tcp://127.0.0.1:{port}"], ["ocd."])
    await raw.recv()
    for seq in (1, 2, 5, 6, 1):
        await raw.send_multipart(raw_frames("ocd.fake.event",
                                            {"__seq": seq, "__origin": "fake@host:1"}))
    kinds = []
    for _ in range(5):
        await subscriber.recv(timeout=5)
        kinds.append(subscriber.last_check.kind)
    assert kinds == [SeqKind.FIRST, SeqKind.IN_ORDER, SeqKind.GAP, SeqKind.IN_ORDER,
                     SeqKind.RESTART]
    stats = subscriber.stats
    assert (stats.gaps, stats.lost, stats.restarts) == (1, 2, 1)
    assert stats.origins["fake@host:1"].lost == 2
    raw.close(0)


async def test_a_publisher_restart_is_counted(ctx, tmp_path):
    url = f"ipc://{tmp_path}/restart.ipc"
    first_ctx = zmq.asyncio.Context()
    first = Publisher(first_ctx, url, "same", RealClock())
    subscriber = Subscriber(ctx, [url], ["ocd."], options=BusOptions(reconnect_interval=0.05,
                                                                    reconnect_interval_max=0.1))
    await first.wait_for_subscriber("ocd.a.b", 5)
    for _ in range(3):
        await first.publish("ocd.a.b", {})
    for _ in range(3):
        await subscriber.recv(timeout=5)
    first.close()
    first_ctx.term()  # returns once the socket is really closed
    # libzmq re-sends a reconnected SUB's subscriptions only when the socket is used: the
    # subscriber must do it by itself, even while nobody is receiving from it
    second = Publisher(ctx, url, "same", RealClock())  # same name, same process: the same origin
    assert second.origin == first.origin
    await second.wait_for_subscriber("ocd.a.b", 5)
    await second.publish("ocd.a.b", {})
    event = await subscriber.recv(timeout=5)
    assert event.seq == 1
    assert subscriber.last_check.kind is SeqKind.RESTART
    assert (subscriber.stats.restarts, subscriber.stats.lost) == (1, 0)


async def test_a_full_queue_loses_events_and_both_ends_count_them(ctx, caplog):
    caplog.set_level(logging.WARNING, logger="ocd.bus")
    options = BusOptions(send_hwm=5, receive_hwm=5)
    publisher, subscriber = await connected(ctx, ("ocd.",), options=options)
    total = 20000  # the subscriber reads nothing meanwhile: its queues overflow
    for i in range(total):
        publisher.publish_nowait("ocd.flood.event", {"i": i, "pad": "x" * 200})
    assert publisher.stats.overflows >= 1
    assert any("queue is full" in r.getMessage() for r in caplog.records)
    received = 0
    try:
        while True:
            await subscriber.recv(timeout=0.5)
            received += 1
    except TimeoutError:
        pass
    # one more event after the flood so that every missing number is accounted for
    await publisher.publish("ocd.flood.event", {"i": total})
    await subscriber.recv(timeout=5)
    received += 1
    assert received < total
    assert subscriber.stats.lost == total + 1 - received
    assert subscriber.stats.gaps >= 1


async def test_wait_for_subscriber_sees_a_late_subscriber_and_times_out_without_one(ctx):
    publisher = Publisher(ctx, "tcp://127.0.0.1:*", "t", RealClock())
    with pytest.raises(TimeoutError, match="no subscriber for ocd.a.b"):
        await publisher.wait_for_subscriber("ocd.a.b", 0.3)
    other = Subscriber(ctx, [publisher.url], ["tcs."])
    waiting = asyncio.ensure_future(publisher.wait_for_subscriber("ocd.a.b", 10))
    while not publisher.subscriptions:  # the other subscriber's notice (not for ocd.a.b)
        await publisher.wait_readable(1)
        publisher.poll_subscriptions()
    assert list(publisher.subscriptions) == [b"tcs."]
    assert not waiting.done()
    late = Subscriber(ctx, [publisher.url], ["ocd."])
    await asyncio.wait_for(waiting, 10)
    assert publisher.has_subscriber("ocd.a.b") and not publisher.has_subscriber("pas.x.y")
    late.close()
    other.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while publisher.has_subscriber("ocd.a.b") and loop.time() < deadline:
        await publisher.wait_readable(0.2)  # the unsubscription notice
    assert not publisher.has_subscriber("ocd.a.b")


async def test_a_bound_tcp_address_is_refused_with_what_to_change(ctx):
    first = Publisher(ctx, "tcp://127.0.0.1:*", "t", RealClock())
    hint = BindHint("ocd_main_loop", "run", 0)
    with pytest.raises(AddressInUse) as info:
        Publisher(ctx, first.url, "t", RealClock(), hint=hint)
    message = str(info.value)
    # the holder is this very process, which /proc shows by its pid and command line
    holder, _, advice = message.partition("; ")
    assert holder.startswith(f"cannot bind {first.url}: address already in use by another "
                             f"process (held by pid {os.getpid()}: "), message
    assert advice == ("change [urls] ocd_main_loop or its index 0 ([run] n_ocd_main_loop), or "
                      "stop the other process")


async def test_a_live_ipc_socket_is_not_stolen_but_a_stale_one_is_reused(ctx, tmp_path):
    path = tmp_path / "live.ipc"
    first = Publisher(ctx, f"ipc://{path}", "t", RealClock())
    with pytest.raises(AddressInUse, match="live.ipc: address already in use"):
        Publisher(ctx, f"ipc://{path}", "t", RealClock())
    assert not first.closed
    stale = tmp_path / "stale.ipc"
    import socket
    leftover = socket.socket(socket.AF_UNIX)
    leftover.bind(str(stale))  # a socket file nobody listens on, like after a crash
    leftover.close()
    assert stale.exists()
    Publisher(ctx, f"ipc://{stale}", "t", RealClock()).close()


async def test_bad_data_uses_no_sequence_number(ctx):
    publisher, subscriber = await connected(ctx, ("ocd.",))
    with pytest.raises(ValueError):
        await publisher.publish("ocd.a.b", {"__seq": 9})
    with pytest.raises(ValueError):
        await publisher.publish("ocd.a.b", {"x": float("inf")})
    await publisher.publish("ocd.a.b", {})
    assert (await subscriber.recv(timeout=5)).seq == 1


async def test_a_topic_filter_is_not_mistaken_for_lost_events(ctx):
    publisher, filtered = await connected(ctx, ("ocd.main_loop.ack",))
    whole = Subscriber(ctx, [publisher.url], ("ocd.",))
    await publisher.wait_for_subscriber("ocd.zzz", 5)
    for i in range(3):
        await publisher.publish("ocd.main_loop.status", {"i": i})
        await publisher.publish("ocd.main_loop.ack", {"i": i})
    assert [(await filtered.recv(timeout=5)).seq for _ in range(3)] == [2, 4, 6]
    assert (filtered.stats.gaps, filtered.stats.lost) == (0, 0)
    assert [(await whole.recv(timeout=5)).seq for _ in range(6)] == [1, 2, 3, 4, 5, 6]
    assert whole.stats.lost == 0
    whole.close()


async def test_an_oversized_message_is_refused_and_the_publisher_heard_again(ctx):
    """libzmq drops a frame over [bus] max_message_bytes with the sender's connection, for
    good; the subscriber connects again, and the next events arrive."""
    raw = ctx.socket(zmq.XPUB)
    raw.setsockopt(zmq.XPUB_VERBOSER, 1)
    port = raw.bind_to_random_port("tcp://127.0.0.1")
    options = BusOptions(max_message_bytes=2048, reconnect_interval=0.05)
    subscriber = Subscriber(ctx, [f"tcp://127.0.0.1:{port}"], [""], options=options)
    assert (await raw.recv()) == b"\x01"
    assert subscriber.sockets[0].getsockopt(zmq.MAXMSGSIZE) == 2048
    await raw.send_multipart([b"tcs.root.ra_dec", b'{"pad": "' + b"x" * 5000 + b'"}'])
    receiving = asyncio.ensure_future(subscriber.recv(timeout=15))  # the owner reads on
    # connected again: the subscription arrives a second time
    while (await asyncio.wait_for(raw.recv(), 10)) != b"\x01":
        pass
    await raw.send_multipart(raw_frames("tcs.root.ra_dec", tcs_payload("tcs.root.ra_dec",
                                                                       ra=2.5)))
    event = await receiving
    assert event.data == {"ra": 2.5}
    assert subscriber.stats.reconnects == 1
    subscriber.close()
    raw.close(0)


def waiting_subscribers(ctx, url: str, count: int, reconnect: float) -> list:
    """Plain SUB sockets connected to ``url`` before anyone binds it (a monitor started before
    ``ocd run_shot -e``), retrying every ``reconnect`` s."""
    socks = []
    for _ in range(count):
        sock = ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.RECONNECT_IVL, int(reconnect * 1000))
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.connect(url)
        socks.append(sock)
    return socks


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
async def test_waiting_for_quiet_lets_every_waiting_subscriber_join(ctx, tmp_path, transport):
    url = f"tcp://127.0.0.1:{_free_port()}" if transport == "tcp" else f"ipc://{tmp_path}/j.ipc"
    reconnect = 0.3
    socks = waiting_subscribers(ctx, url, 3, reconnect)
    await asyncio.sleep(0.05)  # their first connection attempts find nobody
    publisher = Publisher(ctx, url, "test", RealClock())
    try:
        assert await publisher.wait_for_quiet(2 * reconnect + 0.25, 5) == 3
        sent = await publisher.publish("ocd.run_shot.run", {"exec_status": 0})
        for sock in socks:
            assert await sock.poll(2000), "the first event was lost"
            assert (await sock.recv_multipart())[0] == b"ocd.run_shot.run"
        assert sent["__seq"] == 1
    finally:
        publisher.close()
        for sock in socks:
            sock.close(linger=0)


async def test_without_waiting_the_first_event_is_lost(ctx, tmp_path):
    """What the wait prevents: the "slow joiner" loses an event published at once."""
    url = f"ipc://{tmp_path}/lost.ipc"
    socks = waiting_subscribers(ctx, url, 1, 0.3)
    await asyncio.sleep(0.05)
    publisher = Publisher(ctx, url, "test", RealClock())
    try:
        await publisher.publish("ocd.run_shot.run", {"exec_status": 0})
        await publisher.wait_for_subscriber("ocd.run_shot.run", 5)
        await publisher.publish("ocd.run_shot.setup_telescope", {"exec_status": 0})
        assert await socks[0].poll(2000)
        assert (await socks[0].recv_multipart())[0] == b"ocd.run_shot.setup_telescope"
    finally:
        publisher.close()
        socks[0].close(linger=0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
