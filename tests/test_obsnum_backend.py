"""Which backend hands out observation numbers, and why (issue #16): ``[database] backend =
auto`` follows what the user wrote, the reason names the file and line, the start-up of
``ocd run_shot`` says it, and the original OCD's ``[database]`` section takes its numbers from
a real MariaDB ``vl_obsnum``."""

from __future__ import annotations

import datetime as dt

import pytest
from obsnum_helpers import (
    MOCK_TIME,
    NOTE_DATABASE,
    SECRET,
    fresh_database,
    note_database,
    query,
    stored_numbers,
)

from ocd.clock import clock_from_config
from ocd.config import load_config
from ocd.obsnum import (
    MYSQL_CONNECTION_OPTIONS,
    allocator_from_config,
    choose_backend,
    local_numbers_warning,
    source_line,
)
from ocd.obsnum_mysql import MysqlAllocator
from ocd.obsnum_sqlite import SqliteAllocator
from ocd.samples import rehearsal_config


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
    assert result.stderr == (f"ocd: error: {path}:4: [database] backend = 'oracle': expected "
                             "one of auto, mysql, sqlite\n")


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
