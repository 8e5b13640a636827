"""Every command line of the README, the quick start, the command reference and the rehearsal
page runs as written, in a shell, in a fresh directory: a one-shot command must exit 0; a
long-running one (``ocd run``, ``ocd sim_tcs``, ``ocd listen``, ``ocd rehearse``, ...) must
come up (the line it logs once it works) and stop on SIGTERM with its documented status. The
lines typed before it in its block run first (long-running ones stay up, as in terminals of
their own), and the files the page asks for (``<!-- file: NAME -->`` blocks) are written
first. A block that is not meant to be run says so (``<!-- illustrative: WHY -->``): see
``ocd.dev.doc_commands``.

Each command runs against the address plan of the master file and of the ``--config`` files
its block gives, moved to ipc sockets of its own (``OCD__URLS__*`` in its environment; an
address a file empties stays empty), ``HOME`` in its directory too, so that tests never meet
each other or a real OCD; ``conf/`` and ``ocd/`` of the checkout are
linked there, since the pages are read from a checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, ocd_env
from e2e_helpers import short_tmpdir

from ocd.config import load_config, master_specs
from ocd.dev.doc_commands import CommandLine, blocks, command_lines, words

PAGES = ("README.md", "doc/quickstart.md", "doc/commands.md", "doc/rehearsal.md")

#: The line a long-running command logs once it is up (a regular expression).
LONG_RUNNING = {
    "run": r"shot_file\s+\S",
    "sim_tcs": r"TCS simulator: events on",
    "listen": r"listening on",
    "record": r"recording .* into",
    "db_replay": r"subscriber\(s\) on .*: replaying",
    "board": r"serving on",
    "rehearse": r"hetdex_allowed: not_allowed -> allowed",
}
#: What a one-shot command's output must show besides its exit status 0.
SHOWS = {"plan": r"shots:", "simulate": r"shots:", "time": r"UTC:", "config": r"\[urls\]|wrote",
         "schedule": r"DEX\d+"}
#: The exit status after SIGTERM, when it is not 0 (doc/rehearsal.md: 130, as for Ctrl+C).
STOPPED_STATUS = {"rehearse": 130}
UP_TIMEOUT = 60.0
ONE_SHOT_TIMEOUT = 120.0


def page_commands() -> list[CommandLine]:
    """The command lines of the pages, a line typed the same way in two pages once."""
    seen: dict[tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]], CommandLine] = {}
    for page in PAGES:
        for command in command_lines(page, (ROOT / page).read_text()):
            seen.setdefault((command.text, command.before, command.files), command)
    return list(seen.values())


COMMANDS = page_commands()


def subcommand(words: list[str]) -> str | None:
    """``run`` for ``ocd run ...``; None for a line that is not an ``ocd`` command."""
    return words[1] if len(words) > 1 and words[0] == "ocd" else None


class Sandbox:
    """A directory to run a page's command lines in, with its own addresses and home."""

    def __init__(self, root: Path, sockets: Path, command: CommandLine) -> None:
        self.work = root / "work"
        self.work.mkdir()
        for name in ("conf", "ocd"):
            (self.work / name).symlink_to(ROOT / name)
        shims = root / "bin"
        shims.mkdir()
        for name, module in (("ocd", " -m ocd"), ("python", "")):
            shim = shims / name
            shim.write_text(f'#!/bin/sh\nexec "{sys.executable}"{module} "$@"\n')
            shim.chmod(0o755)
        home = root / "home"
        home.mkdir()
        for name, text in command.files:
            (self.work / name).write_text(text)
        lines = (*command.before, command.text)
        # matplotlib's font cache is shared: a fresh one costs seconds of CPU per picture
        fonts = os.environ.get("MPLCONFIGDIR") or str(Path.home() / ".config" / "matplotlib")
        self.env = ocd_env(HOME=str(home), XDG_DATA_HOME=str(home / "data"),
                           XDG_CONFIG_HOME=str(home / "config"), MPLCONFIGDIR=fonts,
                           PATH=f"{shims}{os.pathsep}{os.environ.get('PATH', '')}",
                           OCD__BOARD__URL="http://127.0.0.1:0",
                           **ipc_plan(sockets, config_files(self.work, lines)))

    def run(self, line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", line], cwd=self.work, env=self.env,
                              capture_output=True, text=True, timeout=ONE_SHOT_TIMEOUT)

    def start(self, line: str) -> Running:
        return Running(line, self)


def config_files(work: Path, lines: tuple[str, ...]) -> list[Path]:
    """The existing files the lines give with ``--config FILE``."""
    found = []
    for line in lines:
        given = words(line)
        for option, value in zip(given, given[1:], strict=False):
            if option == "--config" and (work / value).is_file():
                found.append(work / value)
    return found


