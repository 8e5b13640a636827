"""Every published frame fits ``[bus] max_message_bytes``: long texts are cut with a visible
marker, so no subscriber refuses an event and loses its connection (issue 21, point 4)."""

import asyncio
import json

import orjson
import pytest
import zmq
import zmq.asyncio
from bus_helpers import start_ocd, stop
from conftest import ocd_env
from shot_fixtures import fast_clock, make_inputs, shot_dict

from ocd.bus import BusOptions, Publisher, Subscriber
from ocd.bus.envelope import MIN_CUT, FrameTooLarge, fit
from ocd.clock import RealClock
from ocd.errors import cut
from ocd.shots.runner import ExposurePlan, ShotRunner
from ocd.tcs.interface import TcsError
from ocd.tcs.sim.subsystems import SimulatedSubsystems

pytestmark = pytest.mark.timeout(60)

MARKER = "characters cut]"
HUGE = 5_000_000  # five times the default frame size


@pytest.fixture
async def ctx():
    context = zmq.asyncio.Context()
    yield context
    context.destroy(linger=0)


# -- the cut, pure --------------------------------------------------------------------------

def test_cut_keeps_short_text_and_marks_a_cut_one():
    assert cut("short", 10) == "short"
    text = "x" * 1000
    shown = cut(text, 100)
    assert len(shown) <= 100 and shown.startswith("x" * 50)
    assert shown.endswith(f"… [{1000 - shown.index('…')} characters cut]")


def test_fit_leaves_a_small_event_alone():
    payload = {"__seq": 1, "error": "e" * 500}
    assert fit(payload, 4096) == (payload, orjson.dumps(payload))


def test_fit_cuts_the_longest_texts_as_little_as_needed():
    payload = {"__origin": "o" * 300, "error": "é" * 50_000, "traceback": "t" * 20_000,
               "shotid": "DEX00001", "nested": {"lines": ["n" * 9000, "short"]}, "n": 3}
    fitted, raw = fit(payload, 16_384)
    assert len(raw) <= 16_384 and orjson.loads(raw) == fitted
    assert fitted["__origin"] == payload["__origin"]  # metadata is never cut
    assert (fitted["shotid"], fitted["n"], fitted["nested"]["lines"][1]) == ("DEX00001", 3,
                                                                              "short")
    for text in (fitted["error"], fitted["traceback"], fitted["nested"]["lines"][0]):
        assert text.endswith(MARKER) and len(text) > MIN_CUT
    assert len(raw) > 16_384 - 1000  # no more cut than needed
    assert payload["error"] == "é" * 50_000  # the caller's data is not changed


def test_fit_refuses_what_cutting_texts_cannot_shrink():
    with pytest.raises(FrameTooLarge, match="max_message_bytes"):
        fit({"values": list(range(10_000))}, 4096)


# -- over real sockets ----------------------------------------------------------------------

async def test_an_oversized_event_reaches_the_subscriber_cut_and_nothing_is_lost(ctx):
    options = BusOptions(reconnect_interval=0.05)
    publisher = Publisher(ctx, "tcp://127.0.0.1:*", "test", RealClock(), options=options)
    subscriber = Subscriber(ctx, [publisher.url], [""], options=options)
    await publisher.wait_for_subscriber("ocd.main_loop.error", 10)
    sent = publisher.publish_nowait("ocd.main_loop.error",
                                    {"stage": "event", "error": "boom " * (HUGE // 5)})
    assert sent["error"].endswith(MARKER)
    for i in range(3):
        publisher.publish_nowait("ocd.main_loop.status", {"i": i})
    first = await subscriber.recv(timeout=10)
    assert first.topic == "ocd.main_loop.error" and first.payload["error"].endswith(MARKER)
    assert len(orjson.dumps(first.payload)) <= options.max_message_bytes
    assert [(await subscriber.recv(timeout=10)).data["i"] for _ in range(3)] == [0, 1, 2]
    stats = subscriber.stats
    assert (stats.reconnects, stats.lost, stats.gaps, sum(stats.dropped.values())) == \
        (0, 0, 0, 0)
    assert publisher.stats.sent == 4
    subscriber.close()
    publisher.close()


class HugeFailure(SimulatedSubsystems):
    """The simulated telescope, whose exposure fails with an endless message."""

    async def command(self, subsystem, command, **params):
        if (subsystem, command) == ("virus", "expose"):
            raise TcsError("detector says: " + "\x1b[2J garbage " * (HUGE // 14))
        return await super().command(subsystem, command, **params)


async def test_a_huge_exception_of_a_shot_step_reaches_ocd_listen_cut(ctx, tmp_path):
    """A shot step that fails with an endless message: ``ocd listen`` (another process)
    prints the shot's end with the message cut and the marker, then the events that follow;
    it never loses its connection (no gap, no reconnection)."""
    publisher = Publisher(ctx, "tcp://127.0.0.1:*", "ocd_run_shot", RealClock())
    listen = start_ocd("listen", "--urls", publisher.url, "--json", "--count", "7",
                       env=ocd_env())
    try:
        await publisher.wait_for_subscriber("ocd.run_shot.run", 20)
        runner = ShotRunner(publisher.publish, HugeFailure(fast_clock()), ExposurePlan(),
                            make_inputs(tmp_path), RealClock())
        outcome = await runner.run(shot_dict(), "E", 7)
        assert not outcome.ok and outcome.exc_value.endswith(MARKER)
        for i in range(2):  # what follows the failure
            await publisher.publish("ocd.run_shot.progress", {"shotid": "DEX00001", "i": i})
        out, err = await asyncio.to_thread(listen.communicate, timeout=30)
    finally:
        stop(listen)
        publisher.close()
    assert listen.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line.get("topic") for line in lines] == [
        "ocd.run_shot.run", "ocd.run_shot.setup_telescope", "ocd.run_shot.setup_telescope",
        "ocd.run_shot.exp_hetdex", "ocd.run_shot.run", "ocd.run_shot.progress",
        "ocd.run_shot.progress"]
    finish = lines[4]["payload"]
    assert finish["error"] is True and finish["exc_value"].startswith("detector says: ")
    assert finish["exc_value"].endswith(MARKER) and finish["traceback"].endswith(MARKER)
    assert len(out.splitlines()[4]) < 100_000
    assert [line["payload"]["i"] for line in lines[5:]] == [0, 1]
    assert "gap" not in out and "reconnect" not in err
