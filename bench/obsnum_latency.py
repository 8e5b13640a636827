"""Latency of one observation-number allocation, against bare round trips on the same connection.

    python bench/obsnum_latency.py [--allocations 1000] [--workers 8]

MySQL/MariaDB (the server of ``OCD_TEST_MYSQL_HOST``/``_PORT``/``_USER``/``_PASSWORD``, default
127.0.0.1:3306 root without password; a scratch database is created and dropped) and SQLite (a
file in a temporary directory), each alone and with ``--workers`` processes allocating at the
same time. Every iteration times a bare ``SELECT 1`` and then one allocation on the same
connection, so both see the same load; the ratio of their medians is the figure to watch
(target: p50 ratio <= 3 alone). A bare one-row ``INSERT`` (autocommit, so one durable commit)
is timed as well: it is the floor of any allocation that writes its number.

The clock moves to the next day every ``--per-date`` allocations, so the table holds as many
rows per date as a real night does rather than thousands.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ocd.obsnum.mysql import MysqlAllocator, MysqlSettings  # noqa: E402
from ocd.obsnum.rules import ObsnumAllocator  # noqa: E402
from ocd.obsnum.sqlite import SqliteAllocator  # noqa: E402

INIT_SQL = ROOT / "docker" / "mysql" / "init.sql"
START = dt.datetime(2017, 11, 24, 3, 0, tzinfo=dt.timezone.utc)


class NightlyClock:
    """A clock that moves one day ahead every ``per_date`` readings."""

    is_mock = True

    def __init__(self, per_date: int) -> None:
        self.per_date = per_date
        self.readings = 0

    def utc(self) -> dt.datetime:
        self.readings += 1
        return START + dt.timedelta(days=self.readings // self.per_date)

    def jd(self) -> float:
        return self.utc().timestamp() / 86400 + 2440587.5

    def timestamp(self) -> float:
        return self.utc().timestamp()

    def describe(self) -> str:
        return f"bench clock, {self.per_date} allocations a night"


def mysql_params() -> dict[str, object]:
    return {
        "host": os.environ.get("OCD_TEST_MYSQL_HOST", "127.0.0.1"),
        "port": int(os.environ.get("OCD_TEST_MYSQL_PORT", "3306")),
        "user": os.environ.get("OCD_TEST_MYSQL_USER", "root"),
        "password": os.environ.get("OCD_TEST_MYSQL_PASSWORD", ""),
    }


def make_allocator(kind: str, target: str, per_date: int, update: bool = True
                   ) -> ObsnumAllocator:
    clock = NightlyClock(per_date)
    if kind == "sqlite":
        return SqliteAllocator(Path(target), clock, "virus", update, lock_timeout=60)
    p = mysql_params()
    settings = MysqlSettings(str(p["host"]), int(p["port"]), target, str(p["user"]),
                             str(p["password"]), read_timeout=120, lock_timeout=60)
    return MysqlAllocator(settings, clock, "virus", update)


def select_one(allocator: ObsnumAllocator) -> Callable[[], object]:
    if isinstance(allocator, MysqlAllocator):
        def mysql_select() -> object:
            with allocator.connection.cursor() as cur:
                cur.execute("SELECT 1")
                return cur.fetchall()
        return mysql_select
    conn = allocator.connection
    return lambda: conn.execute("SELECT 1").fetchall()


def bare_insert(allocator: ObsnumAllocator) -> Callable[[], object]:
    """One durable one-row commit, into rows of another instrument."""
    if isinstance(allocator, MysqlAllocator):
        def mysql_insert() -> object:
            with allocator.connection.cursor() as cur:
                return cur.execute("INSERT INTO vl_obsnum (obsdate, inst, obsnum) "
                                   "VALUES ('2000-01-01', 'bench', 1)")
        return mysql_insert
    conn = allocator.connection
    return lambda: conn.execute("INSERT INTO vl_obsnum (obsdate, inst, obsnum) "
                                "VALUES ('2000-01-01', 'bench', 1)")


def measure(allocator: ObsnumAllocator, n: int, with_insert: bool = False
            ) -> dict[str, list[float]]:
    """Interleaved timings (seconds) of SELECT 1, one allocation and maybe a bare INSERT."""
    probes = {"select1": select_one(allocator), "allocate": lambda: allocator.allocate()}
    if with_insert:
        probes["insert"] = bare_insert(allocator)
    for probe in probes.values():  # warm up: connection, caches, statement plans
        for _ in range(20):
            probe()
    timings: dict[str, list[float]] = {name: [] for name in probes}
    for _ in range(n):
        for name, probe in probes.items():
            started = time.perf_counter()
            probe()
            timings[name].append(time.perf_counter() - started)
    return timings


def worker(kind: str, target: str, per_date: int, n: int, barrier, queue) -> None:
    with make_allocator(kind, target, per_date) as allocator:
        allocator.check()
        barrier.wait()
        started = time.perf_counter()  # CLOCK_MONOTONIC: comparable between processes
        timings = measure(allocator, n)
        timings["span"] = [started, time.perf_counter()]
        queue.put(timings)


def concurrent(kind: str, target: str, per_date: int, n: int, workers: int
               ) -> dict[str, list[float]]:
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(kind, target, per_date, n, barrier, queue))
             for _ in range(workers)]
    for proc in procs:
        proc.start()
    merged: dict[str, list[float]] = {}
    for _ in procs:
        for name, values in queue.get(timeout=600).items():
            merged.setdefault(name, []).extend(values)
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"a {kind} worker failed (exit {proc.exitcode})")
    spans = merged.pop("span")
    merged["wall"] = [max(spans) - min(spans)]
    return merged


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def report(label: str, timings: dict[str, list[float]]) -> float:
    base50, base99 = (percentile(timings["select1"], q) for q in (50, 99))
    print(f"{label}")
    print(f"  {'':<22}{'p50 us':>9}{'p99 us':>9}{'p50/SELECT 1':>14}{'p99/SELECT 1':>14}")
    for name, title in (("select1", "bare SELECT 1"), ("insert", "bare INSERT (commit)"),
                        ("allocate", "allocation")):
        if name not in timings:
            continue
        p50, p99 = (percentile(timings[name], q) for q in (50, 99))
        print(f"  {title:<22}{p50 * 1e6:>9.0f}{p99 * 1e6:>9.0f}{p50 / base50:>14.2f}"
              f"{p99 / base99:>14.2f}")
    if "wall" in timings:
        total = len(timings["allocate"])
        print(f"  {total} allocations and {total} SELECT 1 (plus 20 of each to warm up) "
              f"took {timings['wall'][0]:.2f} s from the common start to the last process")
    return percentile(timings["allocate"], 50) / base50


def create_mysql_database() -> str:
    import pymysql
    from pymysql.constants import CLIENT

    name = f"ocd_bench_{uuid.uuid4().hex[:10]}"
    conn = pymysql.connect(autocommit=True, client_flag=CLIENT.MULTI_STATEMENTS,
                           **mysql_params())
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(f"USE `{name}`")
        cur.execute(INIT_SQL.read_text())
        while cur.nextset():
            pass
    conn.close()
    return name


def drop_mysql_database(name: str) -> None:
    import pymysql

    conn = pymysql.connect(autocommit=True, **mysql_params())
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


def run_backend(kind: str, target: str, args: argparse.Namespace) -> None:
    name = "MariaDB/MySQL" if kind == "mysql" else "SQLite"
    with make_allocator(kind, target, args.per_date) as allocator:
        alone = measure(allocator, args.allocations, with_insert=True)
        ratio = report(f"{name}, alone ({args.allocations} allocations, written)", alone)
    with make_allocator(kind, target, args.per_date, update=False) as reader:
        report(f"{name}, alone, mysql_update_obsnum = false (read only)",
               measure(reader, args.allocations))
    n = max(1, args.allocations // args.workers)
    report(f"{name}, {args.workers} processes allocating at once ({n} each)",
           concurrent(kind, target, args.per_date, n, args.workers))
    verdict = "met" if ratio <= 3 else "NOT met"
    floor = percentile(alone["insert"], 50) / percentile(alone["select1"], 50)
    over = percentile(alone["allocate"], 50) / percentile(alone["insert"], 50)
    print(f"  target p50 allocation / SELECT 1 <= 3 alone: {ratio:.2f}, {verdict} (a bare "
          f"durable INSERT alone: {floor:.2f}; allocation / bare INSERT: {over:.2f})\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allocations", type=int, default=1000,
                        help="timed allocations alone (shared by the workers when concurrent)")
    parser.add_argument("--workers", type=int, default=8, help="concurrent processes")
    parser.add_argument("--per-date", type=int, default=20, help="allocations per night")
    parser.add_argument("--skip-mysql", action="store_true", help="SQLite only")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    if not args.skip_mysql:
        database = create_mysql_database()
        try:
            run_backend("mysql", database, args)
        finally:
            drop_mysql_database(database)
    with tempfile.TemporaryDirectory() as tmp:
        run_backend("sqlite", str(Path(tmp) / "obsnum.sqlite"), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
