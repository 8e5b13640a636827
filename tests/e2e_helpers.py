"""End-to-end harness: a rehearsal night in a temporary directory, real ``ocd`` processes, and
an event tap (a plain ZeroMQ SUB socket) that waits for events with timeouts."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import zmq
from conftest import ocd_env
from shot_fixtures import make_inputs

from ocd.bus import Event, decode
from ocd.config import sample_shot_file
from ocd.shell.children import OcdChild
from ocd.shots.store import load_shots

MOCK_TIME = "2017-11-19T03:00:00"  # dark at HET; DEX00009 West is the best shot then


def night_config(root: Path, *, database: dict[str, object] | None = None,
                 database_section: str | None = None, speed: float = 120.0,
                 exposure_time: float = 60.0, extra: str = "") -> Path:
    """A configuration with every address an ipc socket under ``root``; ``database_section``
    replaces its whole ``[database]`` section (backend and all)."""
    ipc = f"ipc://{root}"
    db = (f"backend = mysql\nmysql_host = {database['host']}\nmysql_port = {database['port']}\n"
          f"mysql_user = {database['user']}\nmysql_password = {database['password']}\n"
          f"mysql_database = {database['database']}\n") if database else \
        f"backend = sqlite\nsqlite_path = {root}/obsnum.sqlite\n"
    db = f"[database]\n{db}" if database_section is None else database_section
    text = f"""
[urls]
event_urls = {ipc}/tcs.ipc
ocd_main_loop = {ipc}/main.ipc
ocd_run_shot = {ipc}/shot0.ipc, {ipc}/shot1.ipc
ocd_allow_hetdex = {ipc}/allow0.ipc, {ipc}/allow1.ipc, {ipc}/allow2.ipc
ocd_alarms = {ipc}/alarms.ipc
tcs = {ipc}/gateway.ipc
virus = {ipc}/gateway.ipc
pfip = {ipc}/gateway.ipc
pas = {ipc}/gateway.ipc

[dates]
mock_time = {MOCK_TIME}
mock_speed = {speed:g}

{db}
[shots]
shot_file = {root}/shots.dat

[run_shot]
shuffle_dir = {root}/HETcommands
acam_dir = {root}/ACAMimages
exposure_time = {exposure_time:g}

[schedule]
shot_duration = 600

[tcs]
heartbeat_timeout = 60

[sim_tcs]
max_rate = 20

[bus]
linger = 0.2
{extra}
"""
    path = root / "ocd.cfg"
    path.write_text(text)
    shutil.copyfile(sample_shot_file(), root / "shots.dat")
    for shot in load_shots(root / "shots.dat").all():
        make_inputs(root, shot.shotid, shot.qifu)
    return path


class OcdProcess:
    """A running ``python -m ocd ...`` (an :class:`ocd.shell.children.OcdChild`, output in files
    under ``root``) whose :meth:`stop` fails the test when SIGTERM is not enough."""

    def __init__(self, args: tuple[str, ...], root: Path, name: str,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.child = OcdChild(name, list(args), root, cwd=root, env=env or ocd_env())
        self.popen = self.child.popen
        self.err_path = self.child.err_path

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        self.popen.send_signal(sig)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then wait; SIGKILL if it does not stop (and fail loudly)."""
        code, killed = self.child.stop(timeout)
        if killed:
            raise AssertionError(f"{self.name} did not stop on SIGTERM:\n{self.stderr()}")
        return code


class EventTap:
    """Receives every event of the given URLs; ``wait_for`` returns the first match. With
    ``curve`` (the server's public key, then the tap's own public and secret keys) it is a
    CURVE client, as a member or reader of a secured bus."""

    def __init__(self, urls: list[str], curve: tuple[bytes, bytes, bytes] | None = None
                 ) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        if curve is not None:
            self.sock.curve_serverkey, self.sock.curve_publickey, self.sock.curve_secretkey = \
                curve
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.setsockopt(zmq.RCVHWM, 0)
        for url in urls:
            self.sock.connect(url)
        self.events: list[Event] = []

    def _receive(self, timeout: float) -> bool:
        if not self.sock.poll(int(timeout * 1000)):
            return False
        while True:
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return True
            self.events.append(decode(frames))

    def drain(self, quiet: float = 0.2, timeout: float = 10.0) -> None:
        """Take in what has come, until ``quiet`` s without an event (at most ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while self._receive(quiet) and time.monotonic() < deadline:
            pass

    def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 30.0,
                 start: int = 0, what: str = "event") -> tuple[int, Event]:
        """Index and event of the first match at or after ``start``; AssertionError after
        ``timeout`` s naming what was awaited and the last topics seen."""
        deadline = time.monotonic() + timeout
        checked = start
        while True:
            for index in range(checked, len(self.events)):
                if predicate(self.events[index]):
                    return index, self.events[index]
            checked = max(checked, len(self.events))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [e.topic for e in self.events[-15:]]
                raise AssertionError(f"no {what} within {timeout:g} s; last topics: {seen}")
            self._receive(min(remaining, 0.2))

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()


def wait_until(check: Callable[[], bool], timeout: float = 30.0, what: str = "condition",
               said: Callable[[], str] | None = None) -> None:
    """Poll ``check`` until it holds; AssertionError after ``timeout`` s naming ``what`` and,
    when given, what ``said()`` tells then (a process's log, say)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            detail = f":\n{said()}" if said is not None else ""
            raise AssertionError(f"no {what} within {timeout:g} s{detail}")
        time.sleep(0.05)


def topic_is(topic: str, **fields: object) -> Callable[[Event], bool]:
    def predicate(event: Event) -> bool:
        return event.topic == topic and all(event.payload.get(k) == v for k, v in fields.items())
    return predicate


def short_tmpdir() -> Path:
    """A short temporary directory: ipc paths must stay under the 107-byte Unix limit."""
    return Path(tempfile.mkdtemp(prefix="ocd-"))
