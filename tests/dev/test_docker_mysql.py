"""``ocd docker_mysql`` and the docker assets, without a Docker engine: the command lines it
would run, its errors when docker is missing or no engine answers, the compose file and the
Dockerfile."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, ocd_env
from obsnum_helpers import INIT_SQL, SECRET

from ocd.config import load_config
from ocd.dev.docker_mysql import (
    INIT_DIR,
    Docker,
    DockerSettings,
    database_snippet,
    engine_command,
    inspect_command,
    parse_inspect,
    remove_command,
    run_command,
    run_environment,
    start_command,
)
from ocd.errors import ConfigError, OcdError

DOCKER = ROOT / "docker"


def settings(**options: str) -> DockerSettings:
    overrides = [("database", "mysql_password", SECRET)]
    overrides += [tuple(k.split(".", 1)) + (v,) for k, v in options.items()]
    return DockerSettings.from_config(load_config(overrides=overrides, environ={}))


# -- command lines -----------------------------------------------------------------------------

def test_run_command_creates_the_database_of_the_configuration():
    s = settings(**{"database.mysql_database": "obs_db", "database.mysql_user": "obs",
                    "docker_mysql.port": "23306", "docker_mysql.container": "my-db",
                    "docker_mysql.image": "mysql:8.4"})
    command = run_command(s)
    assert command[:4] == ["docker", "run", "--detach", "--name"] and command[4] == "my-db"
    env = [command[i + 1] for i, arg in enumerate(command) if arg == "--env"]
    assert env == ["MYSQL_DATABASE=obs_db", "MYSQL_USER=obs", "MYSQL_PASSWORD",
                   "MYSQL_RANDOM_ROOT_PASSWORD=yes"]
    assert command[command.index("--publish") + 1] == "127.0.0.1:23306:3306"
    assert command[-1] == "mysql:8.4"
    source, target, mode = command[command.index("--volume") + 1].rsplit(":", 2)
    assert (target, mode) == (f"{INIT_DIR}/vl_obsnum.sql", "ro")
    assert Path(source).read_bytes() == INIT_SQL.read_bytes(), "the container runs init.sql"


def test_password_never_on_a_command_line_only_in_the_environment():
    s = settings()
    assert SECRET not in repr(s)
    for command in (run_command(s), engine_command(s), inspect_command(s), start_command(s),
                    remove_command(s)):
        assert not any(SECRET in arg for arg in command)
    env = run_environment(s, {"PATH": "/bin"})
    assert env == {"PATH": "/bin", "MYSQL_PASSWORD": SECRET}


def test_other_command_lines():
    s = settings(**{"docker_mysql.executable": "podman", "docker_mysql.container": "c1"})
    assert engine_command(s) == ["podman", "version", "--format", "{{.Server.Version}}"]
    assert inspect_command(s)[:2] == ["podman", "inspect"] and inspect_command(s)[-1] == "c1"
    assert start_command(s) == ["podman", "start", "c1"]
    assert remove_command(s) == ["podman", "rm", "--force", "--volumes", "c1"]


@pytest.mark.parametrize("option, value, words", [
    ("database.mysql_user", "root", "mysql_user = 'root'"),
    ("database.mysql_password", "", "mysql_password is empty"),
])
def test_accounts_the_image_cannot_create(option, value, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        settings(**{option: value})


# -- what docker says --------------------------------------------------------------------------

INSPECT = {
    "Name": "/ocd-mysql",
    "State": {"Status": "running", "Running": True},
    "NetworkSettings": {
        "Ports": {"3306/tcp": [{"HostIp": "127.0.0.1", "HostPort": "13306"}],
                  "33060/tcp": None},
        "IPAddress": "",
        "Networks": {"bridge": {"IPAddress": "172.17.0.2"}},
    },
}


def test_parse_inspect_and_database_snippet():
    info = parse_inspect(json.dumps(INSPECT))
    assert (info.name, info.running, info.host, info.port, info.network_address) == (
        "ocd-mysql", True, "127.0.0.1", 13306, "172.17.0.2")
    snippet = database_snippet(info, settings())
    assert SECRET not in snippet
    # the snippet's lines are valid [database] options pointing at the container
    cfg = load_config(overrides=[("database", *line.split(" = ", 1))
                                 for line in snippet.splitlines() if " = " in line
                                 and not line.startswith("#")], environ={})
    assert cfg.get("database", "backend") == "mysql"
    assert (cfg.get("database", "mysql_host"), cfg.get("database", "mysql_port")) == (
        "127.0.0.1", 13306)


def test_parse_inspect_of_a_stopped_container_published_on_all_interfaces():
    data = {**INSPECT, "State": {"Status": "exited", "Running": False}}
    data["NetworkSettings"] = {"Ports": {"3306/tcp": [{"HostIp": "0.0.0.0",
                                                       "HostPort": "3307"}]}}
    info = parse_inspect(json.dumps(data))
    assert (info.running, info.status, info.host, info.port, info.network_address) == (
        False, "exited", "127.0.0.1", 3307, None)


# -- errors without an engine ------------------------------------------------------------------

def fake_docker(directory: Path, script: str) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / "docker"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return directory


@pytest.mark.parametrize("action", ["up", "info", "down"])
def test_missing_docker_is_one_line(ocd, tmp_path, action):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = ocd_env(PATH=str(empty), OCD__DATABASE__MYSQL_PASSWORD=SECRET)
    result = ocd("docker_mysql", action, env=env)
    assert result.returncode == 1
    assert result.stderr == ("ocd: error: docker: command not found: install Docker (or set "
                             "[docker_mysql] executable) to use ocd docker_mysql\n")


@pytest.mark.parametrize("action", ["up", "info", "down"])
def test_engine_not_answering_is_one_line(ocd, tmp_path, action):
    calls = tmp_path / "calls"
    bin_dir = fake_docker(tmp_path / "bin", f"""echo "$@" >> {calls}
