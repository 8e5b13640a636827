"""Running ``ocd`` subcommands as child processes that never outlive their parent.

A child gets its own session (a Ctrl+C at the terminal reaches only the parent, which then stops
the children in the right order), its output in files, and on Linux a parent-death signal, so
even a parent killed with SIGKILL leaves no child behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

#: ``prctl(PR_SET_PDEATHSIG, SIGTERM)``, resolved before any fork (Linux only).
_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") \
        else None
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _prctl = None


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def child_env() -> dict[str, str]:
    """The environment for ``python -m ocd``: this copy of the package first on the path."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])  # above ocd/shell/children.py
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return env


def describe_exit(code: int | None) -> str:
    """``exit status 1``, ``killed by SIGKILL``, or ``still running``."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class OcdChild:
    """``python -m ocd ARGS`` with stdout and stderr in ``logs/NAME.out`` and ``.err``."""

    def __init__(self, name: str, args: list[str], logs: Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.args = args
        self.out_path = logs / f"{name}.out"
        self.err_path = logs / f"{name}.err"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "ocd", *args], stdin=subprocess.DEVNULL, stdout=out,
                stderr=err, cwd=cwd, env=env or child_env(), start_new_session=True,
                preexec_fn=_die_with_parent if _prctl is not None else None)
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def label(self) -> str:
        return f"ocd {self.name} (pid {self.pid})"

    def poll(self) -> int | None:
        return self.popen.poll()

    def stop(self, timeout: float) -> tuple[int, bool]:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL. Returns the exit code and whether
        it had to be killed."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
                return self.popen.returncode, True
        return self.popen.returncode, False

    def stdout(self) -> str:
        try:
            return self.out_path.read_text(errors="replace")
        except OSError:
            return ""

    def stderr_tail(self, lines: int = 15) -> str:
        try:
            text = self.err_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])
