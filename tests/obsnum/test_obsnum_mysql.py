"""Observation numbers on a real MariaDB/MySQL server: schema, allocation, concurrency,
dropped connections, errors (never showing the password), and ``ocd obsnum``."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import socket
import struct
import threading
import time

import pymysql
import pytest
from obsnum_helpers import (
    INIT_SQL,
    MOCK_DATE,
    SECRET,
    database_options,
    fresh_database,
    make_config,
    mysql_connect,
    query,
    run_sql_file,
    run_workers,
    set_flags,
    stored_numbers,
    subprocess_env,
)

from ocd.clock import clock_from_config
from ocd.dev.docker_mysql import wait_for_mysql
from ocd.errors import OcdError
from ocd.obsnum import allocator_from_config
from ocd.obsnum.mysql import MysqlAllocator, MysqlSettings, lock_name, mysql_error
from ocd.obsnum.rules import MAX_OBSNUM

pytestmark = pytest.mark.mysql

#: ``DESCRIBE vl_obsnum`` as the user note gives it: Field, Type, Null, Key, Default, Extra.
NOTE_DESCRIBE = [
    ("id", "smallint(5) unsigned", "NO", "PRI", None, "auto_increment"),
    ("ts", "timestamp", "NO", "", "CURRENT_TIMESTAMP", ""),
    ("obsdate", "date", "NO", "MUL", None, ""),
    ("inst", "varchar(5)", "NO", "", None, ""),
    ("obsnum", "mediumint(9)", "NO", "", None, ""),
]


def normalise(row):
    """Spell a DESCRIBE row the same way on MariaDB and MySQL 8 (which drops integer display
    widths, writes ``current_timestamp()`` or marks ``DEFAULT_GENERATED``)."""
    field, type_, null, key, default, extra = row
    type_ = re.sub(r"(int)\(\d+\)", r"\1", type_.lower())
    if default is not None:
        default = default.lower().replace("()", "")
    extra = extra.replace("DEFAULT_GENERATED", "").strip()
    return field, type_, null, key, default, extra


@pytest.fixture
def db(mysql_database):
    """A database of this test's own holding ``vl_obsnum``, created by ``init.sql``."""
    with fresh_database(mysql_database) as params:
        yield params


@pytest.fixture
def empty_db(mysql_database):
    """A database of this test's own without the table."""
    with fresh_database(mysql_database, with_table=False) as params:
        yield params


def allocator_for(params, update=None, mock_time="2017-11-24T14:04:26", **extra):
    cfg = make_config(database_options("mysql", params, **extra), mock_time=mock_time)
    return allocator_from_config(cfg, clock_from_config(cfg), update=update)


def describe(params):
    conn = mysql_connect(params)
    try:
        with conn.cursor() as cur:
            cur.execute("DESCRIBE vl_obsnum")
            return [normalise(row) for row in cur.fetchall()]
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- schema ------------------------------------------------------------------------------------

def test_init_sql_creates_the_table_of_the_note(db):
    assert describe(db) == [normalise(row) for row in NOTE_DESCRIBE]


def test_init_sql_runs_twice_harmlessly(db):
    run_sql_file(db, INIT_SQL)
    assert len(describe(db)) == 5


def test_obsnum_init_command_creates_the_same_table(ocd, db, empty_db):
    options = database_options("mysql", empty_db)
    first = ocd("obsnum", "init", *set_flags(options), env=subprocess_env(options))
    assert first.returncode == 0, first.stderr
    assert first.stdout == (f"table vl_obsnum created in MySQL database "
                            f"'{empty_db['database']}' on {empty_db['host']}:{empty_db['port']} "
                            f"(user '{empty_db['user']}')\n")
    assert describe(empty_db) == describe(db)
    again = ocd("obsnum", "init", *set_flags(options), env=subprocess_env(options))
    assert again.returncode == 0 and "already present" in again.stdout


# -- allocation --------------------------------------------------------------------------------

