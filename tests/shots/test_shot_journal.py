"""The journal of the running shot: durable entries, and the finish a restarted main loop
publishes from one."""

from __future__ import annotations

import pytest

from ocd.bus.envelope import dumps, stamp
from ocd.bus.schemas import validation_errors
from ocd.clock import RealClock
from ocd.config import sample_shot_file
from ocd.shots.journal import JournalEntry, ShotJournal, interrupted_finish
from ocd.shots.store import load_shots


@pytest.fixture
def entry() -> JournalEntry:
    shot = load_shots(sample_shot_file()).all()[0]
    return JournalEntry(shot.as_dict(), "E", 17, "ocd_run_shot@host:42",
                        "2017-11-19T03:00:00+00:00")


def test_begin_complete_end(tmp_path, entry):
    journal = ShotJournal(tmp_path / "shots.dat")
    assert journal.path == tmp_path / "shots.dat.running"
    assert journal.read() is None
    journal.begin(entry)
    assert journal.read() == entry
    journal.complete(entry)
    assert journal.read().completed is True
    journal.end()
    assert journal.read() is None and not journal.path.exists()
    journal.end()  # twice is fine


def test_an_unreadable_journal_is_set_aside_with_a_message(tmp_path, entry, caplog):
    journal = ShotJournal(tmp_path / "shots.dat")
    journal.path.write_text('{"shot": "not a shot"}')
    assert journal.read() is None
    assert (tmp_path / "shots.dat.running.unreadable").exists()
    assert "is not a journal OCD wrote" in caplog.text


@pytest.mark.parametrize("completed", [False, True])
def test_the_finish_of_an_interrupted_shot_is_a_valid_run_finish(entry, completed):
    if completed:
        entry = JournalEntry(**{**entry.as_dict(), "completed": True})
    data = interrupted_finish(entry)
    assert data["exec_status"] == 1 and data["observation"] == 17 and data["obs_track"] == "E"
    assert data["shot_origin"] == "ocd_run_shot@host:42"
    if completed:
        assert data["error"] is False and data["exc_type"] is None
    else:
        assert data["error"] is True and data["exc_type"] == "Interrupted"
        assert "n_obs is unchanged" in data["exc_value"]
    payload = stamp("ocd.run_shot.run", data, origin="ocd_run_shot@host:43", seq=1,
                    clock=RealClock())
    assert validation_errors("ocd.run_shot.run", payload) == []


@pytest.mark.parametrize("completed", [False, True])
def test_a_journal_of_an_older_ocd_reads_completed_as_n_obs_written(entry, completed):
    """Before n_obs could be owed, ``completed`` was marked once n_obs was written."""
    data = {**entry.as_dict(), "completed": completed}
    del data["n_obs_written"], data["finished"]
    read = JournalEntry.from_dict(data)
    assert (read.completed, read.n_obs_written, read.n_obs_owed, read.finished) == \
        (completed, completed, False, False)


def test_marks_after_the_start_only_shorten_the_entry(tmp_path, entry):
    """What lets the journal be rewritten in place on a full disk."""
    journal = ShotJournal(tmp_path / "shots.dat")
    journal.begin(entry)
    sizes = [journal.path.stat().st_size]
    owed = journal.complete(entry, n_obs_written=False)
    sizes.append(len(dumps(owed.as_dict())))
    finished = JournalEntry(**{**owed.as_dict(), "finished": True})
    sizes.append(len(dumps(finished.as_dict())))
    assert journal._rewrite_in_place(dumps(finished.as_dict()))  # fits where owed was
    assert journal.read() == finished and journal.read().n_obs_owed
    sizes.append(len(dumps(journal.complete(finished, n_obs_written=True).as_dict())))
    assert sizes == sorted(sizes, reverse=True)
    assert not journal._rewrite_in_place(dumps(finished.as_dict()))  # longer: refused
    assert journal.read().n_obs_written
