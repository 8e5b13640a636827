"""Every table keyed by something a sender chooses stays bounded, however many keys come."""

from __future__ import annotations

import asyncio
import logging

import zmq
import zmq.asyncio

from ocd.bus.publisher import MAX_PREFIXES, Publisher
from ocd.bus.ratelimit import MAX_KEYS, RateLimitedLog
from ocd.bus.sequence import MAX_ORIGINS, SeqKind, SequenceTracker
from ocd.clock import RealClock
from ocd.core.commands import REQUEST_MEMORY, RequestLog
from ocd.recording import recorder
from ocd.recording.recorder import OTHER_TOPICS, RecordStats, _Writer


def test_the_sequence_table_keeps_its_bound_and_its_totals():
    tracker = SequenceTracker()
    tracker.observe("honest@h:1", 1)
    tracker.observe("honest@h:1", 5)  # 3 lost
    for number in range(100_000):
        assert tracker.observe(f"forged{number}@h:1", 7).kind is SeqKind.FIRST
    assert len(tracker.origins) == MAX_ORIGINS
    assert tracker.forgotten == 100_001 - MAX_ORIGINS
    assert (tracker.gaps, tracker.lost) == (1, 3)  # the forgotten origin's loss still counts
    assert tracker.observe("honest@h:1", 6).kind is SeqKind.FIRST  # forgotten: a first again


def test_the_most_recently_heard_origins_are_kept():
    tracker = SequenceTracker(capacity=3)
    for origin in "abc":
        tracker.observe(origin, 1)
    tracker.observe("a", 2)  # heard again: the least recent is now b
    tracker.observe("d", 1)
    assert list(tracker.origins) == ["c", "a", "d"]


def test_request_ids_are_bounded():
    log = RequestLog()
    for number in range(100_000):
        assert log.first_time(f"r{number}")
    assert len(log) == REQUEST_MEMORY


def test_rate_limited_log_keys_are_bounded(caplog):
    limited = RateLimitedLog(logging.getLogger("test"), interval=60.0, monotonic=lambda: 0.0)
    caplog.set_level(logging.WARNING, logger="test")
    for number in range(10_000):
        limited.warning(f"key{number}", "x")
    assert len(limited) == MAX_KEYS
    for _ in range(1000):  # one key, many repeats: one line
        limited.warning("same", "again")
    assert sum(r.getMessage() == "again" for r in caplog.records) == 1


def test_a_publisher_tracks_a_bounded_number_of_subscription_prefixes():
    ctx = zmq.asyncio.Context()
    publisher = Publisher(ctx, "tcp://127.0.0.1:*", "test", RealClock())
    sub = ctx.socket(zmq.SUB, socket_class=zmq.Socket)
    sub.setsockopt(zmq.SNDHWM, 0)  # no subscription may be dropped on its way
    sub.connect(publisher.url)
    for number in range(MAX_PREFIXES + 500):
        sub.setsockopt(zmq.SUBSCRIBE, f"p{number}.".encode())
    sub.setsockopt(zmq.SUBSCRIBE, b"")  # and the one that covers everything
    total = 0
    while total < MAX_PREFIXES + 501:
        publisher._sync.poll(5000)
        read = publisher.poll_subscriptions()
        assert read, "the subscriptions did not arrive"
        total += read
    assert len(publisher.subscriptions) == MAX_PREFIXES
    sub.close(linger=0)
    publisher.close()
    ctx.term()


def test_the_recorder_counts_a_bounded_number_of_topics(monkeypatch):
    monkeypatch.setattr(recorder, "MAX_TOPICS", 10)
    stats = RecordStats()
    writer = _Writer(None, stats, lambda system: True)
    batch = [(f"x.y.t{number}".encode(), b"{}", 0.0) for number in range(50)]
    rows = writer._rows(batch)
    assert len(rows) == 50  # all stored
    assert len(stats.topics) == 11 and stats.topics[OTHER_TOPICS] == 40


def test_a_subscriber_remembers_a_bounded_number_of_topics(tmp_path):
    """Topics are chosen by senders: 5 000 new ones, over a real socket, all received, and the
    subscriber's memos of them stop at their bound."""
    from ocd.bus import BusOptions, Subscriber
    from ocd.bus.subscriber import _VERDICTS
    from ocd.clock import RealClock

    count = _VERDICTS + 904
    options = BusOptions(send_hwm=0, receive_hwm=0)

    async def main() -> None:
        ctx = zmq.asyncio.Context()
        publisher = Publisher(ctx, f"ipc://{tmp_path}/p.ipc", "test", RealClock(),
                              options=options)
        subscriber = Subscriber(ctx, [publisher.url], ["x."], options=options, log_gaps=False)
        try:
            await publisher.wait_for_subscriber("x.", 20)
            for number in range(count):
                await publisher.publish(f"x.s.t{number}", {"n": number})
            seen = [(await subscriber.recv(timeout=20)).payload["n"] for _ in range(count)]
            assert seen == list(range(count))
            assert subscriber.stats.lost == 0
            assert len(subscriber._complete) == _VERDICTS
            assert all(len(source.topics) == _VERDICTS for source in subscriber._inputs)
        finally:
            subscriber.close()
            publisher.close()
            ctx.term()

    asyncio.run(main())
