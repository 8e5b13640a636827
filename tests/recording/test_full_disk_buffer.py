"""The recorder's memory on a full disk (:class:`ocd.recording.recorder.FullDisk`): bounded,
the newest kept, the drops counted and said at once and then once a minute."""

from __future__ import annotations

import logging

from ocd.recording.recorder import FULL_REPORT, FullDisk, RecordStats


def rows(first: int, count: int) -> list:
    return [("t.s.k", f'{{"n": {n}}}', None, None, float(n)) for n in range(first, first + count)]


def test_the_newest_events_are_kept_and_the_drops_said_once_a_minute(caplog):
    now = [1000.0]
    stats = RecordStats()
    full = FullDisk(5, stats, monotonic=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="ocd.recording.recorder"):
        full.keep(rows(1, 3), OSError("full"))
        assert full.full and len(caplog.records) == 1  # said at once
        for step in range(1, 12):  # five seconds apart: under a minute
            now[0] += 5
            full.keep(full.take() + rows(3 + step, 1), OSError("full"))
        assert len(caplog.records) == 1
        now[0] += FULL_REPORT
        full.keep(full.take() + rows(15, 2), OSError("full"))
        assert len(caplog.records) == 2
        assert "11 older one(s) dropped so far" in caplog.records[-1].getMessage()
    waiting = full.take()
    assert [row[4] for row in waiting] == [12.0, 13.0, 14.0, 15.0, 16.0]  # the newest five
    assert stats.dropped == 11  # 16 events kept into 5
    full.written(len(waiting))
    assert not full.full
