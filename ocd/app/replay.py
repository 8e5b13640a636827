"""``ocd db_replay``: replay a recorded night instead of a live TCS."""

from __future__ import annotations

import logging
import signal
import sqlite3
from pathlib import Path
from typing import Any

from ocd.bus import Publisher, bind_url, security_from_config, service_urls
from ocd.clock import Clock, clock_from_config
from ocd.config import Config
from ocd.core.topics import OCD_PREFIX
from ocd.errors import ConfigError, Interrupted, OcdError, UsageError, printable_lines
from ocd.recording.pacing import clock_warnings
from ocd.recording.replay import ReplayPlan, ReplayResult, SendGuard, replay
from ocd.recording.store import GuardedRecording, inspect, open_for_replay, recorded_clock
from ocd.shell.progress import Progress
from ocd.shell.service import STOP_SIGNALS, Service, run_service
from ocd.timetext import day_hms_utc

log = logging.getLogger("ocd.db_replay")


def replay_url(cfg: Config) -> str:
    if not service_urls(cfg, "ocd_db_replay"):
        raise ConfigError(
            "[urls] ocd_db_replay is empty: set the address to replay on, e.g. --set "
            "urls.ocd_db_replay=tcp://127.0.0.1:6603, and give ocd run the same address with "
            "--replay")
    return bind_url(cfg, "ocd_db_replay", "db_replay")


class Replayer(Service):
    """One ``ocd db_replay`` process: wait for the subscribers, then send the night."""

    def __init__(self, cfg: Config, url: str, conn: sqlite3.Connection, plan: ReplayPlan,
                 subscribers: int, wait: float, progress: Progress, clock: Clock) -> None:
        super().__init__("ocd db_replay")
        self.cfg, self.url, self.conn, self.plan, self.clock = cfg, url, conn, plan, clock
        self.security = security_from_config(cfg)
        self.subscribers, self.wait, self.progress = subscribers, wait, progress
        self.result: ReplayResult | None = None

    async def start(self) -> None:
        self.publisher = self.closing(Publisher.for_service(self.ctx, self.cfg, "ocd_db_replay",
                                                            "db_replay", clock=self.clock))

    async def main(self) -> int:
        self.spawn(self._cancel_reads_at_stop(), name="cancel reads at stop", daemon=True)
        plan = self.plan
        log.info("replaying on %s at %s; waiting for %d subscriber(s)", self.publisher.url,
                 f"{plan.speedup:g}x" if plan.speedup else "full speed", self.subscribers)
        try:
            await self.wait_until_stopped(self.publisher.wait_for_subscribers(
                self.subscribers, self.wait if self.wait > 0 else float("inf")))
        except TimeoutError as exc:
            raise OcdError(f"no subscriber on {self.url}: {exc}; start ocd run --replay "
                           "(with [urls] ocd_db_replay set to it), ocd record, or ocd listen "
                           "--replay") from None
        if self.stopping.is_set():
            raise OcdError("stopped while waiting for a subscriber: nothing replayed")
        log.info("%d subscriber(s) on %s: replaying", self.subscribers, self.publisher.url)
        guard = SendGuard()
        self._interrupt_sends_on_signals(guard)
        self.result = await replay(self.publisher, self.conn, plan, self.stopping,
                                   self.progress, guard=guard)
        return 0

    def _interrupt_sends_on_signals(self, guard: SendGuard) -> None:
        """A stop signal also ends a send that waits for a full subscriber queue: libzmq
        waits inside the send, but lets Python signal handlers run, so the handler the event
        loop installed (which only wakes the loop) is chained with ``guard``'s."""
        for sig in STOP_SIGNALS:
            previous = signal.getsignal(sig)

            def handler(signum: int, frame: Any, previous: Any = previous) -> None:
                if callable(previous):
                    previous(signum, frame)
                guard.interrupt()

            signal.signal(sig, handler)


    async def _cancel_reads_at_stop(self) -> None:
        """A stop interrupts the read of the recording under way (in a worker thread)."""
        await self.stopping.wait()
        if isinstance(self.conn, GuardedRecording):
            self.conn.cancel()


class _CancelReads:
    """SIGINT and SIGTERM before the replay starts: the read of the recording under way is
    cancelled (an SQLite statement would not let a signal in until it ends) and the command
    ends at once."""

    def __init__(self) -> None:
        self.conn: GuardedRecording | None = None
        self._before: dict[int, Any] = {}

    def __enter__(self) -> _CancelReads:
        for sig in STOP_SIGNALS:
            self._before[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._before.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.conn is not None:
            self.conn.cancel()
        raise Interrupted(f"{signal.Signals(signum).name} before the replay started: nothing "
                          "replayed")


def run_db_replay(cfg: Config, db: Path, *, speedup: float | None, sort_by: str,
                  topics: list[str], loop: bool, subscribers: int, wait: float | None) -> int:
    """``ocd db_replay``: check the recording, replay it, print the summary."""
    speedup = speedup if speedup is not None else cfg.get_float("db_replay", "speedup")
    wait = wait if wait is not None else cfg.get_float("db_replay", "wait_subscriber")
    if wait < 0:
        raise UsageError("--wait must be 0 (forever) or positive")
    if subscribers < 1:
        raise UsageError("--subscribers must be at least 1")
    url = replay_url(cfg)
    with _CancelReads() as cancel:
        cancel.conn = conn = open_for_replay(db)
        try:
            replayer = _prepare(cfg, db, conn, url, speedup=speedup, sort_by=sort_by,
                                topics=topics, loop=loop, subscribers=subscribers, wait=wait)
        except BaseException:
            conn.close()
            raise
    try:
        run_service(replayer)
    finally:
        conn.close()
    assert replayer.result is not None
    print(printable_lines(f"ocd db_replay: {replayer.result.summary(db)}"))
    return 0


def _prepare(cfg: Config, db: Path, conn: GuardedRecording, url: str, *, speedup: float,
             sort_by: str, topics: list[str], loop: bool, subscribers: int, wait: float
             ) -> Replayer:
    """Check what the recording holds, say it, and make the replaying service."""
    chosen = tuple(dict.fromkeys(topics)) or ("",)
    plan = ReplayPlan(sort_by=sort_by, topics=chosen, speedup=speedup, loop=loop,
                      send_wait=cfg.get_float("bus", "heartbeat_timeout"))
    selection = inspect(conn, plan.sort_by, plan.topics)
    if selection.count == 0:
        raise OcdError(f"{db}: no event to replay (topics "
                       f"{', '.join(repr(t) for t in chosen)})")
    clock = clock_from_config(cfg)
    night = recorded_clock(conn, chosen)
    log.info("%s: %d events of %d topic(s) over %.1f recorded s, recorded on %s",
             db, selection.count, len(selection.topics), selection.span,
             f"a mock clock at {night.speed:.3g}x" if night.mocked else "the real clock")
    if night.start is not None and night.end is not None:
        log.info("recorded night: %s to %s", day_hms_utc(night.start),
                 day_hms_utc(night.end))
    own = [t for t in selection.topics if t.startswith(OCD_PREFIX)]
    if own:
        log.warning("the replay includes %d OCD event(s) (%s...): an ocd run following it "
                    "acts on them; replay only the TCS with -t tcs. -t pas.",
                    sum(selection.topics[t] for t in own), own[0])
    clock_speed = getattr(clock, "speed", 1.0) if clock.is_mock else 1.0
    for warning in clock_warnings(speedup, night, clock_speed, getattr(clock, "start", None)):
        log.warning("%s", warning)
    return Replayer(cfg, url, conn, plan, subscribers, wait, Progress(selection.count),
                    clock)
