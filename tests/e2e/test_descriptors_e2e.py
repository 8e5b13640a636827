"""Descriptor headroom: ``ocd run``, ``ocd board`` and ``ocd record`` raise their soft file limit
to the hard one at start, so that a local user holding a thousand idle connections to the main
loop's publisher cannot stop it from accepting the commanders' connections.

The processes are started with a soft limit of 1024 (the usual default), lowered in the child
before it runs (``preexec_fn``); the hard limit stays the test's."""

from __future__ import annotations

import re
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ocd_env, run_ocd
from e2e_helpers import night_config, short_tmpdir

pytestmark = pytest.mark.slow

LOWERED = 1024
#: One more idle connection than the lowered limit has descriptors, and some.
IDLE = 1088
SOFT, HARD = resource.getrlimit(resource.RLIMIT_NOFILE)
needs_room = pytest.mark.skipif(
    HARD != resource.RLIM_INFINITY and HARD < IDLE * 2 + 256,
    reason=f"the hard file limit ({HARD}) leaves no room above {LOWERED}")


def lowered_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (LOWERED, HARD))


@pytest.fixture
def root() -> Iterator[Path]:
    path = short_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Child:
    """``python -m ocd ARGS`` under the lowered soft limit, stderr in a file."""

    def __init__(self, root: Path, name: str, *args: str) -> None:
        self.err_path = root / f"{name}.err"
        with self.err_path.open("wb") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "ocd", *args], cwd=root, env=ocd_env(),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                preexec_fn=lowered_limit)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            text = self.err_path.read_text(errors="replace")
            found = re.search(pattern, text)
            if found:
                return found
            if self.popen.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} (exit {self.popen.poll()}):\n{text[-3000:]}")
            time.sleep(0.05)  # polling a file a process writes: nothing to wait on instead

    def stop(self) -> int:
        self.popen.terminate()
        try:
            return self.popen.wait(20)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            raise AssertionError(f"did not stop on SIGTERM:\n{self.err_path.read_text()}") from None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@needs_room
@pytest.mark.parametrize("name, args, running", [
    ("run", ("run", "--yes"), r"bound  "),
    ("board", ("board", "--url", "http://127.0.0.1:0"), r"serving on"),
    ("record", ("record", "night.db"), r"recording "),
])
def test_a_long_running_process_raises_its_file_limit(root: Path, name: str, args: tuple,
                                                      running: str):
    config = night_config(root)
    child = Child(root, name, *args, "--config", str(config), "--log-level", "INFO")
    try:
        found = child.wait_for(r"ocd \w+ may open (\d+) files \(soft limit raised from (\d+)\)",
                               60)
        child.wait_for(running, 60)  # its signal handlers are in place: SIGTERM stops it cleanly
    finally:
        assert child.stop() == 0
    expected = resource.RLIM_INFINITY if HARD == resource.RLIM_INFINITY else HARD
    assert (int(found.group(1)), int(found.group(2))) == (min(expected, 1 << 20), LOWERED)


@needs_room
def test_idle_connections_to_the_main_loop_leave_the_commands_answering(root: Path):
    port = free_port()
    config = night_config(root)
    config.write_text(re.sub(r"ocd_main_loop = \S+", f"ocd_main_loop = tcp://127.0.0.1:{port}",
                             config.read_text()))
    run = Child(root, "run", "run", "--yes", "--config", str(config), "--log-level", "INFO")
    idle: list[socket.socket] = []
    own = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(SOFT, IDLE + 512), HARD))
    try:
        run.wait_for(r"bound  ", 60)
        pinged = run_ocd("ping", "--timeout", "20", "--first", "--config", str(config), cwd=root)
        assert pinged.returncode == 0, pinged.stderr  # up and answering
        for _ in range(IDLE):  # another user's idle connections, never a byte sent
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(0.5)  # let the main loop's I/O thread accept what the kernel queued
        for command in (("ping", "--first"), ("allow_hetdex", "start")):
            answered = run_ocd(*command, "--timeout", "1", "--config", str(config), cwd=root)
            assert answered.returncode == 0, (command, answered.stdout, answered.stderr)
        assert run.popen.poll() is None
    finally:
        for sock in idle:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, own)
        code = run.stop()
    assert code == 0, run.err_path.read_text()[-3000:]
