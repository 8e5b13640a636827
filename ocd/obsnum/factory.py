"""The factory that picks the observation-number backend from ``[database]``: HET's MySQL
``vl_obsnum`` table (:mod:`~ocd.obsnum.mysql`) or an embedded SQLite file with the same schema
(:mod:`~ocd.obsnum.sqlite`).

The backends are imported when chosen, so a command on SQLite never imports pymysql.
"""

from __future__ import annotations

from pathlib import Path

from ocd.clock import Clock
from ocd.config import Config
from ocd.obsnum.choice import (
    choose_backend,
)
from ocd.obsnum.rules import MAX_INSTRUMENT_LENGTH, TABLE, ObsnumAllocator


def check_instrument(cfg: Config) -> str:
    instrument = cfg.get_str("database", "instrument")
    if not 1 <= len(instrument) <= MAX_INSTRUMENT_LENGTH:
        raise cfg.error("database", "instrument", instrument,
                         f"must be 1 to {MAX_INSTRUMENT_LENGTH} characters "
                         f"(the {TABLE}.inst column is a varchar({MAX_INSTRUMENT_LENGTH}))")
    return instrument


def default_sqlite_path() -> Path:
    """``obsnum.sqlite`` in the user's data directory (e.g. ``~/.local/share/ocd``)."""
    import platformdirs

    return platformdirs.user_data_path("ocd", appauthor=False) / "obsnum.sqlite"


def allocator_from_config(cfg: Config, clock: Clock, update: bool | None = None
                          ) -> ObsnumAllocator:
    """The allocator :func:`choose_backend` picks; ``update`` overrides
    ``mysql_update_obsnum`` (``False`` for a dry run). Nothing is opened until first use."""
    instrument = check_instrument(cfg)
    if update is None:
        update = cfg.get_bool("database", "mysql_update_obsnum")
    lock_timeout = cfg.get_float("database", "lock_timeout")
    if choose_backend(cfg).backend == "sqlite":
        from ocd.obsnum.sqlite import SqliteAllocator

        path = cfg.get_path("database", "sqlite_path") or default_sqlite_path()
        return SqliteAllocator(path, clock, instrument, update, lock_timeout=lock_timeout)
    from ocd.obsnum.mysql import MysqlAllocator, MysqlSettings

    settings = MysqlSettings.from_config(cfg)
    return MysqlAllocator(settings, clock, instrument, update)
