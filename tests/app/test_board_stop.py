"""``ocd board`` stops promptly on SIGTERM, whatever its pages and the bus do: a real ``ocd board``
process, real WebSockets on loopback (pages that reconnect at once when closed, as the page's
script does, and pages that never read), a real ZeroMQ publisher flooding the TCS address.

The board's own bounds add up to about two seconds (pages get 1 s to answer their close,
requests still handled 2 x 0.5 s); the deadline here is wider for a loaded machine, and far
below what the stop took without those bounds (aiohttp waits 60 s for a page let in during the
stop; a board busy with a stream never ran its signal handler at all)."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import zmq
from browser_helpers import board_url
from e2e_helpers import OcdProcess, short_tmpdir

pytestmark = pytest.mark.slow

#: Seconds the board may take to exit after SIGTERM in these tests.
DEADLINE = 6.0


def board_config(root: Path) -> Path:
    ipc = f"ipc://{root}"
    path = root / "ocd.cfg"
    path.write_text(f"""
[urls]
event_urls = {ipc}/tcs.ipc
ocd_main_loop = {ipc}/main.ipc
ocd_run_shot = {ipc}/shot.ipc
ocd_allow_hetdex = {ipc}/allow0.ipc, {ipc}/allow1.ipc

[shots]
shot_file = {root}/none.dat

[board]
url = http://127.0.0.1:0

[bus]
linger = 0
""")
    return path


@pytest.fixture
def root() -> Iterator[Path]:
    path = short_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def stop_within(board: OcdProcess, deadline: float) -> float:
    """SIGTERM the board; the seconds it took to exit 0 (fails past ``deadline``)."""
    start = time.monotonic()
    board.signal(signal.SIGTERM)
    code, killed = board.child.stop(deadline)
    took = time.monotonic() - start
    assert not killed, f"ocd board did not stop within {deadline:g} s of SIGTERM:\n" \
                       f"{board.stderr()[-3000:]}"
    assert code == 0, board.stderr()[-3000:]
    return took


async def reconnecting_page(http: aiohttp.ClientSession, url: str, served: asyncio.Event,
                            done: asyncio.Event) -> None:
    """A page as the board's script makes it, without its half-second pause: when its socket
    closes, it opens another at once, until ``done``."""
    while not done.is_set():
        try:
            async with http.ws_connect(url) as ws:
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        served.set()
        except (aiohttp.ClientError, OSError):
            await asyncio.sleep(0.01)  # the board stopped listening


async def test_the_board_stops_on_sigterm_with_pages_open_and_reconnecting(root: Path):
    board = OcdProcess(("board", "--config", str(board_config(root))), root, "board")
    try:
        url = board_url(root / "board.out").replace("http", "ws") + "/ws"
        done = asyncio.Event()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            served = [asyncio.Event() for _ in range(15)]
            pages = [asyncio.ensure_future(reconnecting_page(http, url, event, done))
                     for event in served]
            try:
                await asyncio.wait_for(asyncio.gather(*(e.wait() for e in served)), 20)
                # pages that never read: 5 let in, 5 refused (20 pages per address), whose
                # refusal waits for an answer that never comes
                for _ in range(10):
                    await http.ws_connect(url, autoclose=False, autoping=False)
                took = await asyncio.to_thread(stop_within, board, DEADLINE)
            finally:
                done.set()  # the silent pages go with the session
                await asyncio.wait_for(asyncio.gather(*pages, return_exceptions=True), 10)
    finally:
        board.child.stop(5)
    assert "Traceback" not in board.stderr()
    print(f"stopped in {took:.2f} s")


def test_the_board_stops_on_sigterm_while_events_flood_in(root: Path):
    """A stream faster than the board can show (a flood on the TCS address, or a backlog on a
    loaded machine) must not keep its signal handler from running."""
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.SNDHWM, 0)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(f"ipc://{root}/tcs.ipc")
    board = OcdProcess(("board", "--config", str(board_config(root))), root, "board")
    flooding = threading.Event()
    stop = threading.Event()
    sender: threading.Thread | None = None

    def flood() -> None:
        payload = {"ra": 1.5, "dec": 20.0, "track": "W", "tracking": True}
        frames = [b"tcs.root.ra_dec", json.dumps(payload).encode()]
        while not stop.is_set():
            for _ in range(1000):
                pub.send_multipart(frames)
            flooding.set()

    try:
        board_url(root / "board.out")
        # the board's subscription arrives, then the flood starts
        assert pub.poll(20_000), "ocd board never subscribed to the TCS address"
        while pub.poll(0):
            pub.recv()
        sender = threading.Thread(target=flood, daemon=True)
        sender.start()
        assert flooding.wait(10)
        took = stop_within(board, DEADLINE)
    finally:
        stop.set()
        if sender is not None:
            sender.join(10)
        board.child.stop(5)
        pub.close()
        ctx.term()
    assert "Traceback" not in board.stderr()
    print(f"stopped in {took:.2f} s")
