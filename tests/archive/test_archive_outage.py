"""Nothing lost, nothing twice: ``ocd archive record`` as a real process, writing into a
MariaDB server of the test's own that is killed (SIGKILL) and started again mid-night, then
itself killed and started again.

One server start, one kill, one restart: the events sent while the server is down wait in the
spool and are archived once it is back, each once; the events sent while the archiver is
dead are lost (nobody received them) and the archive says so, as a sequence gap; the events an
archiver received and had not written when it was killed are in its journal, and the next
archiver writes them.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from archive_helpers import OwnMariaDB, StampedPublisher, archive_config, count
from conftest import run_ocd
from e2e_helpers import OcdProcess, short_tmpdir, wait_until

pytestmark = pytest.mark.mysql

ORIGIN = "ocd_test@host:1"


@pytest.fixture
def root() -> Iterator[Path]:
    path = short_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def server(root: Path, mysql_server: dict[str, object]) -> Iterator[OwnMariaDB]:
    """(``mysql_server``: in CI the session's server is set up the same way as this one.)"""
    try:
        own = OwnMariaDB(root / "mariadb")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    own.start()
    yield own
    own.kill()


def archiver(root: Path, config: Path, url: str, name: str, *more: str) -> OcdProcess:
    return OcdProcess(("archive", "record", "--config", str(config), "--urls", url, *more),
                      root, name)


def journaled(root: Path) -> int:
    """Messages in the archiver's journal (read as the next archiver reads it)."""
    from ocd.archive.journal import read_segment, segments

    return sum(len(read_segment(path)) for path in segments(root / "spool" / "journal"))


def test_a_server_killed_mid_night_and_an_archiver_killed_lose_nothing_they_had(
        root: Path, server: OwnMariaDB) -> None:
    db = {**server.params, "database": "ocd_archive"}
    import pymysql

    conn = pymysql.connect(autocommit=True, **server.params)  # type: ignore[arg-type]
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE ocd_archive")
    conn.close()
    config = archive_config(root, db)
    done = run_ocd("archive", "init", "--config", str(config))
    assert done.returncode == 0, done.stderr
    url = f"ipc://{root}/bus.ipc"
    publisher = StampedPublisher(url, ORIGIN)
    spool = root / "spool" / "archive.spool"
    first = archiver(root, config, url, "archiver1")
    second = third = None
    try:
        publisher.wait_subscriber()
        publisher.publish(300)
        wait_until(lambda: count(db) == 300, what="300 events archived")

        server.kill()  # mid-night: the next batches go to the spool
        publisher.publish(400)
        wait_until(lambda: spool.exists() and spool.stat().st_size > 20_000,
                   what="the events spooled while the server is down")
        server.start()  # the same data directory and port
        publisher.publish(300)
        wait_until(lambda: count(db) == 1000, what="every event archived after the restart")
        assert count(db, "SELECT COUNT(DISTINCT origin, seq) FROM archive_events") == 1000
        assert count(db, "SELECT MAX(seq) FROM archive_events") == 1000

        first.signal(signal.SIGKILL)
        first.popen.wait(10)
        publisher.publish(50)  # nobody receives these: lost, and said so

        # an archiver killed with events received and not yet written (a long flush
        # interval keeps them in memory): its journal has them
        second = archiver(root, config, url, "archiver2", "--set", "archive.flush_interval=30")
        publisher.wait_subscriber()
        publisher.publish(100)
        wait_until(lambda: journaled(root) == 100, what="100 events in the journal")
        second.signal(signal.SIGKILL)
        second.popen.wait(10)
        assert count(db) == 1000

        third = archiver(root, config, url, "archiver3")
        publisher.wait_subscriber()
        publisher.publish(20)
        wait_until(lambda: count(db) == 1120, what="the journal's and the new events")
        assert third.stop() == 0
        summary = third.child.out_path.read_text()
    finally:
        for process in (first, second, third):
            if process is not None and process.popen.poll() is None:
                process.stop()
        publisher.close()
    assert count(db, "SELECT COUNT(*) FROM archive_gaps WHERE origin = %s AND "
                     "before_seq = 1051 AND missing = 50", (ORIGIN,)) == 1
    assert count(db, "SELECT COUNT(DISTINCT origin, seq) FROM archive_events") == 1120
    assert not spool.exists() or spool.stat().st_size < 100  # drained
    log = first.stderr()
    assert "spooling into" in log and "the archive is back" in log, log
    assert "Traceback" not in log + third.stderr()
    assert "holds 100 message(s) an archiver received and did not write" in third.stderr()
    assert "120 events archived" in summary, summary
    assert "50 event(s) missing since the last ones archived" in summary, summary
    assert not list((root / "spool" / "journal").iterdir())  # all written
