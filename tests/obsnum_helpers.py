"""Helpers of the observation-number tests: configurations, the schema file, worker processes."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import ROOT, ocd_env

from ocd.config import Config, load_config

INIT_SQL = ROOT / "docker" / "mysql" / "init.sql"
WORKER = Path(__file__).with_name("obsnum_worker.py")
#: A date far from any real one, so tests never depend on today (nor on midnight).
MOCK_TIME = "2017-11-24T14:04:26"
MOCK_DATE = dt.date(2017, 11, 24)
#: A password no message should ever contain.
SECRET = "Quokka-Umbrella-Zebra-4417"
#: The ``[database]`` section of the original OCD's user note, verbatim (issue #16).
NOTE_DATABASE = """\
[database]
mysql_host=127.0.0.1
mysql_port=3306
mysql_database=test_db
mysql_user=test_user
mysql_password=test
mysql_update_obsnum = false
"""


def note_database(params: dict[str, object] | None = None) -> str:
    """The note's ``[database]`` section; with ``params`` (a test server's), the same lines in
    the same form with that server's values instead of the note's."""
    if params is None:
        return NOTE_DATABASE
    lines = []
    for line in NOTE_DATABASE.splitlines():
        key = line.partition("=")[0]
        if key.startswith("mysql_") and key.removeprefix("mysql_") in params:
            line = f"{key}={params[key.removeprefix('mysql_')]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def database_options(backend: str, mysql: dict[str, object] | None = None,
                     sqlite_path: Path | None = None, **extra: object) -> dict[str, str]:
    """``[database]`` options for a backend: the test server's, or a SQLite file."""
    options = {"backend": backend}
    if sqlite_path is not None:
        options["sqlite_path"] = str(sqlite_path)
    if mysql is not None:
        options.update(mysql_host=str(mysql["host"]), mysql_port=str(mysql["port"]),
                       mysql_user=str(mysql["user"]), mysql_password=str(mysql["password"]),
                       mysql_database=str(mysql["database"]))
    options.update({k: str(v) for k, v in extra.items()})
    return options


def make_config(options: dict[str, str], mock_time: str | None = MOCK_TIME) -> Config:
    overrides = [("database", k, v) for k, v in options.items()]
    if mock_time:
        overrides.append(("dates", "mock_time", mock_time))
    return load_config(overrides=overrides, environ={})


def set_flags(options: dict[str, str], mock_time: str | None = MOCK_TIME) -> list[str]:
    """The same options as ``--set`` flags for an ``ocd`` subprocess, password excluded (it
    travels in the environment, as the documentation recommends)."""
    flags = []
    for key, value in options.items():
        if key != "mysql_password":
            flags += ["--set", f"database.{key}={value}"]
    if mock_time:
        flags += ["--set", f"dates.mock_time={mock_time}"]
    return flags


def subprocess_env(options: dict[str, str], **extra: str) -> dict[str, str]:
    env = ocd_env(**extra)
    if "mysql_password" in options:
        env["OCD__DATABASE__MYSQL_PASSWORD"] = options["mysql_password"]
    return env


# -- MySQL -------------------------------------------------------------------------------------

def mysql_connect(params: dict[str, object], **extra: object):
    import pymysql
    from pymysql.constants import CLIENT

    keys = ("host", "port", "user", "password", "database")
    return pymysql.connect(autocommit=True, client_flag=CLIENT.MULTI_STATEMENTS,
                           **{k: params[k] for k in keys if k in params}, **extra)


def query(params: dict[str, object], sql: str, args: object = None) -> list[tuple]:
    """Run one statement on a connection of its own; its rows, if any."""
    conn = mysql_connect(params)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    finally:
        conn.close()


def run_sql_file(params: dict[str, object], path: Path) -> None:
    """Execute an SQL file verbatim, as the MySQL image does at its first start."""
    conn = mysql_connect(params)
    try:
        with conn.cursor() as cur:
            cur.execute(path.read_text())
            while cur.nextset():
                pass
    finally:
        conn.close()


@contextmanager
def fresh_database(server: dict[str, object], with_table: bool = True
                   ) -> Iterator[dict[str, object]]:
    """A database of its own for one test, with ``vl_obsnum`` made by ``init.sql``."""
    name = f"ocd_obsnum_{uuid.uuid4().hex[:12]}"
    admin = mysql_connect({k: v for k, v in server.items() if k != "database"})
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    params = {**server, "database": name}
    try:
        if with_table:
            run_sql_file(params, INIT_SQL)
        yield params
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def stored_numbers(params: dict[str, object]) -> list[tuple[dt.date, str, int]]:
    conn = mysql_connect(params)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT obsdate, inst, obsnum FROM vl_obsnum ORDER BY id")
            return list(cur.fetchall())
    finally:
        conn.close()


# -- concurrent workers ------------------------------------------------------------------------

def run_workers(options: dict[str, str], processes: int, allocations: int,
                timeout: float = 90) -> list[list[int]]:
    """Start ``processes`` real processes, let them all allocate ``allocations`` numbers one
    at a time from the same start signal, and return each one's numbers in order."""
    command = [sys.executable, str(WORKER), str(allocations), *set_flags(options)]
    env = subprocess_env(options)
    workers = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
               for _ in range(processes)]
    try:
        for worker in workers:  # each has connected and waits for the signal
            line = worker.stdout.readline()
            assert line == "ready\n", (line, worker.stderr.read())
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = []
        for worker in workers:
            out, err = worker.communicate(timeout=timeout)
            assert worker.returncode == 0, err
            results.append([int(n) for n in out.split()])
        return results
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
