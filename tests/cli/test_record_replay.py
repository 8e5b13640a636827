"""``ocd record`` and ``ocd db_replay`` as real processes on real sockets.

A plain XPUB socket in the test plays the publisher (it sends only once the recorder's
subscription has arrived); an EventTap receives the replay.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
from conftest import run_ocd
from e2e_helpers import EventTap, OcdProcess, night_config, short_tmpdir

from ocd.bus import encode, stamp
from ocd.clock import RealClock
from ocd.config import sample_night
from ocd.recording.store import open_recording


class RawPublisher:
    """An XPUB socket that never drops (a full queue blocks the sender) and tells when the
    first subscription has arrived."""

    def __init__(self, url: str) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.XPUB)
        self.sock.setsockopt(zmq.XPUB_NODROP, 1)
        self.sock.bind(url)

    def wait_subscriber(self, timeout: float = 30.0) -> None:
        assert self.sock.poll(int(timeout * 1000)), "no subscriber came"
        self.sock.recv()

    def send(self, topic: str, text: str) -> None:
        self.sock.send_multipart([topic.encode(), text.encode()])

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()


@pytest.fixture
def root() -> Iterator[Path]:
    path = short_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def made_events(count: int) -> list[tuple[str, str]]:
    """OCD-stamped events of several topics and shapes, a foreign TCS event with another
    spacing, and one without any __wire_time; each carries its index ``n``."""
    clock = RealClock()
    events = []
    seq = 0
    for n in range(count):
        if n == 7:
            payload = {"__system": "tcs", "__source": "root", "__key": "ra_dec",
                       "__data_time": 1511060400.5, "__wire_time": 1511060400.75, "n": n}
            events.append(("tcs.root.ra_dec", json.dumps(payload)))
            continue
        if n == 11:
            events.append(("tcs.legacy.thing", json.dumps({"n": n, "note": "no times"})))
            continue
        topic = ("tcs.receiver.heartbeat", "pas.Guider1.metrology_data",
                 "ocd.main_loop.status")[n % 3]
        data = {"n": n, "seeing": 1.25 + n / 1000, "text": "été ☃", "nested": {"a": [1, None]}}
        seq += 1
        payload = stamp(topic, data, origin="test@h:1", seq=seq, clock=clock)
        events.append((topic, encode(topic, payload)[1].decode()))
    return events


def recorded_rows(db: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT topic, payload FROM events ORDER BY id").fetchall()
    conn.close()
    return rows


def test_record_then_replay_gives_the_same_events_in_the_same_order(root):
    url, replay_url = f"ipc://{root}/pub.ipc", f"ipc://{root}/replay.ipc"
    publisher = RawPublisher(url)
    recorder = OcdProcess(("record", "--urls", url, str(root / "night.db")), root, "record")
    try:
        publisher.wait_subscriber()
        sent = made_events(300)
        for topic, text in sent:
            publisher.send(topic, text)
        # stopped right after the last send: what is on its way is still recorded
        assert recorder.stop() == 0, recorder.stderr()
    finally:
        publisher.close()
    assert recorded_rows(root / "night.db") == sent  # every event, byte for byte, in order
    assert "300 events stored (5 topics); 0 malformed dropped; 0 sequence gap(s)" in \
        (root / "record.out").read_text()

    tap = EventTap([replay_url])
    before = time.time()
    result = run_ocd("db_replay", "-s", "0", "--set", f"urls.ocd_db_replay={replay_url}",
                     str(root / "night.db"), cwd=root)
    assert result.returncode == 0, result.stderr
    assert "replayed 300 events (5 topics)" in result.stdout
    tap.wait_for(lambda e: e.payload.get("n") == 299, 30, what="the last replayed event")
    tap.close()
    replayed = tap.events
    assert [e.topic for e in replayed] == [topic for topic, _ in sent]
    for event, (_, text) in zip(replayed, sent, strict=True):
        original = json.loads(text)
        assert event.payload["__wire_time"] >= before  # re-stamped when sent...
        assert {k: v for k, v in event.payload.items() if k != "__wire_time"} == \
            {k: v for k, v in original.items() if k != "__wire_time"}  # ...the rest as is
    assert replayed[7].payload["__data_time"] == 1511060400.5


def test_malformed_messages_are_counted_and_dropped_the_rest_kept(root):
    url = f"ipc://{root}/pub.ipc"
    publisher = RawPublisher(url)
    recorder = OcdProcess(("record", "--urls", url, str(root / "mixed.db")), root, "record")
    bad = [[b"tcs.a.b"], [b"tcs.a.b", b"{}", b"extra"], [b"tcs.a.b", b"not json"],
           [b"tcs.a.b", b"[1, 2]"], [b"tcs.a.b", b"\xff\xfe"], [b"", b"{}"],
           [b"\xff", b"{}"]]
    try:
        publisher.wait_subscriber()
        for n, frames in enumerate(bad):
            publisher.sock.send_multipart([b"tcs.good.one", json.dumps({"n": n}).encode()])
            publisher.sock.send_multipart(frames)
        publisher.send("tcs.good.one", json.dumps({"n": len(bad)}))
        assert recorder.stop() == 0, recorder.stderr()
    finally:
        publisher.close()
    rows = recorded_rows(root / "mixed.db")
    assert [json.loads(p)["n"] for _, p in rows] == list(range(len(bad) + 1))
    out = (root / "record.out").read_text()
    assert f"{len(bad) + 1} events stored (1 topics); {len(bad)} malformed dropped" in out
    assert "NOT written" not in out
    assert "dropped a malformed message" in recorder.err_path.read_text()


def test_sigterm_writes_everything_received_even_without_a_flush_before(root):
    url = f"ipc://{root}/pub.ipc"
    publisher = RawPublisher(url)
    recorder = OcdProcess(("record", "--urls", url, "--set", "record.flush_interval=3600",
                           "--set", "record.batch_size=1000000", str(root / "burst.db")),
                          root, "record")
    try:
        publisher.wait_subscriber()
        clock = RealClock()
        for seq in range(1, 20001):
            payload = stamp("tcs.receiver.heartbeat", {"status": "ok"}, origin="t@h:1",
                            seq=seq, clock=clock)
            publisher.sock.send_multipart(encode("tcs.receiver.heartbeat", payload))
        assert recorder.stop() == 0, recorder.stderr()  # nothing was written before this
    finally:
        publisher.close()
    seqs = [json.loads(p)["__seq"] for _, p in recorded_rows(root / "burst.db")]
    assert seqs == list(range(1, 20001))
    conn = sqlite3.connect(root / "burst.db")
    session = conn.execute("SELECT events, first_id, lost, stopped IS NOT NULL "
                           "FROM recordings").fetchall()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()
    assert session == [(20000, 1, 0, 1)]


def test_a_stop_in_the_middle_of_a_stream_keeps_a_whole_prefix(root):
    url = f"ipc://{root}/pub.ipc"
    publisher = RawPublisher(url)
    recorder = OcdProcess(("record", "--urls", url, str(root / "stream.db")), root, "record")
    sent = 0
    done = threading.Event()

    def stream() -> None:
        nonlocal sent
        clock = RealClock()
        while not done.is_set():
            payload = stamp("tcs.root.ra_dec", {"ra": 1.0}, origin="t@h:1", seq=sent + 1,
                            clock=clock)
            try:
                publisher.sock.send_multipart(encode("tcs.root.ra_dec", payload), zmq.NOBLOCK)
            except zmq.Again:
                continue
            sent += 1

    try:
        publisher.wait_subscriber()
        sender = threading.Thread(target=stream)
        sender.start()
        while sent < 5000:
            time.sleep(0.01)
        recorder.signal(signal.SIGTERM)
        assert recorder.popen.wait(30) == 0, recorder.stderr()
        done.set()
        sender.join()
    finally:
        done.set()
        publisher.close()
        recorder.stop()
    seqs = [json.loads(p)["__seq"] for _, p in recorded_rows(root / "stream.db")]
    assert len(seqs) >= 5000  # at least what was sent before the signal
    assert seqs == list(range(1, len(seqs) + 1))  # from the start, no hole
    assert f"{len(seqs)} events stored" in (root / "record.out").read_text()


def timed_recording(path: Path, count: int, step: float) -> None:
    """``count`` events ``step`` recorded seconds apart (data times), received (and so
    numbered) in the reverse order."""
    conn = open_recording(path)
    rows = []
    for received, i in enumerate(reversed(range(count))):
        payload = {"__data_time": 1000.0 + i * step, "__wire_time": 1000.0 + i * step, "i": i}
        rows.append(("tcs.receiver.heartbeat", json.dumps(payload), payload["__data_time"],
                     payload["__wire_time"], 5000.0 + received))
    conn.executemany("INSERT INTO events (topic, payload, __data_time, __wire_time, received) "
                     "VALUES (?, ?, ?, ?, ?)", rows)
    conn.close()


def replay_times(root: Path, db: Path, *args: str) -> list[tuple[int, float, float]]:
    """(i, __data_time, __wire_time) of each replayed event, in arrival order."""
    url = f"ipc://{root}/replay.ipc"
    tap = EventTap([url])
    result = run_ocd("db_replay", *args, "--set", f"urls.ocd_db_replay={url}", str(db),
                     cwd=root)
    assert result.returncode == 0, result.stderr
    count = sqlite3.connect(db).execute("SELECT count(*) FROM events").fetchone()[0]
    tap.wait_for(lambda e: len(tap.events) >= count, 30, what=f"{count} events")
    tap.close()
    return [(e.payload["i"], e.payload["__data_time"], e.payload["__wire_time"])
            for e in tap.events]


def test_speedup_divides_the_recorded_intervals(root):
    db = root / "timed.db"
    timed_recording(db, 11, 0.5)  # 5 recorded seconds
    events = replay_times(root, db, "-s", "5", "--sort-by", "__data_time")
    assert [i for i, _, _ in events] == list(range(11))
    first_data, first_wire = events[0][1], events[0][2]
    for _, data, wire in events:
        expected = (data - first_data) / 5
        assert expected - 0.01 <= wire - first_wire <= expected + 0.15, (data, wire)
    assert events[-1][2] - first_wire == pytest.approx(1.0, abs=0.1)
    # as fast as possible: far quicker than the recorded 5 s or the 1 s at -s 5
    fast = replay_times(root, db, "-s", "0", "--sort-by", "__data_time")
    assert fast[-1][2] - fast[0][2] < 0.3
    # by id: the reception order (the reverse of the data times), paced by the time received
    by_id = replay_times(root, db, "-s", "10")
    assert [i for i, _, _ in by_id] == list(range(10, -1, -1))
    assert by_id[-1][2] - by_id[0][2] == pytest.approx(1.0, abs=0.15)  # 10 s received, 10x


def test_db_replay_without_an_address_or_a_subscriber_says_so(root):
    db = root / "timed.db"
    timed_recording(db, 2, 1.0)
    result = run_ocd("db_replay", "--set", "urls.ocd_db_replay=", str(db), cwd=root)
    assert result.returncode == 2
    assert "[urls] ocd_db_replay is empty" in result.stderr
    assert "--set urls.ocd_db_replay=" in result.stderr
    url = f"ipc://{root}/replay.ipc"
    result = run_ocd("db_replay", "--wait", "0.5", "--set", f"urls.ocd_db_replay={url}", str(db),
                     cwd=root)
    assert result.returncode == 1
    assert f"no subscriber on {url}" in result.stderr and "0 of 1 subscriber" in result.stderr
    result = run_ocd("db_replay", "--set", f"urls.ocd_db_replay={url}", str(root / "nope.db"),
                     cwd=root)
    assert result.returncode == 1 and "nope.db: no such recording" in result.stderr


def test_record_refuses_a_directory_and_a_foreign_database(root):
    result = run_ocd("record", "--urls", f"ipc://{root}/x.ipc", str(root), cwd=root)
    assert result.returncode == 2 and "is a directory" in result.stderr
    other = root / "obsnum.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE vl_obsnum (id INTEGER)").connection.close()
    result = run_ocd("record", "--urls", f"ipc://{root}/x.ipc", str(other), cwd=root)
    assert result.returncode == 1 and "not an OCD recording" in result.stderr


@pytest.mark.slow
def test_ocd_run_takes_the_replay_as_its_tcs(root):
    """The sample night drives the main loop's TCS state as a live TCS would: alive while the
    replay runs, dead once it stops (heartbeat timeout in OCD-clock seconds)."""
    config = night_config(root, speed=120.0)  # the night was recorded at 60x: in step at -s 2
    replay_url = f"ipc://{root}/replay.ipc"
    inputs = ["--set", "urls.event_urls=", "--set", f"urls.ocd_db_replay={replay_url}",
              "--set", "tcs.backend=simulated"]
    replay = OcdProcess(("db_replay", "--config", str(config), *inputs, "-s", "2",
                         str(sample_night())), root, "db_replay")
    run = OcdProcess(("run", "--config", str(config), *inputs, "--yes"), root, "run")
    tap = EventTap([f"ipc://{root}/main.ipc"])
    try:  # the status is published at each TCS heartbeat, so only while heartbeats come
        alive, status = tap.wait_for(
            lambda e: e.topic == "ocd.main_loop.status" and e.payload["states"]["tcs"] ==
            "alive" and e.payload["states"]["metrology"] == "good", 60,
            what="status with tcs alive and good metrology")
        assert status.payload["seeing"] == pytest.approx(1.3, abs=0.3)
        assert replay.stop() == 0, replay.err_path.read_text()
        tap.wait_for(lambda e: e.topic == "ocd.states.change"
                     and e.payload["machine_name"] == "tcs"
                     and e.payload["new_state"] == "dead", 30, alive, what="tcs dead")
    finally:
        tap.close()
        codes = (run.stop(), replay.stop())
    assert codes == (0, 0), run.err_path.read_text()
    replay_log = replay.err_path.read_text()
    assert "waiting for 1 subscriber" in replay_log and "out of step" not in replay_log
