"""Which backend hands out observation numbers, and why (issue #16): ``[database] backend =
auto`` follows what the user wrote, the reason names the file and line, the start-up of
``ocd run_shot`` says it, and the original OCD's ``[database]`` section takes its numbers from
a real MariaDB ``vl_obsnum``."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import time

import pytest
import zmq
import zmq.asyncio
from e2e_helpers import OcdProcess, night_config, short_tmpdir
from obsnum_helpers import (
    MOCK_TIME,
    NOTE_DATABASE,
    SECRET,
    fresh_database,
    note_database,
    query,
    stored_numbers,
)

from ocd.app.main_loop import MainLoop, resolve_inputs
from ocd.bus import decode, validation_errors
from ocd.clock import clock_from_config
from ocd.config import load_config, rehearsal_config
from ocd.obsnum import (
    MYSQL_CONNECTION_OPTIONS,
    allocator_from_config,
    choose_backend,
    local_numbers_warning,
    source_line,
)
from ocd.obsnum.mysql import MysqlAllocator
from ocd.obsnum.sqlite import SqliteAllocator


def line_of(path, text: str) -> int:
    """The line number of the first line of ``path`` starting with ``text``."""
    lines = path.read_text().splitlines()
    return next(n for n, line in enumerate(lines, start=1) if line.startswith(text))


def note_file(tmp_path, text: str = NOTE_DATABASE, name: str = "ocd.cfg"):
    path = tmp_path / name
    path.write_text(f"# an ocd.cfg written for the original OCD\n\n{text}")
    return path


# -- the rule ----------------------------------------------------------------------------------

def test_the_notes_section_selects_mysql_and_names_file_and_line(tmp_path):
    path = note_file(tmp_path)
    cfg = load_config([path], [("dates", "mock_time", MOCK_TIME)], environ={})
    choice = choose_backend(cfg)
    host_line = line_of(path, "mysql_host=")
    assert (choice.backend, str(choice.origin)) == ("mysql", f"{path}:{host_line}")
    assert choice.reason == (f"because [database] mysql_host is set in {path}:{host_line} "
                             "(backend = auto)")
    allocator = allocator_from_config(cfg, clock_from_config(cfg))
    assert isinstance(allocator, MysqlAllocator)  # nothing opened yet
    s = allocator.settings
    assert (s.host, s.port, s.database, s.user, s.password) == (
        "127.0.0.1", 3306, "test_db", "test_user", "test")
    assert allocator.update is False  # the note's mysql_update_obsnum = false
    line = source_line(choice, allocator.describe())
    assert line == ("observation numbers: vl_obsnum in MySQL database 'test_db' on "
                    "127.0.0.1:3306 (user 'test_user'), because [database] mysql_host is set "
                    f"in {path}:{host_line} (backend = auto)")


def test_without_mysql_options_the_embedded_file_is_used(tmp_path):
    path = tmp_path / "ocd.cfg"
    path.write_text(f"[database]\nsqlite_path = {tmp_path / 'n.sqlite'}\n"
                    "mysql_update_obsnum = false\nmysql_connect_timeout = 3\n"
                    "mysql_read_timeout = 40\n")
    cfg = load_config([path], environ={})
    choice = choose_backend(cfg)
    assert choice.backend == "sqlite"
    assert choice.reason == ("because none of [database] mysql_host, mysql_port, "
                             "mysql_database, mysql_user, mysql_password is set (backend = auto)")
    assert not choice.origin.by_user  # the master file's backend = auto decided
    allocator = allocator_from_config(cfg, clock_from_config(cfg))
    assert isinstance(allocator, SqliteAllocator) and allocator.path == tmp_path / "n.sqlite"


def test_master_values_alone_select_sqlite():
    cfg = load_config(environ={})
    assert cfg.get("database", "backend") == "auto"
    assert cfg.get("database", "mysql_host") == "127.0.0.1"  # present, but only a default
    assert choose_backend(cfg).backend == "sqlite"


@pytest.mark.parametrize("option", MYSQL_CONNECTION_OPTIONS)
def test_any_connection_option_on_the_command_line_selects_mysql(option):
    value = "3306" if option == "mysql_port" else "x"
    cfg = load_config(overrides=[("database", option, value)], environ={})
    choice = choose_backend(cfg)
    assert choice.backend == "mysql"
    assert choice.reason == (f"because [database] {option} is set on the command line "
                             "(backend = auto)")
    assert isinstance(allocator_from_config(cfg, clock_from_config(cfg)), MysqlAllocator)


def test_the_password_in_the_environment_selects_mysql_and_is_never_shown():
    cfg = load_config(environ={"OCD__DATABASE__MYSQL_PASSWORD": SECRET})
    choice = choose_backend(cfg)
    assert choice.backend == "mysql"
    assert choice.reason == ("because [database] mysql_password is set in the environment "
                             "(OCD__DATABASE__MYSQL_PASSWORD) (backend = auto)")
    allocator = allocator_from_config(cfg, clock_from_config(cfg))
    assert SECRET not in source_line(choice, allocator.describe()) + repr(choice)


def test_backend_sqlite_keeps_sqlite_with_mysql_options_and_says_so(tmp_path):
    path = note_file(tmp_path, NOTE_DATABASE + f"backend = sqlite\nsqlite_path = "
                     f"{tmp_path / 'r.sqlite'}\n")
    cfg = load_config([path], environ={})
    choice = choose_backend(cfg)
    backend_line, host_line = line_of(path, "backend ="), line_of(path, "mysql_host=")
    assert (choice.backend, str(choice.origin)) == ("sqlite", f"{path}:{backend_line}")
    assert choice.reason == (f"because [database] backend = sqlite in {path}:{backend_line}; "
                             f"the mysql_* options set (mysql_host in {path}:{host_line} and 4 "
                             "more) are not used")
    allocator = allocator_from_config(cfg, clock_from_config(cfg))
    assert isinstance(allocator, SqliteAllocator) and allocator.path == tmp_path / "r.sqlite"


def test_backend_mysql_forces_mysql_and_names_an_unused_sqlite_path():
    cfg = load_config(overrides=[("database", "backend", "mysql"),
                                 ("database", "sqlite_path", "x.sqlite")], environ={})
    choice = choose_backend(cfg)
    assert choice.backend == "mysql"
    assert choice.reason == ("because [database] backend = mysql on the command line; "
                             "sqlite_path, set on the command line, is not used")


def test_auto_with_both_prefers_mysql_and_says_sqlite_path_is_unused(tmp_path):
    cfg = load_config(overrides=[("database", "sqlite_path", "x.sqlite"),
                                 ("database", "mysql_user", "obs")], environ={})
    choice = choose_backend(cfg)
    assert choice.backend == "mysql"
    assert choice.reason.endswith("(backend = auto); sqlite_path, set on the command line, "
                                  "is not used")


def test_the_shipped_rehearsal_configuration_keeps_sqlite_under_the_notes_section(tmp_path):
    rehearsal = load_config([rehearsal_config()], environ={})
    assert choose_backend(rehearsal).backend == "sqlite"
    merged = load_config([rehearsal_config(), note_file(tmp_path)], environ={})
    choice = choose_backend(merged)
    assert choice.backend == "sqlite"
    assert choice.reason.startswith(f"because [database] backend = sqlite in "
                                    f"{rehearsal_config()}:")
    assert "are not used" in choice.reason


def test_the_real_time_warning_is_for_sqlite_on_the_real_clock_only(tmp_path):
    sqlite = choose_backend(load_config(environ={}))
    mysql = choose_backend(load_config([note_file(tmp_path)], environ={}))
    warning = local_numbers_warning(sqlite, mock_clock=False)
    assert warning is not None and "\n" not in warning
    assert "local SQLite file" in warning and "not HET's vl_obsnum" in warning
    assert local_numbers_warning(sqlite, mock_clock=True) is None
    assert local_numbers_warning(mysql, mock_clock=False) is None


def test_a_bad_backend_is_one_line_naming_file_and_line(ocd, tmp_path):
    path = note_file(tmp_path, "[database]\nbackend = oracle\n")
    result = ocd("config", "show", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr == ("ocd: error: [database] backend = oracle: expected one of auto, "
                             f"mysql, sqlite (from {path}:4)\n")


@pytest.mark.mysql
def test_the_notes_section_allocates_from_a_real_mariadb_vl_obsnum(tmp_path, mysql_database):
    with fresh_database(mysql_database) as db:
        query(db, "INSERT INTO vl_obsnum (obsdate, inst, obsnum) VALUES "
                  "('2017-11-24', 'virus', 41), ('2017-11-23', 'virus', 500)")
        path = note_file(tmp_path, note_database(db))
        cfg = load_config([path], [("dates", "mock_time", MOCK_TIME)], environ={})
        assert choose_backend(cfg).backend == "mysql"
        with allocator_from_config(cfg, clock_from_config(cfg)) as allocator:
            allocator.check()
            assert allocator.allocate(2) == [42, 43]
        # the note says mysql_update_obsnum = false: read, nothing written
        assert [n for _, _, n in stored_numbers(db)] == [41, 500]
        cfg = load_config([path], [("dates", "mock_time", MOCK_TIME),
                                   ("database", "mysql_update_obsnum", "true")], environ={})
        with allocator_from_config(cfg, clock_from_config(cfg)) as allocator:
            assert allocator.allocate() == [42]
        assert stored_numbers(db)[-1] == (dt.date(2017, 11, 24), "virus", 42)


# -- seen by the user: ocd config show and the start-up of ocd run_shot --------------------------

def test_config_show_says_mysql_and_names_the_users_file_and_line(ocd, tmp_path):
    path = note_file(tmp_path)
    result = ocd("config", "show", "--config", "ocd.cfg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    at = lines.index("backend = auto")
    assert lines[at + 2] == (f"    ; observation numbers: MySQL, because [database] mysql_host "
                             f"is set in ocd.cfg:{line_of(path, 'mysql_host=')} (backend = auto)")
    assert "mysql_password = ********" in lines and "=test\n" not in result.stdout


def test_config_show_says_sqlite_without_mysql_options(ocd, tmp_path):
    result = ocd("config", "show", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ("    ; observation numbers: SQLite, because none of [database] mysql_host, "
            "mysql_port, mysql_database, mysql_user, mysql_password is set (backend = auto)"
            ) in result.stdout.splitlines()


def run_shot_by_hand(ocd, root, config):
    """``ocd run_shot`` of the sample shot DEX00009 on simulated subsystems, to the end."""
    return ocd("run_shot", "DEX00009", "--track", "W", "--config", str(config), "--yes",
               "--set", "tcs.backend=simulated", cwd=root, timeout=120)


@pytest.mark.slow
@pytest.mark.mysql
def test_run_shot_with_the_notes_section_takes_its_number_from_mariadb(ocd, mysql_database):
    root = short_tmpdir()
    try:
        with fresh_database(mysql_database) as db:
            query(db, "INSERT INTO vl_obsnum (obsdate, inst, obsnum) VALUES "
                      "('2017-11-19', 'virus', 41), ('2017-11-19', 'lrs2', 99)")
            config = night_config(root, database_section=note_database(db))
            result = run_shot_by_hand(ocd, root, config)
            assert result.returncode == 0, result.stderr
            assert result.stdout == "shot DEX00009 done: observation 42\n"
            host_line = line_of(config, "mysql_host=")
            assert (f"observation numbers: vl_obsnum in MySQL database '{db['database']}' on "
                    f"{db['host']}:{db['port']} (user '{db['user']}'), because [database] "
                    f"mysql_host is set in {config}:{host_line} (backend = auto)"
                    ) in result.stderr
            assert "local SQLite file" not in result.stderr
            # the note's mysql_update_obsnum = false: read from the table, nothing written
            assert stored_numbers(db) == [(dt.date(2017, 11, 19), "virus", 41),
                                          (dt.date(2017, 11, 19), "lrs2", 99)]
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_run_shot_on_sqlite_says_so_and_warns_only_on_the_real_clock(ocd):
    root = short_tmpdir()
    try:
        section = f"[database]\nbackend = sqlite\nsqlite_path = {root}/o.sqlite\nmysql_user = x\n"
        config = night_config(root, database_section=section)
        result = run_shot_by_hand(ocd, root, config)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "shot DEX00009 done: observation 1\n"
        assert (f"observation numbers: vl_obsnum in SQLite file {root}/o.sqlite, because "
                f"[database] backend = sqlite in {config}:{line_of(config, 'backend =')}; the "
                f"mysql_* options set (mysql_user in {config}:{line_of(config, 'mysql_user')}) "
                "are not used") in result.stderr
        assert "local SQLite file" not in result.stderr  # a mock clock: a rehearsal
    finally:
        shutil.rmtree(root, ignore_errors=True)


def wait_for_text(process: OcdProcess, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in process.stderr():
            return process.stderr()
        if process.popen.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} from {process.name}:\n{process.stderr()}")


@pytest.mark.slow
def test_ocd_run_on_the_real_clock_with_sqlite_warns_in_one_line():
    root = short_tmpdir()
    try:
        section = f"[database]\nsqlite_path = {root}/o.sqlite\n"
        config = night_config(root, database_section=section)
        run = OcdProcess(("run", "--config", str(config), "--set", "dates.mock_time="), root,
                         "run")
        try:
            err = wait_for_text(run, "shot_file")  # the start-up summary is out
        finally:
            assert run.stop() == 0, run.stderr()
        assert (f"observation numbers: vl_obsnum in SQLite file {root}/o.sqlite, because none "
                "of [database] mysql_host, mysql_port, mysql_database, mysql_user, "
                "mysql_password is set (backend = auto)") in err
        warnings = [line for line in err.splitlines() if "local SQLite file" in line]
        assert len(warnings) == 1 and "WARNING" in warnings[0], err
        assert "not HET's vl_obsnum sequence" in warnings[0]
        assert "obsnum_backend  sqlite" in err
    finally:
        shutil.rmtree(root, ignore_errors=True)


class MainLoopAwaitingOneSubscriber(MainLoop):
    """``ocd run`` that, once bound, waits for the test's subscription before it publishes
    its first event (the XPUB socket reports the subscription: no sleep)."""

    async def start(self) -> None:
        await super().start()
        await self.main_pub.wait_for_subscriber("ocd.main_loop.started", timeout=20)


@pytest.mark.mysql
async def test_the_started_event_of_ocd_run_carries_the_source(mysql_database):
    root = short_tmpdir()
    ctx = zmq.asyncio.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"ocd.main_loop.started")
    try:
        with fresh_database(mysql_database) as db:
            config = night_config(root, database_section=note_database(db))
            host_line = line_of(config, "mysql_host=")
            cfg = load_config([config], environ={})
            main = MainLoopAwaitingOneSubscriber(cfg, clock_from_config(cfg),
                                                 resolve_inputs(cfg, [], True))
            # connecting first is fine: ZeroMQ connects once ocd run binds the address
            sub.connect(cfg.get_urls("urls", "ocd_main_loop")[0])
            running = asyncio.ensure_future(main.run())
            try:
                event = decode(await asyncio.wait_for(sub.recv_multipart(), 20))
            finally:
                main.request_stop("test over")
                assert await asyncio.wait_for(running, 30) == 0
    finally:
        sub.close(linger=0)
        ctx.term()
        shutil.rmtree(root, ignore_errors=True)
    assert validation_errors("ocd.main_loop.started", event.payload) == []
    assert event.payload["obsnum_backend"] == "mysql"
    assert event.payload["obsnum_source"] == (
        f"observation numbers: vl_obsnum in MySQL database '{db['database']}' on "
        f"{db['host']}:{db['port']} (user '{db['user']}'), because [database] mysql_host is set "
        f"in {config}:{host_line} (backend = auto)")
