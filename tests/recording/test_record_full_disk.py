"""``ocd record`` on a full disk (a small tmpfs the test mounts): it goes on receiving, keeps
the newest events in memory (``[record] full_disk_buffer``), says what it dropped, writes again
when space returns, and its file replays with ``ocd db_replay`` all along, ending with the
newest events. Real processes and sockets; the test fails (never skips) when it cannot mount.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import zmq
from conftest import run_ocd
from e2e_helpers import OcdProcess, wait_until

pytestmark = pytest.mark.slow

BUFFER = 300  # [record] full_disk_buffer for the test
PADDING = "x" * 900  # about 1 kB per event: the small disk fills within a few hundred


@contextlib.contextmanager
def small_disk(size: str = "2m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on a fresh directory, unmounted afterwards."""
    where = Path(tempfile.mkdtemp(prefix="ocd-full-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(where, ignore_errors=True)
        pytest.fail(f"this test needs a small filesystem of its own and could not mount a "
                    f"tmpfs on {where} (run it as root, or where mount -t tmpfs is allowed): "
                    f"{done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        shutil.rmtree(where, ignore_errors=True)


def fill(disk: Path) -> Path:
    """Fill ``disk`` up with one file; returns it."""
    filler = disk / "filler"
    with filler.open("wb") as out, contextlib.suppress(OSError):  # ENOSPC: full
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    return filler




class Source:
    """A plain PUB on ipc sending numbered events (``__origin``, ``__seq``)."""

    def __init__(self, url: str) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.XPUB)
        self.sock.setsockopt(zmq.SNDHWM, 0)
        self.sock.bind(url)
        self.seq = 0

    def wait_for_subscriber(self, timeout: float) -> None:
        assert self.sock.poll(int(timeout * 1000)), "ocd record never subscribed"
        self.sock.recv()

    def send(self, count: int) -> None:
        for _ in range(count):
            self.seq += 1
            payload = {"__origin": "test@host:1", "__seq": self.seq,
                       "__data_time": time.time(), "n": self.seq, "pad": PADDING}
            self.sock.send_multipart([b"test.disk.event", orjson.dumps(payload)])

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()


def stored(path: Path) -> list[int]:
    """The numbers of the events the recording holds (read only, as a replay reads it)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [orjson.loads(row[0])["n"] for row in
                conn.execute("SELECT payload FROM events ORDER BY id")]
    finally:
        conn.close()


def replayed(path: Path, root: Path) -> list[int]:
    """The numbers of the events ``ocd db_replay`` of the file sends (at full speed) to a SUB
    connected before it starts."""
    url = f"ipc://{root}/replay.ipc"
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.connect(url)
    numbers: list[int] = []
    try:
        result = run_ocd("db_replay", str(path), "-s", "0", "--subscribers", "1", "--wait", "30",
                         "--set", f"urls.ocd_db_replay={url}", timeout=60)
        assert result.returncode == 0, result.stderr
        while sock.poll(500):  # what the replay sent is queued here already
            numbers.append(orjson.loads(sock.recv_multipart()[1])["n"])
    finally:
        sock.close(linger=0)
        ctx.term()
    return numbers


def test_the_recorder_waits_out_a_full_disk_and_keeps_the_newest_events():
    root = Path(tempfile.mkdtemp(prefix="ocd-"))
    source = Source(f"ipc://{root}/source.ipc")
    with small_disk() as disk:
        out = disk / "night.db"
        record = OcdProcess(("record", "--urls", f"ipc://{root}/source.ipc", "--set",
                             f"record.full_disk_buffer={BUFFER}", "--set",
                             "record.flush_interval=0.1", str(out)), root, "record")
        filler = None
        try:
            source.wait_for_subscriber(30)
            source.send(100)
            wait_until(lambda: out.exists() and len(stored(out)) == 100, 30,
                       "first events written", record.stderr)
            filler = fill(disk)
            # the disk is full: events keep coming, far more than the buffer holds
            sent_while_full = 0
            while "disk full" not in record.stderr():
                assert sent_while_full < 20_000, record.stderr()
                source.send(50)
                sent_while_full += 50
                time.sleep(0.05)  # pacing the sender, not waiting for a result
            source.send(2 * BUFFER)
            wait_until(lambda: "dropped so far" in record.stderr(), 30, "the full-disk line",
                       record.stderr)
            during = stored(out)
            assert during[:100] == list(range(1, 101))
            # readable by a replay while the disk is full: everything written so far
            assert replayed(out, root) == during
            assert record.popen.poll() is None, record.stderr()  # still recording
            newest_before_space = source.seq
            filler.unlink()  # space returns
            wait_until(lambda: "disk space is back" in record.stderr(), 30, "writing again",
                       record.stderr)
            source.send(20)
            wait_until(lambda: stored(out)[-1:] == [source.seq], 30, "newest event written",
                       record.stderr)
            assert record.stop() == 0, record.stderr()
            numbers = stored(out)
            # nothing twice, in order; the newest kept: every event from the last BUFFER
            # before space came back to the end
            assert numbers == sorted(set(numbers))
            tail = list(range(newest_before_space - BUFFER + 1, source.seq + 1))
            assert numbers[-len(tail):] == tail
            dropped = source.seq - len(numbers)
            assert dropped > 0
            assert f"{dropped} dropped while the disk was full" in record.child.stdout(), \
                record.child.stdout()
            assert "Traceback" not in record.stderr()
            assert "disk full: the end of this recording session" not in record.stderr()
            assert replayed(out, root) == numbers
        finally:
            source.close()
            if record.popen.poll() is None:
                record.stop()
            if filler is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(filler)
            shutil.rmtree(root, ignore_errors=True)
