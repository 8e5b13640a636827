"""A scratch database on a real MySQL/MariaDB server, made and dropped around its user."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pymysql


@contextmanager
def scratch_database(server: dict[str, object], prefix: str = "ocd_test"
                     ) -> Iterator[dict[str, object]]:
    """A new empty database on ``server`` (named ``prefix`` and a random suffix), dropped at
    the end; the connection parameters with ``database``."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = pymysql.connect(autocommit=True, **server)  # type: ignore[arg-type]
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    try:
        yield {**server, "database": name}
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
