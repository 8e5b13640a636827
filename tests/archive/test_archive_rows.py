"""The archive's pure parts: which night an event is filed under, its identity (what makes a
batch written twice store each event once), the visit a shot event makes, and the spool."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from ocd.archive.rows import event_row, identity, visit_of
from ocd.archive.spool import MAGIC, Spool
from ocd.sky.nights import night_date, night_of_seconds


def payload(**fields: object) -> dict[str, object]:
    return {"__origin": "ocd_main_loop@h:7", "__seq": 3, "__data_time": 1511060400.25,
            "__ocd_utc": "2017-11-19T03:00:00+00:00", **fields}


def test_an_event_is_filed_under_the_night_of_its_ocd_time() -> None:
    p = payload()
    row = event_row("ocd.main_loop.status", json.dumps(p), p, received=1.0e9)
    assert row.date == dt.date(2017, 11, 18)  # 03:00 UTC is the evening of the 18th at HET
    assert row.at == dt.datetime(2017, 11, 19, 3, tzinfo=dt.timezone.utc).timestamp()
    noon = dt.datetime(2017, 11, 19, 19, 30, tzinfo=dt.timezone.utc)  # after local noon
    assert night_of_seconds(noon.timestamp()) == night_date(noon) == dt.date(2017, 11, 19)


def test_without_ocd_time_the_data_time_then_the_reception_decide() -> None:
    p = {"__data_time": 1511060400.0}
    assert event_row("tcs.root.ra_dec", "{}", p, 5.0).at == 1511060400.0
    assert event_row("tcs.root.ra_dec", "{}", {"x": 1}, 1511060401.0).at == 1511060401.0


@pytest.mark.parametrize("times", [
    {"__ocd_utc": "9999-12-31T23:59:59+00:00"}, {"__ocd_utc": "0001-01-01T00:00:00"},
    {"__data_time": 1e300}, {"__data_time": -5.0}, {"__ocd_utc": 7, "__data_time": True}])
def test_an_absurd_time_files_the_event_under_its_reception(times: dict) -> None:
    row = event_row("t.a.b", json.dumps(times), times, 1511060400.0)
    assert row.at == 1511060400.0 and row.date == dt.date(2017, 11, 18)


def test_the_identity_is_the_origin_sequence_and_data_time_else_the_text() -> None:
    same = identity("a.b.c", "{1}", "o@h:1", 5, 1.5)
    assert same == identity("x.y.z", "{2}", "o@h:1", 5, 1.5)  # what was sent, not re-stamps
    assert same != identity("a.b.c", "{1}", "o@h:1", 6, 1.5)
    # a restarted publisher whose origin came back numbers from 1 again, later
    assert same != identity("a.b.c", "{1}", "o@h:1", 5, 99.0)
    assert identity("tcs.a.b", "{1}", None, None, None) != identity("tcs.a.b", "{2}", None,
                                                                    None, None)


def test_two_identical_events_without_any_time_stay_two() -> None:
    beat = {"status": "ok"}
    one = event_row("tcs.receiver.heartbeat", '{"status":"ok"}', beat, 10.0)
    two = event_row("tcs.receiver.heartbeat", '{"status":"ok"}', beat, 11.0)
    assert one.uid != two.uid
    assert one.uid == event_row("tcs.receiver.heartbeat", '{"status":"ok"}', beat, 10.0).uid
    timed = {"__data_time": 5.0}
    assert event_row("tcs.a.b", "{t}", timed, 10.0).uid == event_row("tcs.a.b", "{t}", timed,
                                                                      11.0).uid


def test_a_bogus_sequence_is_no_identity() -> None:
    p = payload(__seq=True)
    row = event_row("t.a.b", json.dumps(p), p, 1.0)
    assert row.origin is None and row.seq is None


def test_a_shot_start_and_end_make_one_visit() -> None:
    start = payload(exec_status=0, shotid="DEX00009", obs_track="W", observation=17)
    row = event_row("ocd.run_shot.run", json.dumps(start), start, 1.0)
    visit = visit_of(row, start)
    assert visit is not None and visit.start_at == row.at and visit.end_at is None
    end = payload(exec_status=1, shotid="DEX00009", obs_track="W", observation=17, error=True,
                  exc_type="RuntimeError", exc_value="virus lost", __seq=9)
    ended = visit_of(event_row("ocd.run_shot.run", json.dumps(end), end, 2.0), end)
    assert ended is not None and ended[:4] == visit[:4]
    assert visit.observation == 17 and visit.track == "W"
    assert ended.outcome == "failed" and ended.error == "RuntimeError: virus lost"
    assert visit_of(event_row("ocd.main_loop.status", "{}", start, 1.0), start) is None


def rows(n: int, start: int = 0) -> list:
    out = []
    for k in range(start, start + n):
        p = payload(__seq=k + 1, n=k)
        out.append(event_row("t.a.b", json.dumps(p), p, float(k), first=k == 0))
    return out


def test_the_spool_gives_back_its_batches_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10 ** 6)
    assert not spool.pending
    spool.append(rows(3))
    spool.append(rows(2, 3))
    spool.close()
    spool = Spool(tmp_path, 10 ** 6)  # another process (the archiver started again)
    first = spool.peek()
    assert first is not None and first[0] == rows(3)
    spool.done(first[1])
    second = spool.peek()
    assert second is not None and second[0] == rows(2, 3)
    spool.done(second[1])
    assert not spool.pending and (tmp_path / "archive.spool").read_bytes() == MAGIC


def test_a_torn_last_record_is_left_out_once(tmp_path: Path, caplog) -> None:
    spool = Spool(tmp_path, 10 ** 6)
    spool.append(rows(3))
    spool.append(rows(2, 3))
    spool.close()
    path = tmp_path / "archive.spool"
    path.write_bytes(path.read_bytes()[:-5])  # killed in the middle of the second append
    spool = Spool(tmp_path, 10 ** 6)
    batch = spool.peek()
    assert batch is not None and batch[0] == rows(3)
    spool.done(batch[1])
    assert spool.peek() is None
    assert sum("cut short" in r.getMessage() for r in caplog.records) == 1
    spool.append(rows(1, 9))  # appends go on after the last good record
    again = spool.peek()
    assert again is not None and again[0] == rows(1, 9)


def test_the_spool_is_bounded(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2000)
    assert spool.append(rows(2))
    assert not spool.append(rows(20))
    assert spool.dropped == 20 and spool.size <= 2000


def test_a_foreign_file_is_not_taken_for_a_spool(tmp_path: Path) -> None:
    (tmp_path / "archive.spool").write_text("hello")
    with pytest.raises(Exception, match="not an OCD archive spool"):
        Spool(tmp_path, 10 ** 6)


def test_the_archiver_reads_hostile_frames_as_ocd_record_does(tmp_path: Path) -> None:
    """The reception's decoding is ocd record's: bad frames counted and dropped; a topic
    longer than the archive's column dropped and counted; a lie about sequences or times
    stored as data, the event filed under its reception."""
    from ocd.archive.archiver import ArchiveWriter
    from ocd.recording.recorder import RecordStats

    stats = RecordStats()
    writer = ArchiveWriter(None, Spool(tmp_path, 10 ** 6), stats,  # type: ignore[arg-type]
                           lambda system: True)
    good = {"__origin": "o@h:1", "__seq": 1, "__data_time": 1511060400.0}
    batch = [
        (b"t.a.b", json.dumps(good).encode(), 1511060401.0),
        (b"t.a.b", b"[1, 2]", 1.0),                       # not an object
        (b"t.a.b", b'{"x": NaN}', 1.0),                   # not strict JSON
        (b"\xff.a.b", b"{}", 1.0),                        # not UTF-8
        (b"t.a.b", None, 3),                              # three frames
        (("t." + "x" * 300 + ".b").encode(), b"{}", 1.0),  # longer than the column
        (b"t.a.b", json.dumps({"__seq": -4, "__origin": ["x"],
                               "__ocd_utc": "99999-01-01"}).encode(), 1511060402.0),
    ]
    rows = [row for row in writer._rows(batch) if row is not None]
    assert stats.malformed == 4 and writer.too_long == 1
    assert [row.origin for row in rows] == ["o@h:1", None]
    assert rows[0].first and rows[1].at == 1511060402.0


def test_the_journal_keeps_each_batch_until_it_is_written(tmp_path: Path) -> None:
    from ocd.archive.journal import Journal, segments

    journal = Journal(tmp_path)
    first = [(b"t.a.b", b'{"n":1}', 1.0), (b"t.a.b", b'{"n":2}', 2.0)]
    journal.add(first)
    journal.roll()                       # handed to the writer
    journal.add([(b"t.a.b", b'{"n":3}', 3.0), (b"bad", None, 1)])
    assert len(segments(tmp_path)) == 2
    journal.done()                       # the first batch is written: its segment goes
    assert len(segments(tmp_path)) == 1
    journal.close()                      # killed here: the second batch was never handed
    again = Journal(tmp_path)
    assert again.recovered() == [[(b"t.a.b", b'{"n":3}', 3.0)]]
    again.done()
    assert segments(tmp_path) == []


def test_a_journal_segment_cut_short_gives_its_whole_messages(tmp_path: Path, caplog) -> None:
    from ocd.archive.journal import Journal, segments

    journal = Journal(tmp_path)
    journal.add([(b"t.a.b", b'{"n":1}', 1.0), (b"t.a.b", b'{"n":2}', 2.0)])
    journal.close()
    (path,) = segments(tmp_path)
    path.write_bytes(path.read_bytes()[:-3])  # killed in the middle of a write
    empty = tmp_path / "journal-000000000009"
    empty.write_bytes(b"")
    assert Journal(tmp_path).recovered() == [[(b"t.a.b", b'{"n":1}', 1.0)]]
    assert not empty.exists()
    assert any("cut short" in r.getMessage() for r in caplog.records)
