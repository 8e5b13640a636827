"""The survey's archive at scale, on the real MariaDB: ingest, the night's timeline and a
shot's history with every night stored, and the archiver's lag behind a live bus.

Nights: ``ocd simulate`` runs a few distinct 10-hour nights (the sample shot list, random
weather and faults); every event of them is captured as it crosses the simulated bus (the
TCS's, the shots', and what the main loop publishes, stamped as its publisher stamps it). The
archive is filled with ``--nights`` nights, each one of those, moved to its own date (times
shifted by whole days). Heartbeats, pointings and the main loop's per-heartbeat states and
status are thinned to one in ``--thin`` (said in the figures) so a thousand nights fill in
minutes; everything else is kept.

Measured, in one run:
- ingest: ``ArchiveStore.write`` (the archiver's write: events ``INSERT IGNORE``, the visits,
  the nights, the gaps, one transaction per batch of ``--batch``) in events/s, against a bare
  ``executemany`` of the same rows into a table of the same columns and indexes (every
  ``--sample``-th night written both ways); target >= 20 000 events/s and >= 0.7x the bare
  ``executemany``;
- with every night stored: a night's timeline (what ``ocd archive night`` does after
  connecting: the night's span, its events of the report's topics, the monitors' timeline)
  p50 <= 200 ms; a shot's history (``ocd archive shot``) p50 <= 50 ms;
- the lag: ``ocd archive record``'s reception and writer (in this process, real ZeroMQ) behind
  a publisher sending at ``--rate`` events/s (a rehearsal at 60x sends about 200/s), from the
  event's ``__wire_time`` to the commit of its batch; target p99 <= 1 s.

    python bench/archive_scale.py [--nights 1000] [--thin 40] [--base-nights 4]

Connection: ``OCD_TEST_MYSQL_HOST``, ``_PORT``, ``_USER``, ``_PASSWORD`` (defaults
127.0.0.1:3306, root, empty); the database ``--database`` (default ``ocd_archive_bench``) is
made afresh and dropped at the end unless ``--keep``. Figures go in doc/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402
import pymysql  # noqa: E402
import zmq  # noqa: E402

from ocd.app.simulation.simulate import Request, simulate_nights  # noqa: E402
from ocd.archive.archiver import Archiver, ArchiveSettings  # noqa: E402
from ocd.archive.report import report_topics, tell_night  # noqa: E402
from ocd.archive.rows import EventRow, event_row  # noqa: E402
from ocd.archive.store import ArchiveStore, MysqlSettings  # noqa: E402
from ocd.bus import encode, stamp  # noqa: E402
from ocd.clock import RealClock  # noqa: E402
from ocd.config import load_config, sample_shot_file  # noqa: E402
from ocd.dev.night_events import Captured, capture, thinned  # noqa: E402
from ocd.recording.recorder import RecordSettings  # noqa: E402
from ocd.shots.store import load_shots  # noqa: E402

UTC = dt.timezone.utc
FIRST = dt.datetime(2017, 11, 19, 1, 0, tzinfo=UTC)
HOURS = 10.0
DAY = 86400.0


def mysql_params() -> dict[str, Any]:
    return {"host": os.environ.get("OCD_TEST_MYSQL_HOST", "127.0.0.1"),
            "port": int(os.environ.get("OCD_TEST_MYSQL_PORT", "3306")),
            "user": os.environ.get("OCD_TEST_MYSQL_USER", "root"),
            "password": os.environ.get("OCD_TEST_MYSQL_PASSWORD", "")}


# -- the nights ---------------------------------------------------------------------------------
def capture_nights(count: int, thin: int) -> list[list[Captured]]:
    """``count`` simulated nights' events, as they crossed the simulated bus."""
    cfg = load_config([], [("shots", "shot_file", str(sample_shot_file())),
                           ("run_shot", "shuffle_dir", str(sample_shot_file().parent
                                                           / "HETcommands")),
                           ("run_shot", "acam_dir", str(sample_shot_file().parent
                                                        / "ACAMimages"))])
    nights: list[list[Captured]] = []
    keep = thinned(thin)
    for n in range(count):
        start = FIRST + dt.timedelta(days=n)
        request = Request([(start, start + dt.timedelta(hours=HOURS))], "random", 7 + n,
                          faults=True)
        with capture(keep) as events:
            simulate_nights(cfg, request, load_shots(sample_shot_file()))
        nights.append(events)
    return nights


