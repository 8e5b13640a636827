"""The pacing of the board's updates, with pages whose sockets are in the test's hands."""

from __future__ import annotations

import asyncio
import json
import math

from ocd.app.board.hub import MAX_QUEUED_DELTAS, Hub, fragment


class Socket:
    """A page's socket: records what it is sent; ``stuck`` sends never finish."""

    def __init__(self, stuck: bool = False) -> None:
        self.stuck = stuck
        self.batches: list[list[dict]] = []
        self.closed: int | None = None
        self.sent = asyncio.Event()

    async def send_str(self, data: str) -> None:
        if self.stuck:
            await asyncio.Event().wait()
        self.batches.append(json.loads(data)["u"])
        self.sent.set()

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self.closed = code
        return True

    def updates(self, panel: str) -> list[dict]:
        return [u["d"] for batch in self.batches for u in batch if u["p"] == panel]


def make_hub(interval: float = 0.2) -> tuple[Hub, dict[str, int]]:
    counter = {"state": 0, "items": 0}

    def build(panel: str, delta: bool) -> dict | None:
        if panel == "log":
            items = [{"n": counter["items"]}]
            return {"items": items, "delta": True} if delta else {"items": items}
        return {"value": counter["state"]}

    return Hub(("state", "log"), ("log",), {"state": interval, "log": interval}, build), counter


async def test_the_first_change_goes_at_once_then_changes_are_coalesced():
    hub, counter = make_hub(interval=0.2)
    socket = Socket()
    page = hub.open(socket, {"hi": 1})
    pump = asyncio.ensure_future(page.pump(5.0))
    try:
        await asyncio.wait_for(socket.sent.wait(), 2)  # the snapshot
        loop = asyncio.get_running_loop()
        start = loop.time()
        socket.sent.clear()
        counter["state"] = 1
        hub.changed({"state"})
        await asyncio.wait_for(socket.sent.wait(), 2)
        assert loop.time() - start < 0.1  # leading edge: no wait for the interval
        burst = loop.time()
        for value in range(2, 102):  # 100 changes, meant to fall within an interval or two...
            counter["state"] = value
            hub.changed({"state"})
            await asyncio.sleep(0.001)
        # a loaded machine stretches the burst: at most one update per interval it took
        intervals = math.ceil((loop.time() - burst) / 0.2)
        deadline = loop.time() + 2
        while socket.updates("state")[-1]["value"] != 101 and loop.time() < deadline:
            socket.sent.clear()
            await asyncio.wait_for(socket.sent.wait(), 2)
        values = [u["value"] for u in socket.updates("state")]
        assert values[-1] == 101  # ...the last one arrives...
        assert len(values) <= 3 + intervals < 100  # ...in a few updates, not a hundred
    finally:
        pump.cancel()


async def test_a_stuck_page_is_dropped_and_never_holds_the_others():
    hub, counter = make_hub(interval=0.0)
    stuck, fine = Socket(stuck=True), Socket()
    stuck_page, fine_page = hub.open(stuck, {}), hub.open(fine, {})
    pumps = [asyncio.ensure_future(stuck_page.pump(0.3)), asyncio.ensure_future(fine_page.pump(5))]
    try:
        for n in range(1, 2001):
            counter["items"] = n
            counter["state"] = n
            hub.changed({"state", "log"})  # never waits, whatever the pages do
            if n % 100 == 0:
                await asyncio.sleep(0)
                assert stuck_page.queued <= 2 * MAX_QUEUED_DELTAS
        await asyncio.wait_for(pumps[0], 2)  # the stuck page gave up...
        assert stuck.closed == 1013
        deadline = asyncio.get_running_loop().time() + 2
        while (not fine.updates("state") or fine.updates("state")[-1]["value"] != 2000) \
                and asyncio.get_running_loop().time() < deadline:
            fine.sent.clear()
            await asyncio.wait_for(fine.sent.wait(), 2)
        assert fine.updates("state")[-1]["value"] == 2000  # ...the other page is up to date
    finally:
        for pump in pumps:
            pump.cancel()


async def test_a_page_far_behind_gets_the_whole_panel_instead_of_every_item():
    hub, counter = make_hub(interval=0.0)
    socket = Socket()
    page = hub.open(socket, {})
    page.take()  # the snapshot, sent
    for n in range(1, MAX_QUEUED_DELTAS + 5):
        counter["items"] = n
        hub.send("log")
    texts = page.take()
    assert len(texts) == 1 and '"delta"' not in texts[0]  # one whole panel, fresh
    counter["items"] = 99
    hub.send("log")
    assert '"delta":true' in page.take()[0]


async def test_pages_of_nobody_signed_in_are_capped_and_make_room_for_a_signed_in_one():
    hub, _ = make_hub()
    hub.max_pages, hub.max_anonymous, hub.max_per_address = 6, 5, 3
    sockets = [Socket() for _ in range(8)]
    # per address
    assert all(hub.open(s, {}, address="10.0.0.1") for s in sockets[:3])
    assert hub.open(sockets[3], {}, address="10.0.0.1") is None
    # in all
    assert all(hub.open(s, {}, address=f"10.0.0.{n}") for n, s in ((2, sockets[4]),
                                                                   (3, sockets[5])))
    assert hub.open(sockets[6], {}, address="10.0.0.9") is None
    assert hub.anonymous == 5
    # a signed-in page gets in: first in the room left, then in place of the oldest anonymous
    signed = [Socket() for _ in range(3)]
    assert hub.open(signed[0], {}, address="10.0.0.1", signed_in=True) is not None
    assert len(hub.pages) == 6 and sockets[0].closed is None
    assert hub.open(signed[1], {}, address="10.0.0.1", signed_in=True) is not None
    await asyncio.sleep(0)  # the close runs as a task
    assert sockets[0].closed == 1013 and sockets[1].closed is None
    assert len(hub.pages) == 6 and hub.anonymous == 4
    # only signed-in pages left: no room
    for _ in range(4):
        assert hub.open(Socket(), {}, signed_in=True) is not None
    assert hub.anonymous == 0
    assert hub.open(signed[2], {}, signed_in=True) is None


def test_every_text_of_a_panel_reaches_the_page_escaped():
    """The panels quote the bus: a control character or a bidirectional override reaches the
    page as its escape (keys too), numbers and booleans as they are."""
    hostile = "\x1b]0;PWNED\x07\u202eEVIL\r\n\x00"
    text = fragment("decision", {"ack": {"message": hostile, "ok": False, "t": 1.5},
                                 "log": [[hostile, 3]], hostile: None})
    assert not any(c in text for c in "\x1b\x07\u202e\r\n\x00")
    decoded = json.loads(text)["d"]
    escaped = "\\u001b]0;PWNED\\u0007\\u202eEVIL\\r\\n\\u0000"
    assert decoded == {"ack": {"message": escaped, "ok": False, "t": 1.5},
                       "log": [[escaped, 3]], escaped: None}
