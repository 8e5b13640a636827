"""Ask before a mocked clock can drive the real telescope.

A mock time left in a config file by a daytime rehearsal would make OCD schedule the wrong
night; any command that can move the telescope calls :func:`confirm_mock_time` first.
"""

from __future__ import annotations

import sys
from typing import TextIO

from ocd.clock import Clock
from ocd.errors import UsageError


def confirm_mock_time(clock: Clock, assume_yes: bool, stdin: TextIO | None = None,
                      stdout: TextIO | None = None) -> None:
    """Return if it is fine to go on; raise :class:`UsageError` if the user declines.

    ``assume_yes`` (``--yes``) skips the question. Without a terminal to ask on, refuse: a
    background job must say ``--yes`` explicitly.
    """
    if not clock.is_mock or assume_yes:
        return
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stderr if stdout is None else stdout
    start = getattr(clock, "start", clock.utc()).isoformat()
    if not (stdin.isatty() if hasattr(stdin, "isatty") else False):
        raise UsageError(f"[dates] mock_time is set (clock starts at {start}) and there is no "
                         "terminal to confirm it: pass --yes to proceed with the mock time")
    while True:
        stdout.write(f"proceed with mock time starting at {start}? [y/n] ")
        stdout.flush()
        answer = stdin.readline()
        if not answer:
            raise UsageError("no answer: not proceeding with the mock time")
        answer = answer.strip().lower()
        if answer in ("y", "yes"):
            return
        if answer in ("n", "no"):
            raise UsageError("not proceeding with the mock time (remove [dates] mock_time "
                             "to use the real clock)")
