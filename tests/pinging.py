"""The pinger (``tests/pinger.py``) as a second process beside a test: started, waited on until
it is answered, and stopped with the latencies it measured."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from conftest import ocd_env

HERE = Path(__file__).parent


class Pinger:
    """Asks ``ocd run`` (enquiry, then ``allow_hetdex stop``) every ``interval`` seconds."""

    def __init__(self, root: Path, commander_url: str, main_url: str,
                 interval: float = 0.5) -> None:
        self.out = root / "pinger.out"
        self.stream = self.out.open("w")
        self.popen = subprocess.Popen(
            [sys.executable, str(HERE / "pinger.py"), commander_url, main_url, str(interval)],
            stdout=self.stream, stderr=subprocess.STDOUT, env=ocd_env())
        deadline = time.monotonic() + 60
        while "ready" not in self.out.read_text():
            assert self.popen.poll() is None, self.out.read_text()
            assert time.monotonic() < deadline, "the pinger got no answer within 60 s"
            time.sleep(0.05)  # polls a file the pinger writes; not a wait on the system

    def answers(self) -> list[dict]:
        return [json.loads(line) for line in self.out.read_text().splitlines()
                if line.startswith("{")]

    def stop(self) -> list[dict]:
        """Stop it after its current question; every question it asked and its latency."""
        self.popen.terminate()
        self.popen.wait(20)
        self.stream.close()
        return self.answers()


def rss_bytes(pid: int) -> int:
    """The resident memory of process ``pid`` (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")
