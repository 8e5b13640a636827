"""The core's settings, read from the configuration.

The pure core (:mod:`ocd.core`) never sees a :class:`~ocd.config.Config`: it takes typed,
frozen dataclasses. This module is the one boundary where configuration values become them, so
every value the core uses is read through a typed accessor, once.
"""

from __future__ import annotations

from ocd.clock import Clock
from ocd.config import Config
from ocd.core.orchestrator import Settings
from ocd.core.states import MetrologyLimits
from ocd.core.topics import TcsTopics


def tcs_topics(cfg: Config) -> TcsTopics:
    """The TCS topics of ``[topics]``."""
    return TcsTopics(heartbeat=cfg.get_str("topics", "tcs_heartbeat"),
                     ra_dec=cfg.get_str("topics", "tcs_ra_dec"),
                     metrology=tuple(cfg.get_list("topics", "metrology")))


def tcs_source(cfg: Config) -> str:
    """Where the TCS events come from, ``tcs`` (``[urls] event_urls``) or ``replay`` (``[urls]
    ocd_db_replay``), as ``[run] input`` says; never both, since a replayed night must not mix
    with a live TCS. ``auto``: the live TCS when ``event_urls`` is set, else the replay."""
    live = cfg.get_urls("urls", "event_urls")
    replay = cfg.get_urls("urls", "ocd_db_replay")
    chosen = cfg.get_str("run", "input")
    if chosen == "auto":
        chosen = "live" if live or not replay else "replay"
    if chosen == "live" and not live:
        raise cfg.error("run", "input", "live", "[urls] event_urls is empty: no TCS to follow")
    if chosen == "replay" and not replay:
        raise cfg.error("run", "input", "replay", "[urls] ocd_db_replay is empty: no replay "
                        "to follow")
    return "replay" if chosen == "replay" else "tcs"


#: Real seconds a mock clock faster than real time waits at least for a TCS heartbeat: they come
#: in real time, a few per real second at most, and a loaded machine delays some.
TCS_TIMEOUT_REAL_FLOOR = 1.0


def orchestrator_settings(cfg: Config, clock: Clock | None = None) -> Settings:
    """The orchestrator's settings from ``[topics]``, ``[run]`` and ``[tcs]``; times in
    OCD-clock seconds (real-time options are converted with ``clock``'s speed)."""
    speed = getattr(clock, "speed", 1.0) if clock is not None and clock.is_mock else 1.0
    return Settings(
        topics=tcs_topics(cfg),
        heartbeat_timeout=max(cfg.get_float("tcs", "heartbeat_timeout"),
                              TCS_TIMEOUT_REAL_FLOOR * speed if speed > 1 else 0.0),
        metrology=MetrologyLimits(max_seeing=cfg.get_float("run", "max_seeing"),
                                  min_transparency=cfg.get_float("run", "min_transparency"),
                                  stale_after=cfg.get_float("run", "metrology_stale_after")),
        error_pause=cfg.get_float("run", "error_pause"),
        shot_silent_after=cfg.get_float("run", "shot_silent_after"),
        reschedule_after=cfg.get_float("run", "reschedule_after"),
        start_timeout=cfg.get_float("run", "start_timeout"),
        schedule_timeout=cfg.get_float("run", "schedule_timeout") * speed,
        status_interval=cfg.get_float("run", "status_interval"),
    )
