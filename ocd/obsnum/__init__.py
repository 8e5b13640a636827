"""Observation numbers: the rules (:mod:`~ocd.obsnum.rules`), HET's MySQL ``vl_obsnum``
table (:mod:`~ocd.obsnum.mysql`), an embedded SQLite file with the same schema
(:mod:`~ocd.obsnum.sqlite`), which backend and why (:mod:`~ocd.obsnum.choice`), and the
factory that picks one from ``[database]`` (:mod:`~ocd.obsnum.factory`).
"""

from ocd.obsnum.choice import (
    MYSQL_CONNECTION_OPTIONS,
    BackendChoice,
    choose_backend,
    local_numbers_warning,
    source_line,
)
from ocd.obsnum.factory import allocator_from_config, check_instrument, default_sqlite_path
from ocd.obsnum.rules import MAX_COUNT, MYSQL_SCHEMA, TABLE, ObsnumAllocator, format_rows
from ocd.obsnum.sqlite import SqliteAllocator

__all__ = ["MAX_COUNT", "MYSQL_CONNECTION_OPTIONS", "MYSQL_SCHEMA", "TABLE", "BackendChoice",
           "ObsnumAllocator", "SqliteAllocator", "allocator_from_config", "check_instrument",
           "choose_backend", "default_sqlite_path", "format_rows", "local_numbers_warning",
           "source_line"]