def test_allocation_rule_dates_and_instruments(db):
    with allocator_for(db) as first:
        assert first.allocate() == [1]
        assert first.allocate(3) == [2, 3, 4]
    with allocator_for(db, mock_time="2017-11-24T23:59:00") as later:
        assert later.allocate() == [5]
    with allocator_for(db, mock_time="2017-11-25T00:00:01") as next_day:
        assert next_day.allocate(2) == [1, 2]
    with allocator_for(db, instrument="lrs2") as other:
        assert other.allocate() == [1]
        rows = other.rows(MOCK_DATE)
    assert [(r.id, r.inst, r.obsnum) for r in rows] == [
        (1, "virus", 1), (2, "virus", 2), (3, "virus", 3), (4, "virus", 4), (5, "virus", 5),
        (8, "lrs2", 1)]
    # ts is the server's real time of the insert, in UTC whatever the server's zone
    now = query(db, "SELECT UTC_TIMESTAMP()")[0][0].replace(tzinfo=dt.timezone.utc)
    assert all(abs(r.ts - now) < dt.timedelta(minutes=1) for r in rows)


def test_numbers_continue_from_rows_written_by_others(db):
    # as the original OCD or a person would have written them
    query(db, "INSERT INTO vl_obsnum (obsdate, inst, obsnum) VALUES "
              "('2017-11-24', 'virus', 10), ('2017-11-24', 'virus', 7), "
              "('2017-11-23', 'virus', 50), ('2017-11-24', 'lrs2', 99)")
    with allocator_for(db) as allocator:
        assert allocator.allocate() == [11]


def test_without_update_nothing_is_written_yet_numbers_increase(db):
    with allocator_for(db) as writer:
        writer.allocate(2)
    with allocator_for(db, update=False) as reader:
        assert reader.allocate() == [3]
        assert reader.allocate(2) == [4, 5]
    assert [n for _, _, n in stored_numbers(db)] == [1, 2]
    with allocator_for(db, mysql_update_obsnum="false") as by_config:
        assert by_config.update is False
        assert by_config.allocate() == [3], "a second process in this mode collides"
    assert len(stored_numbers(db)) == 2


def test_never_reissues_after_rows_vanish(db):
    with allocator_for(db) as allocator:
        assert allocator.allocate(3) == [1, 2, 3]
        query(db, "DELETE FROM vl_obsnum")
        assert allocator.allocate() == [4]
    assert stored_numbers(db) == [(MOCK_DATE, "virus", 4)]


def test_numbers_beyond_the_mediumint_are_refused_and_not_written(db):
    query(db, "INSERT INTO vl_obsnum (obsdate, inst, obsnum) VALUES (%s, 'virus', %s)",
          (MOCK_DATE, MAX_OBSNUM - 2))
    with allocator_for(db) as allocator:
        assert allocator.allocate() == [MAX_OBSNUM - 1]
        with pytest.raises(OcdError, match=f"exceeds {MAX_OBSNUM}"):
            allocator.allocate(2)
        assert allocator.allocate() == [MAX_OBSNUM]
    assert [n for _, _, n in stored_numbers(db)] == [MAX_OBSNUM - 2, MAX_OBSNUM - 1,
                                                     MAX_OBSNUM]


def test_concurrent_processes_get_distinct_contiguous_numbers(db):
    results = run_workers(database_options("mysql", db), processes=8, allocations=100)
    for numbers in results:
        assert numbers == sorted(numbers) and len(numbers) == 100
    assert sorted(n for numbers in results for n in numbers) == list(range(1, 801))
    assert sorted(stored_numbers(db)) == [(MOCK_DATE, "virus", n) for n in range(1, 801)]


