"""``ocd record`` stopped while another program holds its recording open (``sqlite3`` in a
terminal, a monitor reading it live): it stops cleanly, the file keeping its WAL companion
(it stopped with "internal error OperationalError: database is locked")."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from e2e_helpers import OcdProcess, wait_until
from test_record_full_disk import Source, stored

pytestmark = pytest.mark.slow


def test_the_recorder_stops_cleanly_while_its_file_is_read():
    root = Path(tempfile.mkdtemp(prefix="ocd-"))
    source = Source(f"ipc://{root}/source.ipc")
    out = root / "night.db"
    record = OcdProcess(("record", "--urls", f"ipc://{root}/source.ipc", "--set",
                         "record.flush_interval=0.1", str(out)), root, "record")
    reader = None
    try:
        source.wait_for_subscriber(30)
        source.send(50)
        wait_until(lambda: out.exists() and len(stored(out)) == 50, 30, "events written",
                   record.stderr)
        reader = sqlite3.connect(f"file:{out}?mode=ro", uri=True)
        reader.execute("BEGIN")  # a reader in the middle of its reading
        assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == 50
        assert record.stop() == 0, record.stderr()
        assert "error" not in record.stderr() and "Traceback" not in record.stderr()
        assert "50 events stored" in record.child.stdout(), record.child.stdout()
    finally:
        if reader is not None:
            reader.close()
        record.stop()
        source.close()
    assert stored(out) == list(range(1, 51))  # complete, read once the reader is gone
    shutil.rmtree(root, ignore_errors=True)
