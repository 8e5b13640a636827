"""The archive's tables, as numbered migrations (doc/archive.md shows the result).

Each step runs once: ``archive_schema`` holds one row per step applied, and ``ocd archive
init`` applies the missing ones in order, so it may be run again at any time (after an upgrade
of OCD, say). A step is plain SQL, no parameters; a step never changes once released (a change
is a new step).

Design for the scale (hundreds of nights of about 100 000 events): ``archive_events`` is
clustered by night (its primary key is led by the night, then the order of arrival), so a
night's rows sit together and a night is deleted as one range; ``uid`` (a digest of
``(origin, sequence, __data_time)``, or of the topic and text for events without an origin)
makes a batch written twice store each event once. ``archive_visits`` (one row per shot
visit, kept on ingest) makes a shot's history an index lookup; ``archive_nights`` holds each
night's span and count; ``archive_gaps`` the events that never reached the archive.
"""

from __future__ import annotations

from typing import NamedTuple


class Migration(NamedTuple):
    version: int
    description: str
    statements: tuple[str, ...]


#: The table of applied steps (made before any step).
SCHEMA_TABLE = """\
CREATE TABLE IF NOT EXISTS archive_schema (
    version     INT NOT NULL PRIMARY KEY,
    description VARCHAR(200) NOT NULL,
    applied     DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "events, visits, nights, gaps", (
        """\
CREATE TABLE archive_events (
    night     DATE NOT NULL,                 -- the night (HET's local date of its evening)
    id        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,  -- order of arrival in the archive
    uid       BINARY(16) NOT NULL,           -- the event's identity: stored once
    topic     VARCHAR(255) COLLATE utf8mb4_bin NOT NULL,
    origin    VARCHAR(255) COLLATE utf8mb4_bin NULL,  -- __origin (NULL: a TCS event)
    seq       BIGINT NULL,                   -- __seq
    at        DOUBLE NOT NULL,               -- OCD's time (__ocd_utc), else __data_time,
                                             -- else received: Unix seconds
    data_time DOUBLE NULL,                   -- __data_time
    wire_time DOUBLE NULL,                   -- __wire_time
    received  DOUBLE NOT NULL,               -- when the archiver received it (real clock)
    payload   MEDIUMTEXT NOT NULL,           -- the JSON object exactly as received
    PRIMARY KEY (night, id),
    KEY archive_events_id (id),
    UNIQUE KEY archive_events_uid (night, uid),
    KEY archive_events_topic (topic, at),
    KEY archive_events_origin (origin, night, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 ROW_FORMAT=DYNAMIC""",
        """\
CREATE TABLE archive_visits (
    shotid      VARCHAR(64) COLLATE utf8mb4_bin NOT NULL,
    night       DATE NOT NULL,
    origin      VARCHAR(255) COLLATE utf8mb4_bin NOT NULL,  -- who ran it
    observation INT NOT NULL,                -- 0: none given
    track       VARCHAR(8) NULL,
    start_at    DOUBLE NULL,
    end_at      DOUBLE NULL,
    outcome     VARCHAR(16) NOT NULL DEFAULT 'running',
    error       VARCHAR(300) NULL,
    PRIMARY KEY (shotid, night, origin, observation)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
        """\
CREATE TABLE archive_nights (
    night    DATE NOT NULL PRIMARY KEY,
    first_at DOUBLE NOT NULL,
    last_at  DOUBLE NOT NULL,
    events   BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
        """\
CREATE TABLE archive_gaps (
    night      DATE NOT NULL,
    origin     VARCHAR(255) COLLATE utf8mb4_bin NOT NULL,
    before_seq BIGINT NOT NULL,              -- the first number received after the gap
    missing    BIGINT NOT NULL,              -- events lost just before it
    at         DOUBLE NOT NULL,              -- the time of the event after the gap
    PRIMARY KEY (night, origin, before_seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    )),
)

#: The newest schema this OCD knows.
LATEST = MIGRATIONS[-1].version
