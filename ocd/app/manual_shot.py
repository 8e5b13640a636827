"""``ocd run_shot``: one shot run by hand, followed by the main loop through its events.

With ``-e`` the shot's events are published on ``[urls] ocd_run_shot`` at index
``[run_shot] n_ocd_run_shot``, so a running ``ocd run`` sees the shot (its RunShot machine goes
running, then idle) and starts no shot meanwhile. The process also answers heartbeats and
``ocd abort``.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

import zmq.asyncio

from ocd.bus import (
    Event,
    HeartbeatResponder,
    Publisher,
    Subscriber,
    bus_options,
    command_rules,
    enquire,
    find_service,
    security_from_config,
    service_urls,
    sources_of,
)
from ocd.clock import Clock, clock_from_config
from ocd.config import Config
from ocd.core.commands import (
    RequestLog,
    abort_reason,
    ack_payload,
    by_user,
    request_id,
    sender,
)
from ocd.core.topics import COMMAND_ABORT, HEARTBEAT_ENQUIRY, HEARTBEAT_REPLY, RUN_SHOT_ACK
from ocd.errors import Interrupted, OcdError, UsageError
from ocd.obsnum import allocator_from_config, choose_backend, local_numbers_warning, source_line
from ocd.shell.clock_source import choose_clock_now, log_choice
from ocd.shell.mock_guard import confirm_mock_time
from ocd.shell.service import Service, run_service
from ocd.shots.runner import ShotOutcome, ShotRunner, locator_from_config, plan_from_config
from ocd.shots.store import decrement_file, load_shots
from ocd.sky.scheduler import ScheduleSettings
from ocd.sky.track import choose_track
from ocd.tcs.factory import subsystems_from_config

log = logging.getLogger(__name__)

#: How long (real seconds) to wait for a main loop to answer before the first event: a running
#: ``ocd run`` answers within milliseconds; without one the shot still runs, with a warning.
MAIN_LOOP_WAIT = 3.0


class NoPublisher:
    """Stands in for the publisher without ``-e``: the shot's events go nowhere."""

    origin = "local"

    async def publish(self, topic: str, data: dict[str, Any]) -> dict[str, Any]:
        return data


class ManualShot(Service):
    """One ``ocd run_shot`` process: the shot, and (with ``-e``) its events, heartbeat replies
    and ``ocd abort`` answered while it runs."""

    def __init__(self, cfg: Config, clock: Clock, shotid: str, track: str | None,
                 emit: bool) -> None:
        super().__init__("ocd run_shot")
        self.cfg, self.clock, self.emit = cfg, clock, emit
        self.security = security_from_config(cfg)
        shot_file = cfg.get_path("shots", "shot_file")
        if shot_file is None:
            raise cfg.error("shots", "shot_file", "", "a shot file is needed")
        self.shot_file = shot_file
        self.store = load_shots(shot_file)
        shot = self.store.get(shotid)
        if shot is None:
            raise UsageError(f"shot {shotid} is not in {shot_file}")
        if shot.n_obs <= 0:  # before an observation number is taken, whatever the track
            raise UsageError(f"shot {shotid} has n_obs 0 in {shot_file}: it has no visit left "
                             "to observe (raise its n_obs in the file to observe it again)")
        self.shot = shot
        self.track = choose_track(shot, track, clock.utc(),
                                  ScheduleSettings.from_config(cfg))
        self.inputs = locator_from_config(cfg)
        # its star file and ACAM image, before an observation number is taken
        self.inputs.load(shot.shotid, shot.qifu, self.track)
        self.outcome: ShotOutcome | None = None

    async def start(self) -> None:
        cfg, ctx, clock = self.cfg, self.ctx, self.clock
        self.allocator = self.closing(allocator_from_config(cfg, clock))
        choice = choose_backend(cfg)
        log.info("%s", source_line(choice, self.allocator.describe()))
        warning = local_numbers_warning(choice, clock.is_mock)
        if warning:
            log.warning("%s", warning)
        self.allocator.check()
        self.publisher: Publisher | NoPublisher = NoPublisher()
        self.subscriber: Subscriber | None = None
        if self.emit:
            publisher = self.closing(Publisher.for_service(ctx, cfg, "ocd_run_shot", "run_shot",
                                                           clock=clock))
            self.publisher = publisher
            self.responder = HeartbeatResponder(publisher, "ocd_run_shot",
                                                {"ocd_run_shot": publisher.url})
            self.spawn(self.responder.greet(), name="greetings", daemon=True)
            self.subscriber = self.closing(Subscriber.from_config(
                ctx, cfg, sources_of(cfg, ["ocd_allow_hetdex", "ocd_main_loop"]),
                [COMMAND_ABORT, HEARTBEAT_ENQUIRY, HEARTBEAT_REPLY], rules=command_rules()))
            await _wait_for_main_loop(ctx, publisher, self.subscriber, cfg)
            await _wait_for_monitors(publisher)
        else:
            log.warning("running without -e: ocd run will not know about this shot")
        self.subsystems = subsystems_from_config(cfg, ctx, clock)
        self.on_close(self.subsystems.close)
        self.runner = ShotRunner(self.publisher.publish, self.subsystems,
                                 plan_from_config(cfg), self.inputs, clock)

    def _on_signal(self, sig: signal.Signals) -> None:
        """A signal aborts a running shot (it then ends with its finish event, as any abort);
        before the shot starts, it stops the process."""
        runner: ShotRunner | None = getattr(self, "runner", None)
        if runner is not None and runner.running:
            log.info("%s: aborting shot %s", sig.name, self.shot.shotid)
            runner.abort("interrupted")
        else:
            super()._on_signal(sig)

    async def main(self) -> int:
        shotid = self.shot.shotid
        if self.stopping.is_set():
            raise Interrupted(f"interrupted before shot {shotid} started: nothing done")
        observation = self.allocator.allocate(1)[0]
        log.info("running shot %s on track %s as observation %d", shotid, self.track,
                 observation)

        def on_success() -> None:
            # under the file's lock, from the file as it is now: a shot of ocd run that
            # ended meanwhile keeps its decrement
            decrement_file(self.shot_file, shotid)

        if self.subscriber is not None and isinstance(self.publisher, Publisher):
            self.spawn(self._serve_commands(self.subscriber, self.responder),
                       name="command listener")
        self.outcome = await self.runner.run(self.shot.as_dict(), self.track, observation,
                                             on_success)
        return 0 if self.outcome.ok else 1


    async def _serve_commands(self, subscriber: Subscriber,
                              responder: HeartbeatResponder) -> None:
        """Answer heartbeats and ``ocd abort`` while the shot runs; one event's handling
        failing is reported and the next one read."""
        publisher = responder.publisher
        seen = RequestLog()
        while True:
            event: Event = await subscriber.recv()
            with self.guard("event", event.topic):
                if responder.handle_nowait(event) or event.topic != COMMAND_ABORT:
                    continue
                request = request_id(event.payload)
                if request is None or not seen.first_time(request):
                    continue
                shotid = self.runner.current
                ok = self.runner.abort(abort_reason(sender(event.payload), self.clock.utc()))
                await publisher.publish(RUN_SHOT_ACK, ack_payload(
                    request, "abort", ok,
                    f"aborting shot {shotid}{by_user(event.payload)}" if ok
                    else "no shot is running", sender(event.payload)))


