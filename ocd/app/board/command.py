"""``ocd board``: serve the night on one web page (:mod:`.server`), or make a user's password
hash (:mod:`.auth`)."""

from __future__ import annotations

import getpass
import logging
import os
import sys
from typing import TextIO

from ocd.app.board.auth import BadUsers, hash_password, parse_users
from ocd.app.board.cockpit import work_in_progress
from ocd.app.board.options import board_options
from ocd.app.board.server import Board
from ocd.app.listener import make_plan
from ocd.config import Config
from ocd.errors import UsageError
from ocd.shell.clock_source import choose_clock_now, log_choice
from ocd.shell.service import run_service
from ocd.shell.settings import tcs_source

#: A well-formed hash, to check a user name alone.
DECOY_ENTRY = "scrypt:16384:8:1:AAAAAAAAAAAAAAAAAAAAAA:" + "A" * 43


def run_board(cfg: Config) -> int:
    """``ocd board``: serve the page until interrupted. It follows the OCD services and the
    TCS stream, or the replayed night, as ``ocd run`` does (``[run] input``), on the running
    main loop's clock."""
    options = board_options(cfg)
    replay = tcs_source(cfg) == "replay"
    plan = make_plan(cfg, tcs=not replay, replay=replay)
    choice = choose_clock_now(cfg)
    log_choice(choice)
    code = run_service(Board(cfg, options, plan, choice.clock))
    if work_in_progress():  # everything is closed; the interpreter's end would abort it
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def hash_password_entry(user: str, stdin: TextIO | None = None) -> int:
    """``ocd board --hash-password USER``: ask for a password (twice at a terminal; one line
    of standard input otherwise) and print the ``[board] users`` entry."""
    stdin = sys.stdin if stdin is None else stdin
    try:  # the name first, checked the way the board will read it
        parse_users([f"{user}:{DECOY_ENTRY}"])
    except BadUsers as exc:
        raise UsageError(f"--hash-password {user!r}: {exc}") from None
    if stdin.isatty():
        password = getpass.getpass(f"password for {user}: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the two passwords differ")
    else:
        password = stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        raise UsageError("a password needs at least 8 characters")
    print(f"{user}:{hash_password(password)}")
    print("add it to [board] users (comma-separated for several users), then restart "
          "ocd board", file=sys.stderr)
    return 0
