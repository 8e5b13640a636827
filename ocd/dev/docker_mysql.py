"""A throw-away MySQL server in a container, holding ``vl_obsnum``, for tests and rehearsals.

The docker command lines are built by pure functions (tested without an engine); running them
is a thin layer over :mod:`subprocess`. The password never appears on a command line: the
container gets ``-e MYSQL_PASSWORD`` without a value, which the docker CLI fills from its own
environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocd.config import Config, static_file
from ocd.errors import ConfigError, OcdError
from ocd.obsnum import MYSQL_SCHEMA

#: Where the official MySQL and MariaDB images look for SQL to run at their first start.
INIT_DIR = "/docker-entrypoint-initdb.d"
MYSQL_PORT = 3306
#: Seconds a docker command (other than ``run``, which may pull the image) may take.
DOCKER_TIMEOUT = 30


@dataclass(frozen=True)
class DockerSettings:
    """``[docker_mysql]`` and the ``[database]`` account the container is created with."""

    executable: str
    image: str
    container: str
    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    wait_timeout: float = 120.0
    init_sql: Path = field(default_factory=lambda: static_file(MYSQL_SCHEMA))

    @classmethod
    def from_config(cls, cfg: Config) -> DockerSettings:
        def get(section: str, option: str) -> Any:
            return cfg.get(section, option)

        settings = cls(get("docker_mysql", "executable"), get("docker_mysql", "image"),
                       get("docker_mysql", "container"), get("docker_mysql", "host"),
                       get("docker_mysql", "port"), get("database", "mysql_database"),
                       get("database", "mysql_user"), get("database", "mysql_password"),
                       get("docker_mysql", "wait_timeout"))
        if settings.user == "root":
            raise ConfigError("[database] mysql_user = 'root': the MySQL image creates an "
                              "ordinary user; choose another name for ocd docker_mysql")
        if not settings.password:
            raise ConfigError("[database] mysql_password is empty: the MySQL image needs a "
                              "password for [database] mysql_user")
        return settings


# -- command lines (pure) ----------------------------------------------------------------

def engine_command(s: DockerSettings) -> list[str]:
    """Asks the engine (not just the CLI) for its version: fails when no engine answers."""
    return [s.executable, "version", "--format", "{{.Server.Version}}"]


def inspect_command(s: DockerSettings) -> list[str]:
    return [s.executable, "inspect", "--type", "container", "--format", "{{json .}}",
            s.container]


def run_command(s: DockerSettings) -> list[str]:
    """Start a detached server with the database, user and table of ``[database]``."""
    return [
        s.executable, "run", "--detach", "--name", s.container,
        "--env", f"MYSQL_DATABASE={s.database}",
        "--env", f"MYSQL_USER={s.user}",
        "--env", "MYSQL_PASSWORD",  # value from the environment: never on a command line
        "--env", "MYSQL_RANDOM_ROOT_PASSWORD=yes",
        "--publish", f"{s.host}:{s.port}:{MYSQL_PORT}",
        "--volume", f"{s.init_sql}:{INIT_DIR}/{MYSQL_SCHEMA}:ro",
        s.image,
    ]


def start_command(s: DockerSettings) -> list[str]:
    return [s.executable, "start", s.container]


def remove_command(s: DockerSettings) -> list[str]:
    """Stop and remove the container and its anonymous data volume."""
    return [s.executable, "rm", "--force", "--volumes", s.container]


def run_environment(s: DockerSettings, base: dict[str, str]) -> dict[str, str]:
    """The environment of the ``run`` command: ``base`` plus the password for the container."""
    return {**base, "MYSQL_PASSWORD": s.password}


# -- what docker says (pure) -------------------------------------------------------------

@dataclass(frozen=True)
class ContainerInfo:
    """The container as ``docker inspect`` describes it."""

    name: str
    running: bool
    status: str
    host: str | None  # published address and port on this machine
    port: int | None
    network_address: str | None  # the container's own address on the docker network


def parse_inspect(text: str) -> ContainerInfo:
    """Read ``docker inspect --format '{{json .}}'`` output."""
    data = json.loads(text)
    state = data.get("State") or {}
    network = data.get("NetworkSettings") or {}
    bindings = (network.get("Ports") or {}).get(f"{MYSQL_PORT}/tcp") or []
    host = port = None
    if bindings:
        host = bindings[0].get("HostIp") or "127.0.0.1"
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        port = int(bindings[0]["HostPort"])
    address = network.get("IPAddress") or next(
        (n.get("IPAddress") for n in (network.get("Networks") or {}).values()
         if n.get("IPAddress")), None)
    return ContainerInfo(data.get("Name", "").lstrip("/"), bool(state.get("Running")),
                         state.get("Status", "unknown"), host, port, address)


def database_snippet(info: ContainerInfo, s: DockerSettings) -> str:
    """The ``[database]`` lines that point OCD at the container (no password)."""
    lines = [
        f"# MySQL in container {info.name} ({info.status})",
        "[database]",
        "backend = mysql",
        f"mysql_host = {info.host or info.network_address}",
        f"mysql_port = {info.port or MYSQL_PORT}",
        f"mysql_database = {s.database}",
        f"mysql_user = {s.user}",
        "# mysql_password: the one of your configuration ([database] mysql_password)",
    ]
    if info.network_address:
        lines.append(f"# on the docker network the server is {info.network_address}:{MYSQL_PORT}")
    return "\n".join(lines)


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


# -- running docker (thin shell) ---------------------------------------------------------

class Docker:
    """Runs the docker CLI and turns its failures into one-line errors."""

    def __init__(self, settings: DockerSettings, timeout: float = DOCKER_TIMEOUT) -> None:
        self.s = settings
        self.timeout = timeout

    def _run(self, command: list[str], env: dict[str, str] | None = None,
             timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        timeout = timeout or self.timeout
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  env=env)
        except FileNotFoundError:
            raise OcdError(f"{self.s.executable}: command not found: install Docker (or set "
                           "[docker_mysql] executable) to use ocd docker_mysql") from None
        except subprocess.TimeoutExpired:
            raise OcdError(f"'{' '.join(command[:2])}' did not finish in {timeout:g} s: is the "
                           "Docker engine stuck?") from None

    def check_engine(self) -> str:
        """The engine's version, or an error when the CLI is missing or no engine answers."""
        if shutil.which(self.s.executable) is None:
            raise OcdError(f"{self.s.executable}: command not found: install Docker (or set "
                           "[docker_mysql] executable) to use ocd docker_mysql")
        result = self._run(engine_command(self.s))
        if result.returncode != 0:
            reason = first_line(result.stderr) or first_line(result.stdout) or \
                f"exit status {result.returncode}"
            raise OcdError(f"no Docker engine answers ({self.s.executable} version): {reason}")
        return result.stdout.strip()

    def inspect(self) -> ContainerInfo | None:
        """The container, or None if there is none of that name."""
        result = self._run(inspect_command(self.s))
        if result.returncode != 0:
            if "no such" in (result.stderr + result.stdout).lower():
                return None
            raise OcdError(f"{self.s.executable} inspect {self.s.container}: "
                           f"{first_line(result.stderr) or result.returncode}")
        return parse_inspect(result.stdout)

    def checked(self, command: list[str], env: dict[str, str] | None = None,
                timeout: float | None = None) -> str:
        result = self._run(command, env, timeout)
        if result.returncode != 0:
            raise OcdError(f"{' '.join(command[:2])} {self.s.container} failed: "
                           f"{first_line(result.stderr) or result.returncode}")
        return result.stdout


