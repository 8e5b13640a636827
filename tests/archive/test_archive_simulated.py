"""A simulated night archived and told back: ``ocd archive night`` says what ``ocd simulate``
said of the same night (the same shots, outcomes, observation numbers and idle reasons),
since both are the monitors' timeline over the same events."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from archive_helpers import scratch_database

from ocd.app.simulation.simulate import Request, simulate_nights
from ocd.archive.report import report_topics, tell_night
from ocd.archive.rows import event_row
from ocd.archive.store import ArchiveStore, MysqlSettings
from ocd.config import load_config, rehearsal_config, sample_shot_file
from ocd.dev.night_events import capture
from ocd.shots.store import load_shots

pytestmark = pytest.mark.mysql

UTC = dt.timezone.utc
#: A coarse TCS (as the randomized test nights): a night simulates in tens of milliseconds.
COARSE = [("sim_tcs", "heartbeat_interval", "20"), ("sim_tcs", "metrology_interval", "60"),
          ("tcs", "heartbeat_timeout", "60"), ("simulate", "tick_interval", "10"),
          ("run_shot", "exposure_time", "120")]


@pytest.fixture
def store(mysql_server: dict[str, object]) -> Iterator[ArchiveStore]:
    with scratch_database(mysql_server) as db:
        archive = ArchiveStore(MysqlSettings(str(db["host"]), int(str(db["port"])),
                                             str(db["database"]), str(db["user"]),
                                             str(db["password"]), section="archive"))
        archive.migrate()
        yield archive
        archive.close()


def test_an_archived_simulated_night_tells_what_ocd_simulate_told(store: ArchiveStore) -> None:
    cfg = load_config([str(rehearsal_config())], COARSE)
    start = dt.datetime(2017, 11, 19, 2, 0, tzinfo=UTC)
    request = Request([(start, start + dt.timedelta(hours=3))], "random", 5, faults=True)
    with capture() as events:
        result = simulate_nights(cfg, request, load_shots(sample_shot_file()))[0]
    rows = []
    for topic, payload, now in events:
        text = json.dumps(payload)
        rows.append(event_row(topic, text, json.loads(text), now))
    assert store.write(rows) == len(rows)
    night = dt.date(2017, 11, 18)
    span = store.night(night)
    assert span is not None and span[2] == len(rows)
    told = tell_night(night, span, store.night_events(night, report_topics(), span[0], span[1]),
                      store.gaps(night)).report
    simulated = result.report
    assert simulated.shots, "the night should have shots"

    def shots(report):
        return [(s.shotid, s.track, s.observation, s.outcome, s.by_hand, s.reason)
                for s in report.shots]

    # OCD's time travels to the millisecond (__ocd_utc)
    assert shots(told) == shots(simulated)
    assert all(abs(a.start - b.start) < 0.002
               for a, b in zip(told.shots, simulated.shots, strict=True))
    assert [e for _, e in told.errors] == [e for _, e in simulated.errors]
    # the same idle stretches between the first and the last event (the simulation's report
    # also covers its window's edges, where no event was published)
    inner = [p for p in simulated.idle if p.start >= span[0] and p.end <= span[1]]
    assert inner
    for period in inner:
        assert any(p.reason == period.reason and abs(p.start - period.start) < 0.002
                   and abs(p.end - period.end) < 0.002 for p in told.idle), period
    for shotid in {s.shotid for s in simulated.shots}:
        visits = store.visits(shotid)
        assert sorted((v["observation"], v["outcome"]) for v in visits) == sorted(
            (s.observation, s.outcome) for s in simulated.shots if s.shotid == shotid)