def ipc_plan(sockets: Path, files: list[Path]) -> dict[str, str]:
    """The ``[urls]`` plan of the master file and ``files`` with each TCP address an ipc
    socket under ``sockets``, as ``OCD__URLS__*`` variables (one address, one socket: the
    plan's indexes are kept; an option a file empties stays empty)."""
    cfg = load_config(files, [], environ={})
    moved: dict[str, str] = {}
    env = {}
    for (section, option), spec in master_specs().items():
        kind = str(spec.value)
        if section != "urls" or kind not in ("url", "urls"):
            continue
        one = cfg.get_url(section, option) if kind == "url" else None
        addresses = cfg.get_urls(section, option) if kind == "urls" else [one] if one else []
        for address in addresses:
            moved.setdefault(address, f"ipc://{sockets}/{len(moved)}.ipc")
        env[f"OCD__URLS__{option.upper()}"] = ", ".join(moved[a] for a in addresses)
    return env


class Running:
    """A long-running command line in a session of its own, its output read as it comes."""

    def __init__(self, line: str, sandbox: Sandbox) -> None:
        self.line = line
        self.process = subprocess.Popen(
            ["bash", "-c", f"exec {line}"], cwd=sandbox.work, env=sandbox.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    @property
    def output(self) -> str:
        with self.changed:
            return "".join(self.lines)

    def wait_up(self, pattern: str) -> None:
        """Wait until a line matches ``pattern``; fail when the command ends or the deadline
        passes first."""
        deadline = time.monotonic() + UP_TIMEOUT
        with self.changed:
            while not any(re.search(pattern, line) for line in self.lines):
                left = deadline - time.monotonic()
                ended = self.process.poll() is not None and not self.reader.is_alive()
                assert left > 0 and not ended, (
                    f"{self.line!r} did not come up ({pattern!r}); exit status "
                    f"{self.process.poll()}; output:\n{''.join(self.lines)[-3000:]}")
                self.changed.wait(min(left, 1.0))

    def stop(self) -> int:
        """SIGTERM to its session, then its exit status (SIGKILL and a failure when it does
        not end)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            status = self.process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            pytest.fail(f"{self.line!r} did not stop on SIGTERM:\n{self.output[-3000:]}")
        self.reader.join(timeout=10)
        return status


def check_one_shot(sandbox: Sandbox, line: str) -> None:
    """It exits 0, shows what it is for, and draws the picture it is asked for."""
    done = sandbox.run(line)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{line!r} exited {done.returncode}:\n{output[-3000:]}"
    assert "Traceback" not in output, output[-3000:]
    given = words(line)
    name = subcommand(given)
    if name in SHOWS:
        assert re.search(SHOWS[name], output), f"{line!r} printed:\n{output[-3000:]}"
    if "--plot" in given:
        picture = sandbox.work / given[given.index("--plot") + 1]
        assert picture.read_bytes().startswith(b"\x89PNG"), picture


def check_stopped(running: Running, name: str) -> None:
    status = running.stop()
    assert status == STOPPED_STATUS.get(name, 0), (
        f"{running.line!r} exited {status} on SIGTERM:\n{running.output[-3000:]}")
    assert "Traceback" not in running.output, running.output[-3000:]


def _id(command: CommandLine) -> str:
    return f"{Path(command.page).name}:{command.line}:{' '.join(command.words)}"


@pytest.mark.parametrize("command", COMMANDS, ids=[_id(c) for c in COMMANDS])
def test_the_command_line_runs_as_written(command: CommandLine, tmp_path: Path) -> None:
    sockets = short_tmpdir()
    sandbox = Sandbox(tmp_path, sockets, command)
    running: list[tuple[Running, str]] = []
    try:
        for line in (*command.before, command.text):
            name = subcommand(words(line))
            if name not in LONG_RUNNING:
                check_one_shot(sandbox, line)
                continue
            running.append((sandbox.start(line), name))
            running[-1][0].wait_up(LONG_RUNNING[name])
        while running:
            check_stopped(*running.pop())
    finally:
        for process, _ in running:
            if process.process.poll() is None:
                os.killpg(process.process.pid, signal.SIGKILL)
        shutil.rmtree(sockets, ignore_errors=True)


def test_the_pages_have_command_lines_and_every_block_is_decided() -> None:
    """The pages are read as intended: each has blocks, and the blocks that are not run are
    marked (with a reason) or written as files."""
    for page in PAGES:
        found = blocks(page, (ROOT / page).read_text())
        assert found, page
        for block in found:
            assert block.kind in ("run", "file", "illustrative"), block
            assert block.kind == "run" or block.name, (
                f"{page}:{block.line}: a marker needs a reason or a file name")
    assert len(COMMANDS) >= 10
