"""``ocd run_shot``: one shot run by hand, followed by the main loop through its events.

With ``-e`` the shot's events are published on ``[urls] ocd_run_shot`` at index
``[run_shot] n_ocd_run_shot``, so a running ``ocd run`` sees the shot (its RunShot machine goes
running, then idle) and starts no shot meanwhile. The process also answers heartbeats and
``ocd abort``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

import zmq.asyncio

from ocd.bus import (
    Event,
    HeartbeatResponder,
    Publisher,
    Subscriber,
    bus_options,
    connect_urls,
    enquire,
)
from ocd.clock import Clock
from ocd.config import Config
from ocd.errors import OcdError, UsageError
from ocd.obsnum import allocator_from_config, choose_backend, local_numbers_warning, source_line
from ocd.run_shot import ShotOutcome, ShotRunner, locator_from_config, plan_from_config
from ocd.schedule import ScheduleSettings, choose
from ocd.shots import Shot, load_shots
from ocd.tcs.factory import subsystems_from_config

log = logging.getLogger(__name__)

#: How long (real seconds) to wait for a main loop to answer before the first event: a running
#: ``ocd run`` answers within milliseconds; without one the shot still runs, with a warning.
MAIN_LOOP_WAIT = 3.0


def choose_track(shot: Shot, track: str | None, clock: Clock, cfg: Config) -> str:
    """The track to use: ``--track``, else the shot's forced track, else the one the built-in
    scheduler finds observable now."""
    if track is not None:
        return track
    if shot.track in (0, 1):
        return "EW"[shot.track]
    result = choose([shot], clock.utc(), settings=ScheduleSettings.from_config(cfg))
    usable = [c for c in result.candidates if c.observable]
    if not usable:
        reasons = "; ".join(f"{c.track}: {c.reason}" for c in result.candidates) or result.reason
        raise UsageError(f"shot {shot.shotid} has no observable track now ({reasons}): "
                         "give --track E or --track W to run it anyway")
    return usable[0].track


class NoPublisher:
    """Stands in for the publisher without ``-e``: the shot's events go nowhere."""

    origin = "local"

    async def publish(self, topic: str, data: dict[str, Any]) -> dict[str, Any]:
        return data


async def run_manual_shot(cfg: Config, clock: Clock, shotid: str, track: str | None,
                          emit: bool) -> ShotOutcome:
    shot_file: Path = cfg.get("shots", "shot_file")
    store = load_shots(shot_file)
    shot = store.get(shotid)
    if shot is None:
        raise UsageError(f"shot {shotid} is not in {shot_file}")
    chosen = choose_track(shot, track, clock, cfg)
    ctx = zmq.asyncio.Context()
    with contextlib.ExitStack() as resources:  # closed in reverse order
        resources.callback(ctx.term)
        allocator = allocator_from_config(cfg, clock)
        resources.callback(allocator.close)
        choice = choose_backend(cfg)
        log.info("%s", source_line(choice, allocator.describe()))
        warning = local_numbers_warning(choice, clock.is_mock)
        if warning:
            log.warning("%s", warning)
        allocator.check()
        publisher: Publisher | NoPublisher = NoPublisher()
        subscriber = None
        if emit:
            publisher = Publisher.for_service(ctx, cfg, "ocd_run_shot", "run_shot", clock=clock)
            resources.callback(publisher.close)
            subscriber = Subscriber.from_config(
                ctx, cfg, connect_urls(cfg, ["ocd_allow_hetdex", "ocd_main_loop"]),
                ["ocd.command.abort", "ocd.heartbeat.enquiry", "ocd.heartbeat.reply"])
            resources.callback(subscriber.close)
            await _wait_for_main_loop(publisher, subscriber, cfg)
        else:
            log.warning("running without -e: ocd run will not know about this shot")
        subsystems = subsystems_from_config(cfg, ctx, clock)
        runner = ShotRunner(publisher.publish, subsystems, plan_from_config(cfg),
                            locator_from_config(cfg))
        observation = allocator.allocate(1)[0]
        log.info("running shot %s on track %s as observation %d", shotid, chosen, observation)

        def on_success() -> None:
            store.decrement(shotid)
            store.write(shot_file)

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, runner.abort, "interrupted")
        listener = None
        if subscriber is not None and isinstance(publisher, Publisher):
            listener = asyncio.ensure_future(_serve_commands(subscriber, publisher, runner))
        try:
            return await runner.run(shot.as_dict(), chosen, observation, on_success)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
            await subsystems.close()


async def _wait_for_main_loop(publisher: Publisher, subscriber: Subscriber,
                              cfg: Config) -> None:
    """Before the first event, make sure a running ``ocd run`` receives ours: a heartbeat
    enquiry sent on our publisher and answered by the main loop proves it subscribes to us
    (a subscriber alone, e.g. a monitor, proves nothing about the main loop)."""
    replies = await enquire(publisher, subscriber, timeout=MAIN_LOOP_WAIT,
                            interval=bus_options(cfg).enquiry_interval, first=True,
                            accept=lambda event: event.payload.get("service") == "ocd_main_loop")
    if not replies:
        log.warning("no ocd run answered within %g s: running the shot anyway (nothing "
                    "follows it but monitors)", MAIN_LOOP_WAIT)


async def _serve_commands(subscriber: Subscriber, publisher: Publisher,
                          runner: ShotRunner) -> None:
    """Answer heartbeats and ``ocd abort`` while the shot runs."""
    responder = HeartbeatResponder(publisher, "ocd_run_shot")
    seen: set[str] = set()
    while True:
        event: Event = await subscriber.recv()
        if responder.handle_nowait(event) or event.topic != "ocd.command.abort":
            continue
        request_id = str(event.payload.get("id") or "")
        if not request_id or request_id in seen:
            continue
        seen.add(request_id)
        shotid = runner.current
        ok = runner.abort("aborted")
        await publisher.publish("ocd.run_shot.ack", {
            "id": request_id, "command": "abort", "ok": ok,
            "message": f"aborting shot {shotid}" if ok else "no shot is running"})


def outcome_error(outcome: ShotOutcome) -> OcdError | None:
    """The one-line error for a shot that did not succeed."""
    if outcome.ok:
        return None
    return OcdError(f"shot {outcome.shotid} (observation {outcome.observation}) failed: "
                    f"{outcome.exc_type}: {outcome.exc_value}")
