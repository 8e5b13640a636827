"""The external scheduler (the original OCD's ``autoschedule_main``) and the choice between it
and the built-in one.

OCD runs the program named by ``[autoschedule] executable`` with ``[autoschedule] arguments``
(a snapshot of the shot list and the Julian Date filled in), waits at most ``timeout`` seconds,
and reads its standard output by this contract (also in ``doc/scheduling.md``):

* the exit status is 0; anything else is a failure (the last line of standard error says why);
* blank lines and lines starting with ``#`` are ignored;
* the first other line is either ``SHOTID TRACK`` (more words may follow and are ignored),
  where TRACK is ``E``/``W``, ``EAST``/``WEST`` or ``0``/``1`` (any case), or ``NONE``
  followed by an optional explanation, meaning nothing should be observed now;
* later lines are ignored; the shot must be in the list with ``n_obs > 0``.

The original program's own output format was never published: a small wrapper script can
translate it to this contract.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from ocd.clock import Clock, utc_to_jd
from ocd.config import Config
from ocd.errors import ConfigError, OcdError
from ocd.shots.store import ShotStore
from ocd.sky import het
from ocd.sky.scheduler import Candidate, Conditions, ScheduleResult, ScheduleSettings, choose

log = logging.getLogger(__name__)

NAME = "autoschedule_main"
_TRACKS = {"E": "E", "EAST": "E", "0": "E", "W": "W", "WEST": "W", "1": "W"}
_CONTRACT = "expected 'SHOTID TRACK' (TRACK E/W, EAST/WEST or 0/1) or 'NONE [why]'"


@dataclass(frozen=True)
class ExternalChoice:
    """What the external program said: a shot and track, or nothing (``shotid`` None)."""

    shotid: str | None
    track: str | None  #: "E" or "W"
    note: str = ""  #: the explanation after NONE, or the rest of the chosen line


def parse_output(text: str) -> ExternalChoice:
    """Read the program's standard output by the contract; :class:`OcdError` if it breaks it."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        words = stripped.split()
        if words[0].upper() == "NONE":
            return ExternalChoice(None, None, " ".join(words[1:]))
        if len(words) < 2 or words[1].upper() not in _TRACKS:
            raise OcdError(f"{NAME}: output line {lineno}: {_CONTRACT}, got {stripped[:80]!r}")
        return ExternalChoice(words[0], _TRACKS[words[1].upper()], " ".join(words[2:]))
    raise OcdError(f"{NAME}: no answer in its output: {_CONTRACT}")


def build_command(cfg: Config, shot_file: Path, when: dt.datetime) -> list[str]:
    """The command line: the executable and the filled-in argument template."""
    executable = cfg.get_str("autoschedule", "executable")
    if not executable:
        raise ConfigError("[autoschedule] executable is empty")
    template = cfg.get_str("autoschedule", "arguments")
    fields = {"shot_file": str(shot_file), "jd": utc_to_jd(when),
              "utc": when.astimezone(dt.timezone.utc).isoformat(timespec="seconds")}
    try:
        arguments = [word.format(**fields) for word in shlex.split(template)]
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        detail = f"unknown field {{{exc.args[0]}}}" if isinstance(exc, KeyError) else str(exc)
        raise ConfigError(f"{cfg.origin('autoschedule', 'arguments')}: [autoschedule] "
                          f"arguments = {template!r}: {detail} (fields: shot_file, jd, "
                          "utc)") from None
    return [_resolve(executable), *arguments]


def _resolve(executable: str) -> str:
    if os.sep not in executable:
        found = shutil.which(executable)
        if found is None:
            raise OcdError(f"{NAME}: {executable!r} not found in PATH ([autoschedule] "
                           "executable)")
        return found
    path = Path(executable)
    if not path.is_file():
        raise OcdError(f"{NAME}: {path} does not exist ([autoschedule] executable)")
    if not os.access(path, os.X_OK):
        raise OcdError(f"{NAME}: {path} is not executable ([autoschedule] executable)")
    return str(path)


