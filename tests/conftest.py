"""Shared fixtures: running ``ocd`` as a real subprocess, and a real MySQL/MariaDB database.

MySQL connection parameters come from ``OCD_TEST_MYSQL_HOST``, ``_PORT``, ``_USER``,
``_PASSWORD`` (defaults 127.0.0.1, 3306, root, empty). Each test session works in a database of
its own, created here and dropped at the end. When ``CI=true`` a ``mysql`` test that is skipped
fails the run: CI must never go green without having talked to the database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def ocd_env(**extra: str) -> dict[str, str]:
    """Environment for an ``ocd`` subprocess: this checkout first on the path, no user config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCD__")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_ocd(*args: str, cwd: Path | None = None, timeout: float = 60, input: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ocd ARGS`` to completion and capture its output."""
    return subprocess.run([sys.executable, "-m", "ocd", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, input=input, env=env or ocd_env())


@pytest.fixture
def ocd():
    """Callable running ``ocd`` as a real subprocess."""
    return run_ocd


# -- MySQL -------------------------------------------------------------------------------------

def mysql_params() -> dict[str, object]:
    return {
        "host": os.environ.get("OCD_TEST_MYSQL_HOST", "127.0.0.1"),
        "port": int(os.environ.get("OCD_TEST_MYSQL_PORT", "3306")),
        "user": os.environ.get("OCD_TEST_MYSQL_USER", "root"),
        "password": os.environ.get("OCD_TEST_MYSQL_PASSWORD", ""),
    }


@pytest.fixture(scope="session")
def mysql_server() -> dict[str, object]:
    """Connection parameters of a reachable server, or skip (a failure in CI)."""
    import pymysql

    params = mysql_params()
    try:
        pymysql.connect(connect_timeout=5, **params).close()
    except pymysql.err.MySQLError as exc:
        pytest.skip(f"no MySQL server at {params['host']}:{params['port']}: {exc}")
    return params


@pytest.fixture(scope="session")
def mysql_database(mysql_server: dict[str, object]) -> Iterator[dict[str, object]]:
    """A fresh database for this test session; parameters include ``database``."""
    from mysql_helpers import scratch_database

    with scratch_database(mysql_server) as database:
        yield database


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """In CI a skipped ``mysql`` or ``browser`` test is a failure: the database path and the
    page in a real browser must really run."""
    outcome = yield
    report = outcome.get_result()
    if not (IN_CI and report.skipped):
        return
    for marker in ("mysql", "browser"):
        if item.get_closest_marker(marker) is not None:
            report.outcome = "failed"
            report.longrepr = f"{marker} test skipped in CI (CI=true): {report.longrepr}"
            return