def moved(base: list[Captured], days: int) -> Iterator[tuple[str, str, dict[str, Any], float]]:
    """A captured night moved ``days`` days later: (topic, text, payload, received)."""
    shift = days * DAY
    for topic, payload, now in base:
        p = dict(payload)
        for key in ("__data_time", "__wire_time"):
            if isinstance(p.get(key), (int, float)):
                p[key] = p[key] + shift
        if "__ocd_utc" in p:
            p["__ocd_utc"] = dt.datetime.fromtimestamp(now + shift, UTC).isoformat()
        yield topic, orjson.dumps(p).decode(), p, now + shift


def night_rows(base: list[Captured], days: int) -> list[EventRow]:
    return [event_row(topic, text, p, received)
            for topic, text, p, received in moved(base, days)]


# -- the measures --------------------------------------------------------------------------------
def bare_table(conn: pymysql.connections.Connection) -> None:
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_bare")
        cur.execute("CREATE TABLE bench_bare LIKE archive_events")


_BARE = ("INSERT INTO bench_bare (night, uid, topic, origin, seq, at, data_time, wire_time, "
         "received, payload) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")


def bare_write(conn: pymysql.connections.Connection, rows: list[EventRow], batch: int) -> float:
    began = time.perf_counter()
    with conn.cursor() as cur:
        for k in range(0, len(rows), batch):
            conn.begin()
            cur.executemany(_BARE, [(r.date, r.uid, r.topic, r.origin, r.seq, r.at, r.data_time,
                                     r.wire_time, r.received, r.payload)
                                    for r in rows[k:k + batch]])
            conn.commit()
    return time.perf_counter() - began


def archive_write(store: ArchiveStore, rows: list[EventRow], batch: int) -> float:
    began = time.perf_counter()
    for k in range(0, len(rows), batch):
        store.write(rows[k:k + batch])
    return time.perf_counter() - began