echo "Client:" ; echo " Version: 28.2.2"
echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker \
daemon running?" >&2
echo "second line that must not show" >&2
exit 1
""")
    env = ocd_env(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                  OCD__DATABASE__MYSQL_PASSWORD=SECRET)
    result = ocd("docker_mysql", action, env=env)
    assert result.returncode == 1
    assert result.stderr == (
        "ocd: error: no Docker engine answers (docker version): Cannot connect to the Docker "
        "daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n")
    assert calls.read_text() == "version --format {{.Server.Version}}\n", "nothing else ran"


def test_hanging_docker_is_one_line(tmp_path, monkeypatch):
    bin_dir = fake_docker(tmp_path / "bin", "exec sleep 30\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(OcdError, match=r"^'docker version' did not finish in 0.3 s: is the "
                                       r"Docker engine stuck\?$"):
        Docker(settings(), timeout=0.3).check_engine()


# -- the assets --------------------------------------------------------------------------------

def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_services_and_mounted_init_sql():
    services = compose()["services"]
    assert set(services) == {"mysql", "ocd-run", "sim-tcs"}
    mounts = [v.split(":") for v in services["mysql"]["volumes"]]
    init = [m for m in mounts if m[1].startswith(INIT_DIR)]
    assert len(init) == 1
    assert (DOCKER / init[0][0]).resolve() == INIT_SQL.resolve()
    assert init[0][1] == f"{INIT_DIR}/vl_obsnum.sql"
    assert services["ocd-run"]["command"][:3] == ["ocd", "run", "--yes"]
    assert services["sim-tcs"]["command"][:2] == ["ocd", "sim_tcs"]
    assert services["ocd-run"]["depends_on"]["mysql"]["condition"] == "service_healthy"


def test_compose_ocd_configuration_matches_the_mysql_service(tmp_path):
    services = compose()["services"]
    for name in ("ocd-run", "sim-tcs"):
        command = services[name]["command"]
        config_in_container = command[command.index("--config") + 1]
        mounted = {target: source for source, target, *_ in
                   (v.split(":") for v in services[name]["volumes"])}
        assert config_in_container in mounted
        config_file = DOCKER / mounted[config_in_container]
        cfg = load_config([config_file], environ={})
        assert cfg.warnings == [], "every option of docker/ocd.cfg exists"
        db = services["mysql"]["environment"]
        assert cfg.get("database", "backend") == "mysql"
        assert cfg.get("database", "mysql_host") == "mysql"
        assert cfg.get("database", "mysql_database") == db["MYSQL_DATABASE"]
        assert cfg.get("database", "mysql_user") == db["MYSQL_USER"]
        assert "OCD__DATABASE__MYSQL_PASSWORD" in services[name]["environment"]


def test_dockerfile_builds_from_what_compose_gives_it():
    build = compose()["services"]["ocd-run"]["build"]
    context = (DOCKER / build["context"]).resolve()
    dockerfile = context / build["dockerfile"]
    assert dockerfile == (DOCKER / "Dockerfile").resolve()
    text = dockerfile.read_text()
    assert re.search(r"^FROM python:3\.\d+-slim$", text, flags=re.M)
    assert re.search(r"^RUN pip install \.", text, flags=re.M)
    for line in re.findall(r"^COPY (.+)$", text, flags=re.M):
        *sources, _target = line.split()
        for source in sources:
            assert (context / source).exists(), source

