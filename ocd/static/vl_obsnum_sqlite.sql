-- The observation-number table of the embedded SQLite backend: the same columns, types and
-- index as HET's MySQL table (docker/mysql/init.sql), in SQLite's terms. The CHECKs keep the
-- MySQL limits (inst is a varchar(5), obsnum a mediumint), so a rehearsal cannot store what
-- the real table would refuse. OCD runs it whenever it opens the file.
CREATE TABLE IF NOT EXISTS vl_obsnum (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    obsdate TEXT NOT NULL,
    inst TEXT NOT NULL CHECK (length(inst) BETWEEN 1 AND 5),
    obsnum INTEGER NOT NULL CHECK (obsnum BETWEEN -8388608 AND 8388607)
);
CREATE INDEX IF NOT EXISTS obsdate ON vl_obsnum (obsdate);