def test_waits_for_the_named_lock_then_fails_in_one_line(db):
    holder = mysql_connect(db)
    with holder.cursor() as cur:
        cur.execute("SELECT GET_LOCK(%s, 0)", (lock_name(db["database"]),))
        assert cur.fetchone()[0] == 1
    try:
        with allocator_for(db, lock_timeout="0.3") as allocator:
            started = time.monotonic()
            with pytest.raises(OcdError) as info:
                allocator.allocate()
            assert time.monotonic() - started >= 0.3
        assert str(info.value) == (
            f"waited 0.3 s for the observation-number lock 'ocd.vl_obsnum.{db['database']}' "
            f"on {db['host']}:{db['port']}: another process holds it ([database] lock_timeout)")
        assert stored_numbers(db) == []
    finally:
        holder.close()  # releases the lock
    with allocator_for(db, lock_timeout="0.3") as allocator:
        assert allocator.allocate() == [1]


def test_lock_names_fit_mysql_limit():
    assert lock_name("test_db") == "ocd.vl_obsnum.test_db"
    long = lock_name("d" * 64)
    assert len(long) <= 64 and long != lock_name("e" * 64)


# -- dropped connections -----------------------------------------------------------------------

def kill(params, connection_id):
    """KILL a connection from another session and wait until the server has dropped it."""
    admin = mysql_connect({k: v for k, v in params.items() if k != "database"})
    try:
        with admin.cursor() as cur:
            cur.execute(f"KILL {int(connection_id)}")
            deadline = time.monotonic() + 10
            while True:
                cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s",
                            (connection_id,))
                if cur.fetchone()[0] == 0:
                    return
                assert time.monotonic() < deadline, "the server did not drop the connection"
                time.sleep(0.01)
    finally:
        admin.close()


def test_killed_connection_is_reopened(db, caplog):
    with allocator_for(db) as allocator:
        assert allocator.allocate() == [1]
        killed = allocator.connection.thread_id()
        kill(db, killed)
        with caplog.at_level(logging.WARNING, logger="ocd.obsnum_mysql"):
            assert allocator.allocate() == [2]
        assert allocator.connection.thread_id() != killed
        assert "lost the connection to MySQL database" in caplog.text
        kill(db, allocator.connection.thread_id())
        assert [r.obsnum for r in allocator.rows(MOCK_DATE)] == [1, 2]
    assert [n for _, _, n in stored_numbers(db)] == [1, 2]


def test_killed_connection_that_cannot_come_back_fails_in_one_line(mysql_database):
    with fresh_database(mysql_database) as params:
        allocator = allocator_for(params)
        assert allocator.allocate() == [1]
        query(params, f"DROP DATABASE `{params['database']}`")
        kill(params, allocator.connection.thread_id())
        with pytest.raises(OcdError) as info:
            allocator.allocate()
        assert str(info.value) == (f"MySQL database '{params['database']}' does not exist on "
                                   f"{params['host']}:{params['port']} ([database] "
                                   "mysql_database)")
        allocator.close()


# -- errors ------------------------------------------------------------------------------------

def test_unreachable_server(mysql_database):
    port = free_port()
    with allocator_for({**mysql_database, "port": port, "password": SECRET},
                       mysql_connect_timeout="2") as allocator, \
            pytest.raises(OcdError) as info:
        allocator.allocate()
    message = str(info.value)
    assert message.startswith(f"cannot reach the MySQL server at {mysql_database['host']}:{port}"
                              " ([database] mysql_host, mysql_port): ")
    assert SECRET not in message and "\n" not in message


