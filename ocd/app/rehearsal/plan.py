"""What one rehearsal does: how long, how fast, which TCS, and what every child is told.

:func:`make_plan` and :func:`forced_settings` are pure; :func:`plan_from_config` reads the
recorded night it will replay (its topics and its clock) and calls :func:`make_plan`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ocd.app.rehearsal.layout import Layout
from ocd.clock import mock_settings
from ocd.config import Config, sample_night
from ocd.core.topics import OCD_PREFIX
from ocd.errors import ConfigError, OcdError, UsageError
from ocd.recording.pacing import in_step_speedup
from ocd.recording.store import open_for_replay, recorded_clock
from ocd.shots.runner import plan_from_config as exposure_plan

_DURATION = re.compile(r"^(?:(?P<h>\d+(?:\.\d*)?)h)?(?:(?P<m>\d+(?:\.\d*)?)m(?:in)?)?"
                       r"(?:(?P<s>\d+(?:\.\d*)?)s?)?$")


def parse_duration(text: str) -> float:
    """OCD-clock seconds from ``3600``, ``90s``, ``20m``, ``20min``, ``1h`` or ``1h30m``."""
    cleaned = text.strip().lower().replace(" ", "")
    match = _DURATION.match(cleaned)
    if not cleaned or match is None or not any(match.groupdict().values()):
        raise UsageError(f"--duration {text!r}: expected seconds or a duration like 90s, 20m, "
                         "1h or 1h30m (OCD-clock time)")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    seconds = parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    if seconds <= 0:
        raise UsageError(f"--duration {text!r}: must be longer than zero")
    return seconds


@dataclass(frozen=True)
class Plan:
    """What one rehearsal does."""

    tcs: str                  # "replay" or "sim"
    night: Path | None        # the recording replayed (replay only)
    speed: float              # mock clock speed of every process
    duration: float           # OCD-clock seconds of night
    mock_start: dt.datetime   # where the main loop's clock starts
    stop_timeout: float       # real seconds each child gets to stop
    exposures: int            # exposures per shot, for the progress lines
    replay_speedup: float = 1.0
    replay_topics: tuple[str, ...] = ()
    board: bool = False       # also run ocd board on the rehearsal
    curve: bool = False       # CURVE on every socket, with throw-away keys

    @property
    def end(self) -> dt.datetime:
        return self.mock_start + dt.timedelta(seconds=self.duration)


def make_plan(*, mock_start: dt.datetime | None, speed: float, duration: float, tcs: str,
              stop_timeout: float, exposures: int, night: Path | None = None,
              night_topics: tuple[str, ...] = (), night_speed: float = 1.0) -> Plan:
    """The rehearsal asked for; for a replay, ``night_topics`` and ``night_speed`` are what
    the recording ``night`` holds (its topics, the mock speed it was recorded at)."""
    if mock_start is None:
        raise ConfigError("[dates] mock_time is not set: a rehearsal needs the night to rehearse "
                          "(the shipped rehearsal.cfg sets 2017-11-19T03:00:00)")
    if not speed > 0:
        raise UsageError(f"--speed {speed:g}: must be positive")
    if not duration > 0:
        raise UsageError(f"--duration: {duration:g} s: must be positive")
    plan = Plan(tcs=tcs, night=None, speed=speed, duration=duration, mock_start=mock_start,
                stop_timeout=stop_timeout, exposures=exposures)
    if tcs != "replay":
        return plan
    topics = tuple(t for t in night_topics if not t.startswith(OCD_PREFIX))
    if not topics:
        raise OcdError(f"{night}: no TCS event to replay (only ocd.* topics)")
    return replace(plan, night=night, replay_speedup=in_step_speedup(speed, night_speed),
                   replay_topics=topics)


def plan_from_config(cfg: Config, *, speed: float | None = None, duration: float | None = None,
                     tcs: str | None = None, board: bool = False) -> Plan:
    """The rehearsal described by ``[rehearse]``, ``[dates]`` and the command line; for a
    replay, the recorded night is read for its topics and clock."""
    tcs = tcs or cfg.get_str("rehearse", "tcs")
    if duration is None:
        duration = cfg.get_float("rehearse", "duration")
    mock = mock_settings(cfg)
    settings = dict(mock_start=None if mock is None else mock.start,
                    speed=cfg.get_float("rehearse", "speed") if speed is None else speed,
                    duration=duration, tcs=tcs,
                    stop_timeout=cfg.get_float("rehearse", "stop_timeout"),
                    exposures=exposure_plan(cfg).n_exposures)
    if tcs != "replay":
        return replace(make_plan(**settings), board=board,  # type: ignore[arg-type]
                       curve=cfg.get_bool("security", "curve"))
    night = cfg.get_path("rehearse", "night") or sample_night()
    conn = open_for_replay(night)
    try:
        topics = tuple(t for (t,) in conn.execute(
            "SELECT DISTINCT topic FROM events ORDER BY topic"))
        recorded = recorded_clock(conn)
    finally:
        conn.close()
    return replace(make_plan(**settings, night=night, night_topics=topics,  # type: ignore[arg-type]
                             night_speed=recorded.speed), board=board,
                   curve=cfg.get_bool("security", "curve"))


def forced_settings(layout: Layout, plan: Plan) -> list[tuple[str, str, str]]:
    """What every child is told on top of the user's configuration: private addresses, the
    mock clock, a copy of the shot list, a fresh observation-number file."""
    replay = plan.tcs == "replay"
    gateway = layout.url("gateway")
    values = [
        ("urls", "event_urls", "" if replay else layout.tcs_url),
        ("urls", "ocd_db_replay", layout.replay_url if replay else ""),
        ("urls", "ocd_main_loop", layout.url("main")),
        ("urls", "ocd_run_shot", layout.url("shot")),
        # with a board, its commands go out on an address of its own, the second one
        ("urls", "ocd_allow_hetdex", ", ".join(
            [layout.url("allow"), *([layout.url("board")] if plan.board else [])])),
        ("urls", "ocd_alarms", layout.url("alarms")),
        *(("urls", name, gateway) for name in ("tcs", "virus", "pfip", "pas")),
        ("run", "n_ocd_main_loop", "0"), ("run", "n_ocd_run_shot", "0"),
        ("run_shot", "n_ocd_run_shot", "0"), ("allow_hetdex", "n_ocd_allow_hetdex", "0"),
        *([("board", "n_ocd_allow_hetdex", "1")] if plan.board else []),
        ("db_replay", "n_ocd_db_replay", "0"), ("sim_tcs", "n_event_urls", "0"),
        ("alarms", "n_ocd_alarms", "0"),
        ("dates", "mock_time", plan.mock_start.strftime("%Y-%m-%dT%H:%M:%S.%f")),
        ("dates", "mock_speed", f"{plan.speed:g}"),
        ("database", "backend", "sqlite"),
        ("database", "sqlite_path", str(layout.root / "obsnum.sqlite")),
        ("shots", "shot_file", str(layout.root / "shots.dat")),
        ("tcs", "backend", "simulated" if replay else "gateway"),
        # every peer is local: reconnect fast so no process misses the start of another
        ("bus", "reconnect_interval_max", "0.2"),
    ]
    if plan.curve:  # the rehearsal's own keys; every child, the simulated TCS too, a member
        values += [("security", "keys_dir", str(layout.keys)),
                   ("security", "client_key", "member"), ("security", "tcs_curve", "true")]
    return values
