"""``ocd rehearse``: a dress rehearsal of a night in one command.

The real processes run as children in a private directory (:mod:`.layout`) as the plan says
(:mod:`.plan`), under a supervisor that follows and stops them (:mod:`.supervisor`); the shots
it sees are tallied by :class:`ocd.monitor.tally.Tally`. This module ties them together.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any, TextIO

from ocd.app.board import board_options, check_board_address
from ocd.app.keys import create_bus_keys
from ocd.app.rehearsal.layout import Layout, make_layout
from ocd.app.rehearsal.plan import forced_settings, plan_from_config
from ocd.app.rehearsal.supervisor import RECORDING, Rehearsal, RehearsalFailed
from ocd.bus import bus_options, security_from_config
from ocd.config import Config, Origin
from ocd.errors import EXIT_INTERRUPTED, ConfigError, OcdError, printable_lines
from ocd.recording.store import stored_counts
from ocd.shell.service import run_service
from ocd.timetext import day_hms_utc_local


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(summary, indent=2) + "\n")
    except OSError as exc:
        raise OcdError(f"cannot write the summary to {path}: {exc.strerror}") from None


def copy_shot_file(cfg: Config, layout: Layout) -> None:
    source = cfg.get_path("shots", "shot_file")
    if source is None:
        raise cfg.error("shots", "shot_file", "", "a shot file is needed")
    try:
        shutil.copyfile(source, layout.root / "shots.dat")
    except OSError as exc:
        raise ConfigError(f"{cfg.origin('shots', 'shot_file')}: [shots] shot_file {source}: "
                          f"cannot copy: {exc.strerror}") from None


def recording_report(rehearsal: Rehearsal, layout: Layout, kept: bool
                     ) -> tuple[dict[str, int] | None, str]:
    """What the recorder stored, by topic (None when there is no readable recording), and
    one line about it: the recorder's own words, naming the file only when it is kept."""
    path = layout.root / RECORDING
    try:
        stored = stored_counts(path)
    except OcdError as exc:
        return None, f"recording: none to count ({exc})"
    record = rehearsal.children.get("record")
    said = record.stdout().strip() if record is not None else ""
    said = said.removeprefix(f"ocd record: {path}: ")
    where = str(path) if kept else "deleted with the temporary directory"
    return stored, f"recording ({where}): {said or f'{sum(stored.values())} events stored'}"


def rehearse(cfg: Config, *, speed: float | None = None, duration: float | None = None,
             tcs: str | None = None, keep: Path | None = None, summary: Path | None = None,
             board: bool = False, out: TextIO | None = None) -> int:
    """Run one rehearsal with the configuration ``cfg`` (loaded with the shipped rehearsal.cfg
    first); print progress and the summary on ``out``; with ``board``, ``ocd board`` follows
    it. Returns the exit status (0, or 130 when interrupted); a failed child raises
    :class:`RehearsalFailed` after the summary."""
    out = sys.stdout if out is None else out
    plan = plan_from_config(cfg, speed=speed, duration=duration, tcs=tcs, board=board)
    layout = make_layout(keep)
    try:
        copy_shot_file(cfg, layout)
        forced = forced_settings(layout, plan)
        # the children read the same files and --set values, then the rehearsal's own
        config_args = [*(a for f in cfg.user_files for a in ("--config", str(f))),
                       *(a for s, o, v in [*cfg.overrides, *forced]
                         for a in ("--set", f"{s}.{o}={v}"))]
        cfg.apply(forced, Origin("ocd rehearse", layout.root))
        if plan.board:  # one line before anything starts, with advice ocd rehearse takes
            check_board_address(board_options(cfg), "give --set board.url=http://127.0.0.1:0 "
                                "(any free port) or stop the other process")
        source = (f"replaying {plan.night} at -s {plan.replay_speedup:g}" if plan.tcs == "replay"
                  else "against ocd sim_tcs")
        where = (f"working in {layout.root}" if keep is not None else "working in a temporary "
                 "directory, deleted at the end (--keep DIR keeps it)")
        print(f"ocd rehearse: {plan.duration / 60:g} min of night from "
              f"{day_hms_utc_local(plan.mock_start)} at {plan.speed:g}x (about "
              f"{plan.duration / plan.speed:.0f} s), {source}; {where}", file=out, flush=True)
        if plan.curve:
            create_bus_keys(layout.keys)
        rehearsal = Rehearsal(plan, layout, config_args, bus_options(cfg),
                              security_from_config(cfg), out=out)
        run_service(rehearsal)
        outcome = rehearsal.outcome()
        stored, recorder = recording_report(rehearsal, layout, keep is not None)
        print(printable_lines(outcome.tally.report(plan.mock_start, plan.duration, plan.speed,
                                                   outcome.wall, outcome.reached, stored)),
              file=out, flush=True)
        if recorder:
            print(printable_lines(f"  {recorder}"), file=out)
        if summary is not None:
            write_summary(summary, outcome.tally.summary(stored))
    finally:
        shutil.rmtree(layout.ipc, ignore_errors=True)
        if keep is not None:
            print(f"ocd rehearse: kept {layout.root} (logs, shots.dat, obsnum.sqlite, "
                  "rehearsal.db)", file=out)
    if outcome.failure is not None:
        raise RehearsalFailed(outcome.failure)
    if outcome.interrupted:
        print("ocd rehearse: interrupted; every process stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
