"""Which backend hands out observation numbers, and why: the rule of ``[database] backend``.

Pure: reads the configuration (values and where each was set), nothing else. ``auto`` (the
default) follows what the user wrote, so a ``[database]`` section of the original OCD copied
verbatim takes its numbers from HET's MySQL table, as the original did.
"""

from __future__ import annotations

from dataclasses import dataclass

from ocd.config import Config, Origin
from ocd.obsnum.rules import TABLE

#: The options that say where HET's table is: setting any of them (in a user file, the
#: environment or with ``--set``) makes ``backend = auto`` choose MySQL. Not
#: ``mysql_update_obsnum`` (it only says whether to write, and applies to both backends) nor the
#: timeouts (they tune a connection, they do not say where it goes).
MYSQL_CONNECTION_OPTIONS = ("mysql_host", "mysql_port", "mysql_database", "mysql_user",
                            "mysql_password")
BACKEND_NAMES = {"mysql": "MySQL", "sqlite": "SQLite"}


@dataclass(frozen=True)
class BackendChoice:
    """Which backend hands out observation numbers, and why (never holds the password)."""

    backend: str     # "mysql" or "sqlite"
    reason: str      # "because [database] mysql_host is set in ocd.cfg:14 (backend = auto)"
    origin: Origin   # where the deciding value was set

    @property
    def name(self) -> str:
        return BACKEND_NAMES[self.backend]


def _where(origin: Origin) -> str:
    """``in FILE:LINE``, ``in the environment (OCD__...)`` or ``on the command line``."""
    label = str(origin)
    if label == "command line":
        return "on the command line"
    if label.startswith("environment "):
        return f"in the environment ({label.removeprefix('environment ')})"
    return f"in {label}"


def choose_backend(cfg: Config) -> BackendChoice:
    """The backend ``[database] backend`` asks for, and why. Pure: reads ``cfg``, nothing else.

    ``mysql`` and ``sqlite`` force one. ``auto`` (the default) follows what the user wrote: the
    MySQL table as soon as a user file, the environment or ``--set`` sets one of
    :data:`MYSQL_CONNECTION_OPTIONS` (a ``[database]`` section of the original OCD, copied
    verbatim, does), the embedded SQLite file otherwise.
    """
    setting = cfg.get_str("database", "backend")
    where = cfg.origin("database", "backend")
    user_mysql = [o for o in MYSQL_CONNECTION_OPTIONS if cfg.set_by_user("database", o)]
    unused_sqlite = ""
    if cfg.set_by_user("database", "sqlite_path"):
        unused_sqlite = (f"; sqlite_path, set {_where(cfg.origin('database', 'sqlite_path'))},"
                         " is not used")
    if setting == "auto":
        if user_mysql:
            first = cfg.origin("database", user_mysql[0])
            return BackendChoice("mysql", f"because [database] {user_mysql[0]} is set "
                                 f"{_where(first)} (backend = auto){unused_sqlite}", first)
        return BackendChoice("sqlite", f"because none of [database] "
                             f"{', '.join(MYSQL_CONNECTION_OPTIONS)} is set (backend = auto)",
                             where)
    if setting not in BACKEND_NAMES:  # the type check already refuses it; kept for safety
        raise cfg.error("database", "backend", setting, "unknown backend")
    reason = f"because [database] backend = {setting} {_where(where)}"
    if setting == "sqlite" and user_mysql:
        more = f" and {len(user_mysql) - 1} more" if len(user_mysql) > 1 else ""
        reason += (f"; the mysql_* options set ({user_mysql[0]} "
                   f"{_where(cfg.origin('database', user_mysql[0]))}{more}) are not used")
    if setting == "mysql":
        reason += unused_sqlite
    return BackendChoice(setting, reason, where)


def source_line(choice: BackendChoice, target: str) -> str:
    """The start-up line: where observation numbers come from (``target``: the allocator's
    ``describe()``) and why."""
    return f"observation numbers: {TABLE} in {target}, {choice.reason}"


def local_numbers_warning(choice: BackendChoice, mock_clock: bool) -> str | None:
    """The warning of a real-time run on the embedded file: its numbers are not HET's."""
    if choice.backend != "sqlite" or mock_clock:
        return None
    return ("observation numbers come from a local SQLite file on the real clock: they are "
            f"not HET's {TABLE} sequence and can collide with it (HET's table needs the "
            "[database] mysql_* options with backend auto or mysql; a rehearsal sets [dates] "
            "mock_time)")