def run_command(command: list[str], timeout: float) -> str:
    """Run the program; its standard output, or :class:`OcdError` on failure or timeout.

    It runs in a session of its own so that on timeout the whole process group is killed,
    children included, and nothing is left holding its output pipe.
    """
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, errors="replace",
                                   start_new_session=True)
    except OSError as exc:
        raise OcdError(f"{NAME}: cannot run {command[0]}: {exc.strerror}") from None
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        process.communicate()
        raise OcdError(f"{NAME}: no answer within {timeout:g} s: killed "
                       "([autoschedule] timeout)") from None
    if process.returncode != 0:
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        why = f": {lines[-1][:200]}" if lines else ""
        status = (f"killed by signal {-process.returncode}" if process.returncode < 0
                  else f"exited with status {process.returncode}")
        raise OcdError(f"{NAME}: {status}{why}")
    return stdout


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def autoschedule(cfg: Config, store: ShotStore, when: dt.datetime,
                 conditions: Conditions | None = None,
                 settings: ScheduleSettings | None = None) -> ScheduleResult:
    """Ask the external program what to observe at ``when``.

    It reads a snapshot of ``store`` (current ``n_obs``) written to a temporary directory.
    The candidates of the result come from the built-in evaluation, for display; the choice
    is the external program's.
    """
    settings = settings or ScheduleSettings.from_config(cfg)
    timeout = cfg.get_float("autoschedule", "timeout")
    with tempfile.TemporaryDirectory(prefix="ocd-autoschedule-") as directory:
        shot_file = store.write(Path(directory) / "shots.dat")
        command = build_command(cfg, shot_file, when)
        log.debug("running %s", shlex.join(command))
        output = run_command(command, timeout)
    answer = parse_output(output)
    builtin = choose(store.table(remaining=False), when, conditions, settings)
    if answer.shotid is None:
        reason = f"{NAME}: nothing to observe" + (f": {answer.note}" if answer.note else "")
        return _result(builtin, None, reason)
    shot = store.get(answer.shotid)
    if shot is None:
        raise OcdError(f"{NAME} chose {answer.shotid!r}, which is not in the shot list")
    if shot.n_obs <= 0:
        raise OcdError(f"{NAME} chose {answer.shotid!r}, which has n_obs 0")
    match = builtin.candidate(answer.shotid, answer.track or "E")
    if match is None:
        match = Candidate(shot, answer.track or "E", None, None, None, False,
                          "the built-in scheduler has no such track for this shot")
    reason = f"chosen by {NAME}"
    if not match.observable:
        reason += f" (the built-in scheduler would not: {match.reason})"
    choice = replace(match, reason=reason, rank=1)
    return _result(builtin, choice, reason)


def _result(builtin: ScheduleResult, choice: Candidate | None, reason: str) -> ScheduleResult:
    return ScheduleResult(choice, reason, builtin.when, candidates=lambda: builtin.candidates,
                          scheduler="autoschedule", sun_altitude=builtin.sun_altitude,
                          dark_start=builtin.dark_start, dark_end=builtin.dark_end,
                          settings=builtin.settings, conditions=builtin.conditions)


def schedule_with_config(cfg: Config, store: ShotStore, clock: Clock,
                         conditions: Conditions | None = None,
                         when: dt.datetime | None = None,
                         settings: ScheduleSettings | None = None,
                         scheduler: str | None = None) -> ScheduleResult:
    """Run the configured scheduler (``scheduler``, default: ``[schedule] scheduler``) at
    ``when`` (default: now by ``clock``), with ``settings`` (default: read from ``cfg``; a
    simulation reads both once a night).

    With ``[schedule] scheduler = autoschedule`` and ``fallback_builtin``, a failure of the
    external program is logged as a warning and the built-in scheduler decides; the result's
    ``fallback`` then holds the error.
    """
    settings = ScheduleSettings.from_config(cfg) if settings is None else settings
    when = clock.utc() if when is None else het.to_datetime(het.unix_seconds(when))
    if scheduler is None:
        scheduler = cfg.get_str("schedule", "scheduler")
    if scheduler == "autoschedule":
        try:
            return autoschedule(cfg, store, when, conditions, settings)
        except OcdError as exc:
            if not cfg.get_bool("schedule", "fallback_builtin"):
                raise
            log.warning("%s; using the built-in scheduler ([schedule] fallback_builtin)", exc)
            result = choose(store.table(remaining=False), when, conditions, settings)
            result.fallback = str(exc)
            return result
    return choose(store.table(remaining=False), when, conditions, settings)
