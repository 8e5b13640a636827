"""Observation numbers: the rules, configuration, and the embedded SQLite backend."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from obsnum_helpers import (
    INIT_SQL,
    MOCK_DATE,
    MOCK_TIME,
    database_options,
    make_config,
    run_workers,
    set_flags,
    subprocess_env,
)

from ocd.clock import MockClock, clock_from_config
from ocd.config import static_file
from ocd.errors import ConfigError, OcdError
from ocd.obsnum import allocator_from_config, default_sqlite_path
from ocd.obsnum.rules import MAX_COUNT, MAX_OBSNUM, ObsnumRow, first_number, format_rows
from ocd.obsnum.sqlite import SqliteAllocator

UTC = dt.timezone.utc


def sqlite_allocator(tmp_path, update=True, when=MOCK_TIME, instrument="virus", **kwargs):
    clock = MockClock(dt.datetime.fromisoformat(when).replace(tzinfo=UTC))
    return SqliteAllocator(tmp_path / "obsnum.sqlite", clock, instrument, update, **kwargs)


# -- the rule ----------------------------------------------------------------------------------

@pytest.mark.parametrize("stored, issued, expected", [
    (None, None, 1), (None, 0, 1), (9, None, 10), (9, 3, 10), (3, 9, 10), (0, 0, 1)])
def test_first_number_is_one_above_table_and_process(stored, issued, expected):
    assert first_number(stored, issued) == expected


def test_format_rows_aligns_columns():
    rows = [ObsnumRow(1, dt.datetime(2017, 11, 24, 14, 4, 26, tzinfo=UTC),
                      dt.date(2017, 11, 24), "virus", 10),
            ObsnumRow(12, None, dt.date(2017, 11, 24), "lrs2", 7)]
    lines = format_rows(rows).splitlines()
    assert lines[0].split() == ["id", "ts", "obsdate", "inst", "obsnum"]
    assert lines[2].split() == ["1", "2017-11-24", "14:04:26", "2017-11-24", "virus", "10"]
    assert lines[3].split() == ["12", "2017-11-24", "lrs2", "7"]
    assert lines[2].rindex("2017-11-24") == lines[0].index("obsdate")  # columns aligned
    assert len(lines[0]) == len(lines[2]) == len(lines[3])  # obsnum right-aligned


# -- configuration -----------------------------------------------------------------------------

def test_backend_chosen_by_config(tmp_path):
    cfg = make_config(database_options("sqlite", sqlite_path=tmp_path / "x.sqlite"))
    allocator = allocator_from_config(cfg, clock_from_config(cfg))
    assert isinstance(allocator, SqliteAllocator)
    assert allocator.path == tmp_path / "x.sqlite" and allocator.update is True
    assert not allocator.path.exists(), "nothing is opened before first use"
    cfg = make_config(database_options("mysql", mysql_port="1"))
    allocator = allocator_from_config(cfg, clock_from_config(cfg), update=False)
    assert type(allocator).__name__ == "MysqlAllocator" and allocator.update is False


def test_update_follows_mysql_update_obsnum(tmp_path):
    cfg = make_config(database_options("sqlite", sqlite_path=tmp_path / "x.sqlite",
                                       mysql_update_obsnum="false"))
    assert allocator_from_config(cfg, clock_from_config(cfg)).update is False


@pytest.mark.parametrize("option, value, words", [
    ("instrument", "virus2", "1 to 5 characters"),
    ("lock_timeout", "-1", "expected a finite number >= 0"),
    ("mysql_read_timeout", "10", "must be longer than [database] lock_timeout"),
])
def test_bad_database_options_are_config_errors(option, value, words):
    with pytest.raises(ConfigError, match=r"^\[database\] " + option) as info:
        cfg = make_config(database_options("mysql", **{option: value}))
        allocator_from_config(cfg, clock_from_config(cfg))
    assert words in str(info.value)
    assert str(info.value).endswith("(from command line)")


def test_default_sqlite_path_is_in_the_user_data_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_sqlite_path() == tmp_path / "data" / "ocd" / "obsnum.sqlite"


def test_default_sqlite_file_created_on_demand(ocd, tmp_path):
    env = subprocess_env({}, XDG_DATA_HOME=str(tmp_path / "data"), HOME=str(tmp_path))
    result = ocd("obsnum", "next", "--set", f"dates.mock_time={MOCK_TIME}", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\n"
    assert (tmp_path / "data" / "ocd" / "obsnum.sqlite").is_file()


def test_packaged_schema_is_the_docker_init_sql():
    assert static_file("vl_obsnum.sql").read_bytes() == INIT_SQL.read_bytes()


# -- SQLite backend ----------------------------------------------------------------------------

def test_sqlite_schema_matches_mysql_columns(tmp_path):
    with sqlite_allocator(tmp_path) as allocator:
        allocator.init()
        columns = allocator.connection.execute("PRAGMA table_info(vl_obsnum)").fetchall()
        indexes = allocator.connection.execute("PRAGMA index_list(vl_obsnum)").fetchall()
    assert [c[1] for c in columns] == ["id", "ts", "obsdate", "inst", "obsnum"]
    assert all(c[3] == 1 for c in columns[1:]), "NOT NULL like the MySQL table"
    assert [i[1] for i in indexes] == ["obsdate"]
    assert "CREATE TABLE IF NOT EXISTS vl_obsnum" in INIT_SQL.read_text()


def test_sqlite_allocates_per_date_and_instrument(tmp_path):
    with sqlite_allocator(tmp_path) as first:
        assert first.allocate() == [1]
        assert first.allocate(3) == [2, 3, 4]
    # another process later, the same day: continues from the table
    with sqlite_allocator(tmp_path, when="2017-11-24T23:59:00") as same_day:
        assert same_day.allocate() == [5]
    with sqlite_allocator(tmp_path, when="2017-11-25T00:00:01") as next_day:
        assert next_day.allocate() == [1]
    with sqlite_allocator(tmp_path, instrument="lrs2") as other:
        assert other.allocate(2) == [1, 2]
        rows = other.rows(MOCK_DATE)
    assert [(r.inst, r.obsnum) for r in rows] == [
        ("virus", 1), ("virus", 2), ("virus", 3), ("virus", 4), ("virus", 5),
        ("lrs2", 1), ("lrs2", 2)]
    assert all(r.obsdate == MOCK_DATE and r.ts.tzinfo == UTC for r in rows)


def test_sqlite_mock_clock_crossing_midnight_starts_again(tmp_path):
    elapsed = [0.0]  # real seconds, as the mock clock's monotonic source sees them
    clock = MockClock(dt.datetime(2017, 11, 24, 23, 59, 58, tzinfo=UTC), speed=1.0,
                      monotonic=lambda: elapsed[0])
    with SqliteAllocator(tmp_path / "o.sqlite", clock) as allocator:
        assert allocator.allocate(2) == [1, 2]
        elapsed[0] = 3.0
        assert allocator.obsdate() == dt.date(2017, 11, 25)
        assert allocator.allocate() == [1]
        assert [r.obsnum for r in allocator.rows(MOCK_DATE)] == [1, 2]
        assert [r.obsnum for r in allocator.rows(dt.date(2017, 11, 25))] == [1]


def test_sqlite_without_update_writes_nothing_yet_increases(tmp_path):
    with sqlite_allocator(tmp_path) as writer:
        writer.allocate(2)
    with sqlite_allocator(tmp_path, update=False) as reader:
        assert reader.allocate() == [3]
        assert reader.allocate(2) == [4, 5]
        assert reader.allocate() == [6]
        assert [r.obsnum for r in reader.rows(MOCK_DATE)] == [1, 2]
    with sqlite_allocator(tmp_path, update=False) as other:
        assert other.allocate() == [3], "nothing was stored: another process gets 3 again"


def test_sqlite_never_reissues_after_rows_vanish(tmp_path):
    with sqlite_allocator(tmp_path) as allocator:
        assert allocator.allocate(3) == [1, 2, 3]
        allocator.connection.execute("DELETE FROM vl_obsnum")
        assert allocator.allocate() == [4]


def test_sqlite_init_is_idempotent_and_creates_directories(tmp_path):
    path = tmp_path / "deep" / "er" / "o.sqlite"
    clock = MockClock(dt.datetime(2017, 11, 24, tzinfo=UTC))
    with SqliteAllocator(path, clock) as allocator:
        assert allocator.init() is True
        assert allocator.init() is False
    with SqliteAllocator(path, clock) as again:
        assert again.init() is False
        again.check()


def test_sqlite_waits_for_the_lock_then_fails_in_one_line(tmp_path):
    with sqlite_allocator(tmp_path) as setup:
        setup.init()
    holder = sqlite3.connect(tmp_path / "obsnum.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with sqlite_allocator(tmp_path, lock_timeout=0.2) as allocator, \
                pytest.raises(OcdError) as info:
            allocator.allocate()
        assert "stayed locked by another process for 0.2 s ([database] lock_timeout)" in str(
            info.value)
        assert "\n" not in str(info.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with sqlite_allocator(tmp_path, lock_timeout=0.2) as allocator:
        assert allocator.allocate() == [1], "the failed attempt wrote nothing"


def test_sqlite_file_that_is_not_a_database(tmp_path):
    (tmp_path / "obsnum.sqlite").write_text("this is a text file, not SQLite\n" * 100)
    with sqlite_allocator(tmp_path) as allocator, pytest.raises(OcdError) as info:
        allocator.allocate()
    message = str(info.value)
    assert message.startswith(f"cannot use SQLite file {tmp_path / 'obsnum.sqlite'} "
                              "([database] sqlite_path): ")
    assert "not a database" in message


def test_count_limits(tmp_path):
    with sqlite_allocator(tmp_path) as allocator:
        for bad in (0, -1, MAX_COUNT + 1):
            with pytest.raises(OcdError, match="ask for 1 to"):
                allocator.allocate(bad)
        assert allocator.allocate(MAX_COUNT) == list(range(1, MAX_COUNT + 1))


def test_numbers_beyond_the_mediumint_are_refused(tmp_path):
    with sqlite_allocator(tmp_path) as allocator:
        allocator.init()
        allocator.connection.execute(
            "INSERT INTO vl_obsnum (obsdate, inst, obsnum) VALUES (?, 'virus', ?)",
            (MOCK_DATE.isoformat(), MAX_OBSNUM - 1))
        assert allocator.allocate() == [MAX_OBSNUM]
        with pytest.raises(OcdError, match=f"exceeds {MAX_OBSNUM}"):
            allocator.allocate()


def test_sqlite_concurrent_processes_get_distinct_contiguous_numbers(tmp_path):
    options = database_options("sqlite", sqlite_path=tmp_path / "shared.sqlite")
    results = run_workers(options, processes=8, allocations=100)
    for numbers in results:
        assert numbers == sorted(numbers) and len(numbers) == 100
    everything = sorted(n for numbers in results for n in numbers)
    assert everything == list(range(1, 801))
    stored = sqlite3.connect(tmp_path / "shared.sqlite").execute(
        "SELECT obsdate, inst, obsnum FROM vl_obsnum ORDER BY obsnum").fetchall()
    assert stored == [(MOCK_DATE.isoformat(), "virus", n) for n in range(1, 801)]


# -- the command -------------------------------------------------------------------------------

def test_cli_next_show_init_on_sqlite(ocd, tmp_path):
    options = database_options("sqlite", sqlite_path=tmp_path / "o.sqlite")
    flags, env = set_flags(options), subprocess_env(options)
    init = ocd("obsnum", "init", *flags, env=env)
    assert init.returncode == 0, init.stderr
    assert init.stdout == f"table vl_obsnum created in SQLite file {tmp_path / 'o.sqlite'}\n"
    again = ocd("obsnum", "init", *flags, env=env)
    assert "already present" in again.stdout
    first = ocd("obsnum", "next", "--count", "3", *flags, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "1\n2\n3\n"
    dry = ocd("obsnum", "next", "--dry-run", "-n", "2", *flags, env=env)
    assert dry.stdout == "4\n5\n" and "not written (--dry-run)" in dry.stderr
    assert ocd("obsnum", "next", *flags, env=env).stdout == "4\n"
    show = ocd("obsnum", "show", *flags, env=env)
    lines = show.stdout.splitlines()
    assert lines[0].split() == ["id", "ts", "obsdate", "inst", "obsnum"]
    assert [line.split()[-1] for line in lines[2:]] == ["1", "2", "3", "4"]
    assert all(MOCK_DATE.isoformat() in line for line in lines[2:])
    other = ocd("obsnum", "show", "--date", "2017-11-25", *flags, env=env)
    assert other.stdout.startswith("no observation numbers for 2017-11-25 in SQLite file")


@pytest.mark.parametrize("args, words", [
    (["next", "--count", "0"], "argument -n/--count: 0 is not between 1 and 1000"),
    (["next", "--count", "many"], "argument -n/--count: 'many' is not an integer"),
    (["show", "--date", "24/11/2017"], "argument --date: '24/11/2017' is not a date"),
])
def test_cli_bad_arguments(ocd, args, words):
    result = ocd("obsnum", *args)
    assert result.returncode == 2
    assert words in result.stderr


def test_sqlite_writes_nothing_for_an_allocation_given_up_while_it_waited_for_the_lock(tmp_path):
    import threading
    import time

    from ocd.obsnum.rules import AllocationGivenUp

    with sqlite_allocator(tmp_path) as setup:
        setup.init()
    holder = sqlite3.connect(tmp_path / "obsnum.sqlite", isolation_level=None,
                             check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.8, lambda: holder.execute("ROLLBACK"))
    try:
        release.start()  # the lock comes after the deadline
        with sqlite_allocator(tmp_path, lock_timeout=10) as allocator, \
                pytest.raises(AllocationGivenUp, match="nothing written"):
            allocator.allocate(1, deadline=time.time() + 0.3)
    finally:
        release.join()
        holder.close()
    with sqlite_allocator(tmp_path) as allocator:
        assert allocator.allocate() == [1], "the given-up attempt wrote nothing"