def wait_for_mysql(host: str, port: int, user: str, password: str, database: str,
                   timeout: float, interval: float = 1.0) -> None:
    """Return once the server accepts the user on the database; fail after ``timeout`` s.

    A fresh container first initialises its data directory (and restarts once), so the
    connection is refused for a while: try again until it works or the time is up.
    """
    import pymysql

    deadline = time.monotonic() + timeout
    while True:
        try:
            pymysql.connect(host=host, port=port, user=user, password=password,
                            database=database, connect_timeout=max(1.0, interval)).close()
            return
        except pymysql.err.MySQLError as exc:
            if time.monotonic() >= deadline:
                reason = exc.args[1] if len(exc.args) > 1 else exc
                raise OcdError(f"the MySQL server at {host}:{port} did not accept user "
                               f"{user!r} within {timeout:g} s: {reason}") from None
        time.sleep(interval)


def docker_mysql(cfg: Config, action: str) -> int:
    """``ocd docker_mysql up|info|down``."""
    settings = DockerSettings.from_config(cfg)
    docker = Docker(settings)
    docker.check_engine()
    info = docker.inspect()
    if action == "down":
        if info is None:
            print(f"no container {settings.container}: nothing to remove")
            return 0
        docker.checked(remove_command(settings))
        print(f"removed container {settings.container} and its data")
        return 0
    if action == "info":
        if info is None or not info.running:
            state = "does not exist" if info is None else f"is {info.status}"
            raise OcdError(f"container {settings.container} {state}: start it with "
                           "'ocd docker_mysql up'")
        print(database_snippet(info, settings))
        return 0
    if info is None:
        # pulling the image may take a while: no short timeout for the first run
        docker.checked(run_command(settings), env=run_environment(settings, dict(os.environ)),
                       timeout=max(settings.wait_timeout, 600))
    elif not info.running:
        docker.checked(start_command(settings))
    info = docker.inspect()
    if info is None or not info.running:
        raise OcdError(f"container {settings.container} stopped right after starting: see "
                       f"'{settings.executable} logs {settings.container}'")
    wait_for_mysql(info.host or settings.host, info.port or settings.port, settings.user,
                   settings.password, settings.database, settings.wait_timeout)
    print(database_snippet(info, settings))
    return 0
