"""The board's settings from ``[board]`` (and what it shows from ``[run]``, ``[run_shot]``,
``[topics]``, ``[dates]``), checked once at start so that a bad value stops ``ocd board`` with
one line naming the option."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ocd.app.board.auth import BadUsers, PasswordHash, allowed_origins, parse_users
from ocd.config import Config
from ocd.monitor.alarm_table import AlarmSettings
from ocd.monitor.night import NightSettings
from ocd.shell.settings import tcs_topics
from ocd.shots.runner import plan_from_config
from ocd.sky import het

_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class BoardOptions:
    """Everything ``ocd board`` needs from the configuration."""

    host: str
    port: int
    users: dict[str, PasswordHash]
    session_hours: float
    origins: tuple[str, ...]
    hosts: tuple[str, ...]
    max_panel_rate: float
    command_timeout: float
    night: NightSettings

    def url(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port if port is None else port}"

    def allowed_origins(self, port: int, names: frozenset[str]) -> frozenset[str]:
        """The origins of the board's own ``names`` at ``port``, and ``[board] origins``."""
        return allowed_origins(self.url(port), names, self.origins)


def parse_board_url(text: str) -> tuple[str, int]:
    """Host and port of ``http://HOST:PORT`` (ValueError says what is wrong)."""
    parts = urlsplit(text.strip())
    if parts.scheme != "http":
        raise ValueError("expected http://HOST:PORT (for https, put a reverse proxy in front)")
    if not parts.hostname:
        raise ValueError("no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError("only http://HOST:PORT, without a path")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port must be a number from 0 to 65535") from None
    host = parts.hostname
    check_host_name(host)
    return host, 80 if port is None else port


def check_host_name(host: str) -> None:
    """ValueError unless ``host`` is an IP address or a DNS name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not host or not all(_LABEL.match(label) for label in host.split(".")):
            raise ValueError(f"{host!r} is not a host name") from None


def board_options(cfg: Config) -> BoardOptions:
    """``[board]`` and the rest, checked; ConfigError naming the option otherwise."""
    url = cfg.get_str("board", "url")
    try:
        host, port = parse_board_url(url)
    except ValueError as exc:
        raise cfg.error("board", "url", url, str(exc)) from None
    try:
        users = parse_users(cfg.get_list("board", "users"))
    except BadUsers as exc:
        raise cfg.error("board", "users", "...", str(exc)) from None
    origins = tuple(cfg.get_list("board", "origins"))
    try:
        allowed_origins(f"http://{host}:{port}", (), origins)
    except ValueError as exc:
        raise cfg.error("board", "origins", ", ".join(origins), str(exc)) from None
    hosts = tuple(name.strip("[]").lower() for name in cfg.get_list("board", "hosts"))
    for name in hosts:
        try:
            check_host_name(name)
        except ValueError as exc:
            raise cfg.error("board", "hosts", name, f"{exc} (a name, without a port)") from None
    positive = {option: cfg.get_float("board", option)  # ranges checked by the configuration
                for option in ("session_hours", "max_panel_rate", "command_timeout")}
    # the clock (mock, speed) is the board's own clock's: Board sets it
    night = NightSettings(topics=tcs_topics(cfg), max_seeing=cfg.get_float("run", "max_seeing"),
                          min_transparency=cfg.get_float("run", "min_transparency"),
                          n_exposures=plan_from_config(cfg).n_exposures,
                          # tonight's alarms: from local noon at HET (mean solar time)
                          alarms=AlarmSettings(noon_utc=het.LOCAL_NOON_UTC / 3600.0))
    return BoardOptions(host, port, users, positive["session_hours"], origins, hosts,
                        positive["max_panel_rate"], positive["command_timeout"], night)
