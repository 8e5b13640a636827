"""The archive in a real MariaDB: the migrations, idempotent batches, visits, gaps, the night's
timeline told by the monitors' code, the queries, import, prune and db_replay's export, and
the commands as real processes."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from archive_helpers import archive_config, count, scratch_database
from conftest import run_ocd
from e2e_helpers import EventTap

from ocd.archive.report import render_night, report_topics, tell_night
from ocd.archive.rows import EventRow, event_row
from ocd.archive.schema import LATEST
from ocd.archive.store import ArchiveStore, MysqlSettings
from ocd.bus import encode, stamp
from ocd.clock import MockClock
from ocd.config import sample_night
from ocd.core import events as ev
from ocd.errors import OcdError, UsageError

pytestmark = pytest.mark.mysql

NIGHT = dt.date(2017, 11, 18)


@pytest.fixture
def db(mysql_server: dict[str, object]) -> Iterator[dict[str, object]]:
    with scratch_database(mysql_server) as params:
        yield params


@pytest.fixture
def store(db: dict[str, object]) -> Iterator[ArchiveStore]:
    archive = ArchiveStore(MysqlSettings(str(db["host"]), int(db["port"]),  # type: ignore[call-overload]
                                         str(db["database"]), str(db["user"]),
                                         str(db["password"]), section="archive"))
    assert archive.migrate() == [LATEST]
    yield archive
    archive.close()


class Night:
    """Stamped events of a mock night at HET, as the main loop and the TCS publish them."""

    def __init__(self, start: str = "2017-11-19T03:00:00") -> None:
        self.clock = MockClock(dt.datetime.fromisoformat(start).replace(
            tzinfo=dt.timezone.utc), speed=1.0)
        self.t0 = self.clock.utc().timestamp()
        self.seq: dict[str, int] = {}
        self.rows: list[EventRow] = []

    def add(self, minute: float, topic: str, origin: str, **data: object) -> EventRow:
        seq = self.seq[origin] = self.seq.get(origin, 0) + 1
        payload = stamp(topic, data, origin=origin, seq=seq, clock=self.clock)
        when = dt.datetime.fromtimestamp(self.t0 + 60 * minute, dt.timezone.utc)
        payload["__ocd_utc"] = when.isoformat()
        text = encode(topic, payload)[1].decode()
        row = event_row(topic, text, json.loads(text), self.t0 + 60 * minute,
                        first=seq == 1)
        self.rows.append(row)
        return row


MAIN = "ocd_main_loop@tcs1:42"
SHOTS = "ocd_run_shot@tcs1:42"
BY_HAND = "ocd_run_shot@ra:77"


def sample_night_rows() -> Night:
    night = Night()
    for machine, old, new in (("tcs", "dead", "alive"), ("hetdex_allowed", "not_allowed",
                                                         "allowed"),
                              ("metrology", "stale", "good")):
        night.add(0, "ocd.states.change", MAIN, machine_name=machine, old_state=old,
                  new_state=new, transition="test")
    night.add(0, "ocd.main_loop.no_shot", MAIN, reason="not dark yet (sun at -12 deg)")
    night.add(30, "ocd.main_loop.decision", MAIN, started=True, shotid="DEX00009",
              reason="best airmass")
    night.add(30.1, "ocd.run_shot.run", SHOTS, exec_status=0, shotid="DEX00009",
              obs_track="W", observation=17)
    night.add(50, "ocd.run_shot.run", SHOTS, exec_status=1, shotid="DEX00009",
              obs_track="W", observation=17, error=False)
    night.add(55, "ocd.command.abort", "ocd_abort@ra:5", request_id="r1", user="astro")
    night.add(55.1, "ocd.main_loop.ack", MAIN, request_id="r1", command="abort", ok=True,
              message="nothing to abort", by="ocd_abort@ra:5")
    night.add(60, "ocd.run_shot.run", BY_HAND, exec_status=0, shotid="DEX00042",
              obs_track="E", observation=18)
    night.add(70, "ocd.run_shot.run", BY_HAND, exec_status=1, shotid="DEX00042",
              obs_track="E", observation=18, error=True, exc_type="RuntimeError",
              exc_value="virus lost")
    night.add(71, "ocd.main_loop.error", MAIN, stage="schedule", error="scheduler crashed")
    return night


def test_the_migrations_run_once_and_again_harmlessly(store: ArchiveStore) -> None:
    assert store.version() == LATEST
    assert store.migrate() == []  # re-runnable
    store.check()


def test_a_batch_written_twice_is_stored_once_with_its_visits(store: ArchiveStore,
                                                              db: dict[str, object]) -> None:
    night = sample_night_rows()
    assert store.write(night.rows) == len(night.rows)
    assert store.write(night.rows) == 0
    assert store.write(night.rows[3:5]) == 0
    assert count(db) == len(night.rows)
    assert count(db, "SELECT events FROM archive_nights WHERE night = %s", (NIGHT,)) \
        == len(night.rows)
    visits = store.visits("DEX00009")
    assert [(v["night"], v["observation"], v["track"], v["outcome"]) for v in visits] == [
        (NIGHT, 17, "W", ev.COMPLETED)]
    failed = store.visits("DEX00042")
    assert failed[0]["outcome"] == ev.FAILED and failed[0]["error"] == "RuntimeError: virus lost"
    assert failed[0]["origin"] == BY_HAND


def test_the_night_is_told_by_the_monitors_timeline(store: ArchiveStore) -> None:
    night = sample_night_rows()
    store.write(night.rows)
    span = store.night(NIGHT)
    assert span is not None
    events = store.night_events(NIGHT, report_topics(), span[0], span[1])
    told = tell_night(NIGHT, span, events, store.gaps(NIGHT))
    shots = told.report.shots
    assert [(s.shotid, s.observation, s.outcome, s.by_hand) for s in shots] == [
        ("DEX00009", 17, ev.COMPLETED, False), ("DEX00042", 18, ev.FAILED, True)]
    assert shots[0].reason == "best airmass"
    idle = told.report.idle_by_reason()
    assert idle["twilight"] == pytest.approx(30 * 60, abs=1)  # "not dark yet" until the shot
    assert idle["shot by hand"] == pytest.approx(10 * 60, abs=1)
    assert [error for _, error in told.report.errors] == ["schedule: scheduler crashed"]
    assert any("abort from ocd_abort@ra:5" in line.text for line in told.commands)
    text = render_night(told)
    assert "DEX00042 (by hand)" in text and "sequence gaps: none" in text
    document = json.loads(json.dumps(told.as_dict()))
    assert document["totals"]["shots_completed"] == 1 and document["events"] == 12


def test_a_publisher_seen_again_after_a_loss_leaves_a_gap(store: ArchiveStore) -> None:
    night = Night()
    for minute in range(5):
        night.add(minute, "ocd.test.tick", MAIN)
    store.write(night.rows[:3])  # the archiver stored 3, then was killed; 2 never arrived
    later = Night()
    later.seq[MAIN] = 5
    later.add(6, "ocd.test.tick", MAIN)
    restarted = [later.rows[0]._replace(first=True)]  # the new archiver's first of MAIN
    store.write(restarted)
    assert store.gaps(NIGHT) == [(MAIN, 6, 2, later.rows[0].at)]
    # written again (the spool drained twice): the same gap, once
    store.write(restarted)
    assert len(store.gaps(NIGHT)) == 1


def test_events_a_topic_between_two_times(store: ArchiveStore) -> None:
    night = Night()
    for minute in range(10):
        night.add(minute, "pas.Guider1.metrology_data", "g@h:1", seeing=1.0 + minute)
        night.add(minute, "pas.Guider10.x", "g@h:2")
    night.add(3, "pas_Guider1.x.other", "g@h:3")  # a LIKE wildcard is not a wildcard
    store.write(night.rows)
    found = list(store.events("pas.Guider1.", night.t0 + 120, night.t0 + 300, chunk=2))
    assert [json.loads(text)["seeing"] for _, text in found] == [3.0, 4.0, 5.0]
    assert len(list(store.events("pas_Guider1", None, None))) == 1


def test_the_commands_as_processes(db: dict[str, object], tmp_path: Path, capsys) -> None:
    """init, import, night, events and db_replay --archive as real processes; their second
    runs and error paths in this process (the same functions, fewer interpreters)."""
    from ocd.app import archive
    from ocd.config import load_config

    config = str(archive_config(tmp_path, db))
    cfg = load_config([config])
    done = run_ocd("archive", "init", "--config", config)
    assert done.returncode == 0 and "migrated to version" in done.stdout, done.stderr
    archive.archive_init(cfg)
    assert "up to date" in capsys.readouterr().out
    done = run_ocd("archive", "import", "--config", config, str(sample_night()))
    assert done.returncode == 0, done.stderr
    assert "1080 event(s) archived, 0 already there" in done.stdout
    archive.archive_import(cfg, [sample_night()])
    assert "0 event(s) archived, 1080 already there" in capsys.readouterr().out
    done = run_ocd("archive", "night", "--config", config, "2017-11-18", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["events"] == 1080
    done = run_ocd("archive", "events", "--config", config, "--topic", "tcs.root.",
                   "--from", "2017-11-19T03:00:00", "--json")
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    with sqlite3.connect(sample_night()) as conn:
        # filed under OCD's time (the mock night), not the real time it was recorded at
        expected = conn.execute("SELECT COUNT(*) FROM events WHERE topic = 'tcs.root.ra_dec' "
                                "AND json_extract(payload, '$.__ocd_utc') >= "
                                "'2017-11-19T03:00:00'").fetchone()[0]
    assert 0 < len(lines) == expected and lines[0]["topic"] == "tcs.root.ra_dec"
    # a night of the archive replayed: every event, in the order it arrived
    url = f"ipc://{tmp_path}/replay.ipc"
    tap = EventTap([url])
    try:
        done = run_ocd("db_replay", "--config", config, "--archive", "2017-11-18", "-s", "0",
                       "--set", f"urls.ocd_db_replay={url}")
        assert done.returncode == 0, done.stderr
        assert "replayed 1080 events (4 topics)" in done.stdout
        tap.wait_for(lambda e: len(tap.events) >= 1080, 30, what="1080 replayed events")
    finally:
        tap.close()
    with sqlite3.connect(sample_night()) as conn:
        recorded = [row[0] for row in conn.execute("SELECT topic FROM events ORDER BY id")]
    assert [e.topic for e in tap.events] == recorded
    with pytest.raises(OcdError, match="no event of the night 2017-11-17"):
        archive.replay_archived_night(cfg, dt.date(2017, 11, 17), speedup=0, sort_by="id",
                                      topics=[], loop=False, subscribers=1, wait=1)
    with pytest.raises(OcdError, match="^no event of the night 2017-11-17"):
        archive.archive_night(cfg, dt.date(2017, 11, 17), False)
    archive.archive_prune(cfg, dt.date(2017, 11, 19))
    said = capsys.readouterr().out
    assert "1 night(s)" in said and "(1080 events)" in said
    assert count(db) == 0


def test_db_replay_takes_a_recording_or_a_night_not_both(tmp_path: Path) -> None:
    import argparse

    from ocd.cli import db_replay
    from ocd.config import load_config

    args = argparse.Namespace(db=tmp_path / "x.db", archive=NIGHT)
    with pytest.raises(UsageError, match="either DB"):
        db_replay.run(args, load_config([]))
    with pytest.raises(UsageError, match="either DB"):
        db_replay.run(argparse.Namespace(db=None, archive=None), load_config([]))


def test_a_night_exported_for_db_replay_is_the_recording(store: ArchiveStore,
                                                         db: dict[str, object],
                                                         tmp_path: Path) -> None:
    from ocd.app.archive import _recorded_rows, export_night
    from ocd.config import load_config

    for batch in _recorded_rows(sample_night()):
        store.write(batch)
    cfg = load_config([archive_config(tmp_path, db)])
    out = tmp_path / "night.db"
    assert export_night(cfg, NIGHT, out) == 1080
    query = "SELECT topic, payload, __data_time, received FROM events ORDER BY id"
    with sqlite3.connect(sample_night()) as a, sqlite3.connect(out) as b:
        assert a.execute(query).fetchall() == b.execute(query).fetchall()


def test_an_unknown_schema_is_refused(db: dict[str, object], tmp_path: Path) -> None:
    config = str(archive_config(tmp_path, db))
    done = run_ocd("archive", "shot", "--config", config, "DEX00009")
    assert done.returncode == 1
    assert "no archive tables" in done.stderr and "ocd archive init" in done.stderr