def test_a_host_that_resets_the_connection_is_unreachable_too(mysql_database):
    """What a firewalled or unroutable host often does: accept, then reset before the server's
    hello. doc/obsnum.md promises "cannot reach" for it, not "lost the connection"."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def reset() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()  # RST, not FIN

    thread = threading.Thread(target=reset, daemon=True)
    thread.start()
    try:
        with allocator_for({**mysql_database, "host": "127.0.0.1", "port": port},
                           mysql_connect_timeout="2") as allocator, \
                pytest.raises(OcdError) as info:
            allocator.allocate()
    finally:
        listener.close()
    assert str(info.value) == (f"cannot reach the MySQL server at 127.0.0.1:{port} ([database] "
                               "mysql_host, mysql_port): connection reset by peer")


def test_access_denied_never_shows_the_password(mysql_database):
    with allocator_for({**mysql_database, "password": SECRET}) as allocator, \
            pytest.raises(OcdError) as info:
        allocator.allocate()
    assert str(info.value) == (
        f"the MySQL server at {mysql_database['host']}:{mysql_database['port']} denied access "
        f"to user '{mysql_database['user']}' (check [database] mysql_user and mysql_password)")
    assert SECRET not in repr(info.value.__cause__)


def test_unknown_database(mysql_database):
    params = {**mysql_database, "database": "ocd_no_such_database"}
    with allocator_for(params) as allocator, pytest.raises(OcdError) as info:
        allocator.rows(MOCK_DATE)
    assert str(info.value) == (f"MySQL database 'ocd_no_such_database' does not exist on "
                               f"{params['host']}:{params['port']} ([database] mysql_database)")


def test_missing_table_suggests_init(empty_db):
    expected = (f"table vl_obsnum is missing from MySQL database '{empty_db['database']}' on "
                f"{empty_db['host']}:{empty_db['port']}: create it with 'ocd obsnum init'")
    with allocator_for(empty_db) as allocator:
        for action in (allocator.allocate, allocator.check, allocator.allocate):
            with pytest.raises(OcdError) as info:
                action()
            assert str(info.value) == expected
        # the batch failed after taking the lock; the allocator, still open, left none behind
        lock = lock_name(empty_db["database"])
        assert query(empty_db, "SELECT GET_LOCK(%s, 0)", (lock,)) == [(1,)]


def test_messages_from_real_errors_never_hold_the_password(mysql_database, empty_db):
    """Real server errors, formatted with settings whose password is distinctive."""
    settings = MysqlSettings(str(mysql_database["host"]), int(mysql_database["port"]),
                             str(empty_db["database"]), str(mysql_database["user"]), SECRET)
    assert SECRET not in repr(settings)
    errors = []
    for params, sql in ((empty_db, "SELECT * FROM vl_obsnum"),
                        ({**mysql_database, "database": "ocd_no_such_db"}, None),
                        ({**mysql_database, "port": free_port()}, None)):
        try:
            query({**params}, sql or "SELECT 1")
        except pymysql.err.MySQLError as exc:
            errors.append(exc)
    assert [e.args[0] for e in errors] == [1146, 1049, 2003]
    for exc in errors:
        message = str(mysql_error(exc, settings))
        assert SECRET not in message and "\n" not in message


def test_cli_errors_are_one_line_and_never_show_the_password(ocd, mysql_database, empty_db):
    cases = [
        ({**mysql_database, "password": SECRET}, "denied access to user"),
        ({**empty_db}, "create it with 'ocd obsnum init'"),
        ({**mysql_database, "port": free_port(), "password": SECRET}, "cannot reach"),
    ]
    for params, words in cases:
        options = database_options("mysql", params)
        runs = [(["next"], []), (["next"], ["--debug"]), (["show"], [])]
        if "init" not in words:  # init would create the table
            runs.append((["init"], []))
        for action, debug in runs:
            result = ocd("obsnum", *action, *set_flags(options), *debug, "--log-level",
                         "ERROR", env=subprocess_env(options))
            assert result.returncode == 1, (action, result.stderr)
            assert SECRET not in result.stdout + result.stderr
            last = result.stderr.strip().splitlines()[-1]
            assert last.startswith("ocd: error: ") and words in last, result.stderr
            if not debug:
                assert result.stderr.count("\n") == 1, result.stderr


def test_cli_next_and_show_on_mysql(ocd, db):
    options = database_options("mysql", db)
    flags, env = set_flags(options), subprocess_env(options)
    result = ocd("obsnum", "next", "-n", "2", *flags, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\n2\n"
    assert "the clock is mocked: numbers are for 2017-11-24" in result.stderr
    assert ocd("obsnum", "next", "--dry-run", *flags, env=env).stdout == "3\n"
    assert ocd("obsnum", "next", *flags, env=env).stdout == "3\n"
    show = ocd("obsnum", "show", "--date", "2017-11-24", *flags, env=env)
    assert [line.split()[-1] for line in show.stdout.splitlines()[2:]] == ["1", "2", "3"]
    assert [n for _, _, n in stored_numbers(db)] == [1, 2, 3]


def test_wait_for_mysql(mysql_database):
    p = mysql_database
    wait_for_mysql(str(p["host"]), int(p["port"]), str(p["user"]), str(p["password"]),
                   str(p["database"]), timeout=5)
    port = free_port()
    started = time.monotonic()
    with pytest.raises(OcdError, match=rf"^the MySQL server at 127.0.0.1:{port} did not accept "
                                       r"user .* within 0.5 s: ") as info:
        wait_for_mysql("127.0.0.1", port, "someone", SECRET, "db", timeout=0.5, interval=0.1)
    assert time.monotonic() - started >= 0.5
    assert SECRET not in str(info.value)


def test_mysql_allocator_is_the_config_backend(db):
    assert isinstance(allocator_for(db), MysqlAllocator)


# -- an allocation given up writes nothing (issue: numbers burnt by a hung database) -----------

def test_an_allocation_blocked_by_a_table_lock_is_cancelled_by_the_server_at_its_deadline(db):
    holder = mysql_connect(db)
    with holder.cursor() as cur:  # a hung table: the allocation's read waits on this lock
        cur.execute("LOCK TABLES vl_obsnum WRITE")
    try:
        with allocator_for(db) as allocator:
            started = time.monotonic()
            with pytest.raises(OcdError, match="did not finish the allocation before it was "
                                               "given up .* nothing written"):
                allocator.allocate(1, deadline=time.time() + 1.0)
            assert time.monotonic() - started < 5.0  # not read_timeout (30 s)
    finally:
        holder.close()  # the lock goes with the session
    assert stored_numbers(db) == []  # the blocked statement did not write when unlocked
    with allocator_for(db) as allocator:
        assert allocator.allocate(1, deadline=time.time() + 10) == [1]  # no number skipped


def test_an_allocation_whose_deadline_passed_is_not_sent(db):
    from ocd.obsnum.rules import AllocationGivenUp

    with allocator_for(db) as allocator:
        with pytest.raises(AllocationGivenUp, match="given up .* before it was written"):
            allocator.allocate(1, deadline=time.time() - 0.1)
        assert allocator.allocate(1) == [1]
    assert [row[2] for row in stored_numbers(db)] == [1]


def test_the_server_writes_nothing_for_a_batch_it_runs_after_the_deadline(db):
    """The server's own clock check: a batch that waited (here for the named lock, held by
    another session until after the deadline) inserts nothing, also without a statement time
    limit (MySQL)."""
    from ocd.obsnum.mysql import allocation_batch

    holder = mysql_connect(db)
    with holder.cursor() as cur:
        cur.execute("SELECT GET_LOCK(%s, 0)", (lock_name(db["database"]),))
    release = threading.Timer(1.5, holder.close)  # the other session ends after the deadline
    conn = mysql_connect(db)
    expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=0.5)).replace(tzinfo=None)
    try:
        release.start()
        with conn.cursor() as cur:
            cur.execute(allocation_batch(1), {
                "lock": lock_name(db["database"]), "timeout": 10, "issued": 0,
                "obsdate": MOCK_DATE, "inst": "virus", "count": 1, "limit": MAX_OBSNUM,
                "expires": expires})
            rows = []
            while True:
                if cur.description:
                    rows = cur.fetchall()
                if not cur.nextset():
                    break
        got, _maximum, _released, live = rows[0]
        assert (got, live) == (1, 0)
    finally:
        release.join()
        conn.close()
    assert stored_numbers(db) == []
