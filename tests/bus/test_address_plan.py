"""The single-host address plan (ipc sockets in a directory only OCD's user can write) and the
"address in use" line that names the process holding the address: real sockets, real
squatting processes, real ``/proc``."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
from conftest import run_ocd
from e2e_helpers import night_config, short_tmpdir

from ocd.app.rehearsal.layout import make_layout
from ocd.bus import SERVICES, AddressInUse, bind, service_urls
from ocd.config import load_config, single_host_config
from ocd.errors import OcdError

#: A process that holds an address the way another user's squatter would: it listens, prints
#: its address, and waits until its standard input closes.
SQUATTER = r"""
import socket, sys
kind, where = sys.argv[1], sys.argv[2]
if kind == "tcp":
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    where = str(sock.getsockname()[1])
else:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(where)
sock.listen(8)
print(where, flush=True)
sys.stdin.read()
"""


class Squatter:
    def __init__(self, kind: str, where: str = "-") -> None:
        self.popen = subprocess.Popen([sys.executable, "-c", SQUATTER, kind, where],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.popen.stdout is not None
        self.where = self.popen.stdout.readline().strip()
        assert self.where, "the squatter did not start"

    def close(self) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.close()
        self.popen.wait(10)


@pytest.fixture
def squatter() -> Iterator[type[Squatter]]:
    made: list[Squatter] = []

    def make(kind: str, where: str = "-") -> Squatter:
        made.append(Squatter(kind, where))
        return made[-1]

    yield make  # type: ignore[misc]
    for one in made:
        one.close()


def test_the_plan_puts_every_ocd_address_in_the_runtime_directory(tmp_path: Path):
    cfg = load_config([single_host_config()], environ={"XDG_RUNTIME_DIR": str(tmp_path)})
    for service in SERVICES:
        urls = service_urls(cfg, service)
        assert urls and all(u.startswith(f"ipc://{tmp_path}/ocd/") for u in urls), urls
    # OCD_RUNTIME_DIR chooses another directory; without either, ocd-UID in the temp dir
    cfg = load_config([single_host_config()], environ={"OCD_RUNTIME_DIR": str(tmp_path / "x")})
    assert service_urls(cfg, "ocd_main_loop") == [f"ipc://{tmp_path}/x/main.ipc"]
    cfg = load_config([single_host_config()], environ={})
    assert service_urls(cfg, "ocd_main_loop")[0].endswith(f"/ocd-{os.getuid()}/main.ipc")


def test_the_shipped_sample_is_the_plan():
    conf = Path(__file__).resolve().parents[2] / "conf" / "single-host.cfg"
    assert conf.read_text() == single_host_config().read_text()


def test_a_bind_in_the_plan_makes_its_directory_private(tmp_path: Path):
    cfg = load_config([single_host_config()], environ={"XDG_RUNTIME_DIR": str(tmp_path)})
    url = service_urls(cfg, "ocd_main_loop")[0]
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    try:
        assert bind(sock, url) == url
        info = (tmp_path / "ocd").stat()
        assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.geteuid()
    finally:
        sock.close(linger=0)
        ctx.term()


def test_a_socket_directory_others_may_write_is_refused_or_warned(
        tmp_path: Path, caplog: pytest.LogCaptureFixture):
    ctx = zmq.Context()
    open_dir, shared = tmp_path / "open", tmp_path / "shared"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: others may add files, not replace ours
    sock = ctx.socket(zmq.PUB)
    try:
        with pytest.raises(OcdError, match=r"anyone may write its directory .*open \(mode "
                                           r"0777\).*chmod o-w"):
            bind(sock, f"ipc://{open_dir}/main.ipc")
        with caplog.at_level(logging.WARNING, logger="ocd.bus"):
            bind(sock, f"ipc://{shared}/main.ipc")
        assert "where other users may create files (mode 1777)" in caplog.text
    finally:
        sock.close(linger=0)
        ctx.term()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_a_socket_directory_of_another_user_is_refused(tmp_path: Path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 65534, 65534)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    try:
        with pytest.raises(OcdError, match=r"belongs to another user \(uid 65534\)"):
            bind(sock, f"ipc://{theirs}/main.ipc")
    finally:
        sock.close(linger=0)
        ctx.term()


def test_address_in_use_names_the_process_holding_a_tcp_port(squatter):
    held = squatter("tcp")
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    try:
        with pytest.raises(AddressInUse) as refused:
            bind(sock, f"tcp://127.0.0.1:{held.where}")
    finally:
        sock.close(linger=0)
        ctx.term()
    message = str(refused.value)
    assert "address already in use by another process (held by pid " \
           f"{held.popen.pid}: " in message and "-c" in message, message


def test_address_in_use_names_the_process_holding_an_ipc_socket(tmp_path: Path, squatter):
    held = squatter("ipc", str(tmp_path / "main.ipc"))
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    try:
        with pytest.raises(AddressInUse, match=rf"\(held by pid {held.popen.pid}: "):
            bind(sock, f"ipc://{held.where}")
    finally:
        sock.close(linger=0)
        ctx.term()


@pytest.mark.slow
def test_ocd_run_and_the_board_name_who_squats_their_port(squatter):
    held = squatter("tcp")
    root = short_tmpdir()
    try:
        config = str(night_config(root))
        run = run_ocd("run", "--yes", "--config", config,
                      "--set", f"urls.ocd_main_loop=tcp://127.0.0.1:{held.where}", cwd=root)
        board = run_ocd("board", "--config", config,
                        "--set", f"board.url=http://127.0.0.1:{held.where}", cwd=root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    line = f"(held by pid {held.popen.pid}: "
    for result in (run, board):
        assert result.returncode != 0 and line in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert f"cannot serve on http://127.0.0.1:{held.where}" in board.stderr


def test_a_rehearsal_keeps_its_sockets_in_the_plan_directory(monkeypatch: pytest.MonkeyPatch):
    root = short_tmpdir()  # ipc paths must stay short
    monkeypatch.setenv("OCD_RUNTIME_DIR", str(root / "run"))
    try:
        layout = make_layout()
        assert layout.ipc.parent == root / "run"
        for directory in (layout.ipc, layout.ipc.parent):
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert layout.url("main") == f"ipc://{layout.ipc}/main.ipc"
    finally:
        shutil.rmtree(root, ignore_errors=True)