def fill(store: ArchiveStore, conn: pymysql.connections.Connection,
         bases: list[list[Captured]], args: argparse.Namespace) -> dict[str, float]:
    bare_table(conn)
    stored = archived_s = 0.0
    sample_events = sample_archive = sample_bare = 0.0
    began = time.perf_counter()
    for k in range(args.nights):
        base = bases[k % len(bases)]
        rows = night_rows(base, (k // len(bases)) * len(bases))
        seconds = archive_write(store, rows, args.batch)
        stored += len(rows)
        archived_s += seconds
        if k % args.sample == 0:
            sample_events += len(rows)
            sample_archive += seconds
            sample_bare += bare_write(conn, rows, args.batch)
        if k % max(1, args.nights // 20) == 0:
            print(f"  night {k + 1}/{args.nights}: {stored:,.0f} events, "
                  f"{stored / archived_s:,.0f} events/s writing, "
                  f"{time.perf_counter() - began:.0f} s", flush=True)
    return {"events": stored, "write_s": archived_s, "wall_s": time.perf_counter() - began,
            "sample_events": sample_events, "sample_archive_s": sample_archive,
            "sample_bare_s": sample_bare}


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def queries(store: ArchiveStore, repeat: int) -> tuple[list[float], list[float], int]:
    nights = [night for night, *_ in store.nights()]
    rng = random.Random(1)
    timeline, shot_times, shots = [], [], 0
    wanted = report_topics()
    conn = store._connection()  # noqa: SLF001 (the bench picks shot ids to ask for)
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT shotid FROM archive_visits")
        shotids = [row[0] for row in cur.fetchall()]
    for _ in range(repeat):
        night = rng.choice(nights)
        began = time.perf_counter()
        span = store.night(night)
        assert span is not None
        told = tell_night(night, span, store.night_events(night, wanted, span[0], span[1]),
                          store.gaps(night))
        timeline.append(time.perf_counter() - began)
        shots += len(told.report.shots)
        began = time.perf_counter()
        store.visits(rng.choice(shotids))
        shot_times.append(time.perf_counter() - began)
    return timeline, shot_times, shots


class TimedStore(ArchiveStore):
    """The archive's store, noting for each event when the batch holding it was committed."""

    lags: list[float]

    def write(self, rows: Any) -> int:
        new = super().write(rows)
        now = time.time()
        self.lags.extend(now - r.wire_time for r in rows if r.wire_time is not None)
        return new


def lag(settings: MysqlSettings, rate: float, seconds: float) -> list[float]:
    """The archiver (real ZeroMQ, its writer thread) behind a publisher at ``rate``/s."""
    store = TimedStore(settings)
    store.lags = []
    folder = Path(tempfile.mkdtemp(prefix="ocd-bench-"))
    url = f"ipc://{folder}/bus.ipc"
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.bind(url)
    archiver = Archiver(store, ArchiveSettings(folder / "spool"), [url],
                        record=RecordSettings(batch_size=2000, flush_interval=0.5))
    thread = threading.Thread(target=archiver.run)
    thread.start()
    assert pub.poll(10_000), "the archiver did not subscribe"
    pub.recv()
    clock = RealClock()
    topic = "ocd.bench.tick"
    began = time.monotonic()
    for n in range(int(rate * seconds)):
        due = began + n / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        payload = stamp(topic, {"n": n}, origin="bench@h:1", seq=n + 1, clock=clock)
        pub.send_multipart(list(encode(topic, payload)))
    time.sleep(1.0)  # the last batch's flush interval
    archiver.stop()
    thread.join()
    pub.close(linger=0)
    ctx.term()
    return store.lags


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=1000)
    parser.add_argument("--base-nights", type=int, default=4,
                        help="distinct simulated nights the archive's nights are made of")
    parser.add_argument("--thin", type=int, default=40,
                        help="keep one in THIN heartbeats, pointings, states and status")
    parser.add_argument("--batch", type=int, default=2000, help="events per transaction")
    parser.add_argument("--sample", type=int, default=20,
                        help="every SAMPLE-th night is also written by the bare executemany")
    parser.add_argument("--queries", type=int, default=50, help="timelines and shots asked")
    parser.add_argument("--rate", type=float, default=200.0, help="events/s for the lag")
    parser.add_argument("--lag-seconds", type=float, default=20.0)
    parser.add_argument("--database", default="ocd_archive_bench")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args(argv)
    params = mysql_params()
    conn = pymysql.connect(autocommit=True, **params)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{args.database}`")
        cur.execute(f"CREATE DATABASE `{args.database}`")
    conn.select_db(args.database)
    settings = MysqlSettings(params["host"], params["port"], args.database, params["user"],
                             params["password"], section="archive")
    store = ArchiveStore(settings)
    store.migrate()
    print(f"python {platform.python_version()} on {platform.machine()}; "
          f"{conn.get_server_info()}; {args.nights} nights from {args.base_nights} simulated "
          f"ones, heartbeats, pointings, states and status thinned to 1 in {args.thin}")
    try:
        began = time.perf_counter()
        bases = capture_nights(args.base_nights, args.thin)
        sizes = [len(night) for night in bases]
        print(f"simulated {len(bases)} nights in {time.perf_counter() - began:.1f} s: "
              f"{min(sizes):,} to {max(sizes):,} events each (after thinning)")
        filled = fill(store, conn, bases, args)
        rate = filled["events"] / filled["write_s"]
        ratio = (filled["sample_bare_s"] / filled["sample_archive_s"])
        print(f"ingest: {filled['events']:,.0f} events in {filled['write_s']:.1f} s of writing: "
              f"{rate:,.0f} events/s (target >= 20 000); with making the rows (the bench's "
              f"moving of the nights included) {filled['events'] / filled['wall_s']:,.0f} "
              "events/s")
        print(f"  the same {filled['sample_events']:,.0f} rows: archive "
              f"{filled['sample_events'] / filled['sample_archive_s']:,.0f} events/s, bare "
              f"executemany {filled['sample_events'] / filled['sample_bare_s']:,.0f} "
              f"events/s: ratio {ratio:.2f} (target >= 0.7)")
        with conn.cursor() as cur:
            cur.execute("DROP TABLE bench_bare")
            cur.execute("SELECT data_length + index_length FROM information_schema.tables "
                        "WHERE table_schema = %s AND table_name = 'archive_events'",
                        (args.database,))
            size = int(cur.fetchone()[0])
        print(f"  archive_events: {size / 2 ** 30:.2f} GiB, about "
              f"{size / args.nights / 2 ** 20:.1f} MiB per night "
              f"({size / filled['events']:.0f} bytes per event)")
        timeline, shots, told = queries(store, args.queries)
        print(f"a night's timeline, {args.nights} nights stored: p50 {p50(timeline) * 1000:.0f} "
              f"ms, p99 {p99(timeline) * 1000:.0f} ms (target p50 <= 200 ms; {told} shots told)")
        print(f"a shot's history: p50 {p50(shots) * 1000:.1f} ms, p99 "
              f"{p99(shots) * 1000:.1f} ms (target p50 <= 50 ms)")
        lags = lag(settings, args.rate, args.lag_seconds)
        print(f"lag behind the bus at {args.rate:g} events/s for {args.lag_seconds:g} s "
              f"({len(lags)} events): p50 {p50(lags) * 1000:.0f} ms, p99 "
              f"{p99(lags) * 1000:.0f} ms (target p99 <= 1000 ms)")
    finally:
        store.close()
        if not args.keep:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{args.database}`")
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
