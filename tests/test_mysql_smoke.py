"""The CI database really answers: connect, create a temporary table, use it, drop it."""

import pymysql
import pytest

pytestmark = pytest.mark.mysql


def test_temporary_table_round_trip(mysql_database):
    conn = pymysql.connect(**mysql_database)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TEMPORARY TABLE smoke (n INT NOT NULL)")
            cur.executemany("INSERT INTO smoke (n) VALUES (%s)", [(1,), (2,), (39,)])
            cur.execute("SELECT SUM(n) FROM smoke")
            assert cur.fetchone()[0] == 42
            cur.execute("DROP TEMPORARY TABLE smoke")
            cur.execute("SHOW TABLES LIKE 'smoke'")
            assert cur.fetchone() is None
    finally:
        conn.close()
