"""Helpers of the archive's tests: a database of the test's own on the session's server, a
configuration pointing ``[archive]`` at it, stamped events, and a MariaDB server of the test's
own (its data directory, its port) that a test may kill and start again."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mysql_helpers
import pymysql
import zmq
from e2e_helpers import wait_until

from ocd.bus import encode, stamp
from ocd.clock import RealClock


@contextmanager
def scratch_database(server: dict[str, object]) -> Iterator[dict[str, object]]:
    """A new empty database on ``server``, dropped at the end."""
    with mysql_helpers.scratch_database(server, "ocd_archive") as database:
        yield database


def archive_config(root: Path, db: dict[str, object], extra: str = "") -> Path:
    """An ``ocd.cfg`` whose ``[archive]`` is ``db``, its spool under ``root``."""
    path = root / "archive.cfg"
    path.write_text(f"""[archive]
mysql_host = {db['host']}
mysql_port = {db['port']}
mysql_user = {db['user']}
mysql_password = {db['password']}
mysql_database = {db['database']}
mysql_connect_timeout = 2
spool_dir = {root}/spool
retry_interval = 0.2
flush_interval = 0.1
{extra}
[bus]
linger = 0.2
""")
    return path


def count(db: dict[str, object], sql: str = "SELECT COUNT(*) FROM archive_events",
          args: tuple[object, ...] = ()) -> int:
    conn = pymysql.connect(connect_timeout=2, **db)  # type: ignore[arg-type]
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            row = cur.fetchone()
            return int(row[0]) if row and row[0] is not None else 0
    finally:
        conn.close()




class StampedPublisher:
    """An XPUB socket publishing OCD-stamped events of one origin (never dropping: a full
    queue blocks the sender), which tells when a subscriber has come."""

    def __init__(self, url: str, origin: str = "ocd_test@host:1") -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.XPUB)
        self.sock.setsockopt(zmq.XPUB_NODROP, 1)
        self.sock.bind(url)
        self.origin, self.seq, self.clock = origin, 0, RealClock()

    def wait_subscriber(self, timeout: float = 30.0) -> None:
        """Until a subscription arrives (unsubscriptions of a gone subscriber are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0 and self.sock.poll(int(left * 1000)), "no subscriber came"
            if self.sock.recv()[:1] == b"\x01":
                return

    def publish(self, count: int, topic: str = "ocd.test.tick") -> None:
        for _ in range(count):
            self.seq += 1
            payload = stamp(topic, {"n": self.seq}, origin=self.origin, seq=self.seq,
                            clock=self.clock)
            self.sock.send_multipart(list(encode(topic, payload)))

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnMariaDB:
    """A MariaDB server of the test's own: ``mariadb-install-db`` into ``root``, then
    ``mariadbd`` on a free port (no grant tables: root without a password), as a
    subprocess :meth:`kill` ends with SIGKILL and :meth:`start` starts again on the same
    data and port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        server = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin") \
            or shutil.which("mysqld", path="/usr/sbin")
        if install is None or server is None:
            raise FileNotFoundError("mariadb-install-db and mariadbd are needed "
                                    "(apt-get install mariadb-server)")
        self.server = server
        subprocess.run([install, "--no-defaults", f"--datadir={self.data}",
                        "--auth-root-authentication-method=normal", "--skip-test-db",
                        f"--user={getpass.getuser()}"], check=True, capture_output=True,
                       timeout=120)

    @property
    def params(self) -> dict[str, object]:
        return {"host": "127.0.0.1", "port": self.port, "user": "root", "password": ""}

    def start(self, timeout: float = 60.0) -> None:
        self.process = subprocess.Popen(
            [self.server, "--no-defaults", f"--datadir={self.data}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.root}/sock", "--skip-grant-tables",
             f"--user={getpass.getuser()}", "--innodb-buffer-pool-size=32M", "--skip-log-bin",
             f"--log-error={self.root}/error.log", f"--pid-file={self.root}/pid"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def answers() -> bool:
            assert self.process is not None and self.process.poll() is None, \
                (self.root / "error.log").read_text(errors="replace")[-2000:]
            try:
                pymysql.connect(connect_timeout=1, **self.params).close()  # type: ignore[arg-type]
            except pymysql.err.MySQLError:
                return False
            return True

        wait_until(answers, timeout, "the test's MariaDB answering")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None