def run_manual_shot(cfg: Config, clock: Clock, shotid: str, track: str | None,
                    emit: bool) -> ShotOutcome:
    """Run the shot; its outcome (an OcdError when it could not even start)."""
    service = ManualShot(cfg, clock, shotid, track, emit)
    run_service(service)
    assert service.outcome is not None  # main() always sets it or raises
    return service.outcome


def run_shot(cfg: Config, shotid: str, *, track: str | None, emit: bool,
             assume_yes: bool) -> int:
    """``ocd run_shot``: confirm a mock clock, run the shot, say how it ended."""
    confirm_mock_time(clock_from_config(cfg), assume_yes)
    # after the question: the running main loop's clock, or our own from now
    choice = choose_clock_now(cfg)
    log_choice(choice)
    outcome = run_manual_shot(cfg, choice.clock, shotid, track, emit)
    error = outcome_error(outcome)
    if error is not None:
        raise error
    print(f"shot {outcome.shotid} done: observation {outcome.observation}")
    return 0


async def _wait_for_main_loop(ctx: zmq.asyncio.Context, publisher: Publisher,
                              subscriber: Subscriber, cfg: Config) -> None:
    """Before the first event, make sure a running ``ocd run`` receives ours: a heartbeat
    enquiry sent on our publisher and answered by the main loop proves it subscribes to us
    (a subscriber alone, e.g. a monitor, proves nothing about the main loop). Without a main
    loop on the bus (nobody greets on its addresses) the shot starts at once."""
    urls = service_urls(cfg, "ocd_main_loop")
    if await find_service(ctx, urls, "ocd_main_loop", options=bus_options(cfg),
                  security=security_from_config(cfg)) is None:
        log.warning("no ocd run on %s: running the shot anyway (nothing follows it but "
                    "monitors)", ", ".join(urls))
        return
    replies = await enquire(publisher, subscriber, timeout=MAIN_LOOP_WAIT,
                            interval=bus_options(cfg).enquiry_interval, first=True,
                            accept=lambda event: event.payload.get("service") == "ocd_main_loop")
    if not replies:
        log.warning("no ocd run answered within %g s: running the shot anyway (nothing "
                    "follows it but monitors)", MAIN_LOOP_WAIT)


async def _wait_for_monitors(publisher: Publisher) -> None:
    """Before the first event, let every subscriber that was waiting for this address join,
    so that monitors see the shot from its start: see doc/bus.md, "First events"."""
    count = await publisher.wait_for_monitors()
    log.info("%d subscription(s) on %s: starting the shot", count, publisher.url)


def outcome_error(outcome: ShotOutcome) -> OcdError | None:
    """The one-line error for a shot that did not succeed."""
    if outcome.ok:
        return None
    if outcome.aborted:
        return OcdError(f"shot {outcome.shotid} (observation {outcome.observation}) "
                        f"{outcome.exc_value}")
    return OcdError(f"shot {outcome.shotid} (observation {outcome.observation}) failed: "
                    f"{outcome.exc_type}: {outcome.exc_value}")
