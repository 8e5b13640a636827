"""Running one HETDEX shot: telescope set-up, then dithered exposures, every step an event.

The same runner serves ``ocd run`` (automatic shots) and ``ocd run_shot -e`` (a shot by hand);
in both the main loop follows the shot only through the ``ocd.run_shot.*`` events. Events carry
exactly the fields of the original OCD plus every key of the shot:

- ``ocd.run_shot.run`` at the start, and at the end with ``error``, ``exc_type``,
  ``exc_value``, ``traceback`` (also ``observation`` and ``obs_track``, OCD's additions);
- ``ocd.run_shot.setup_telescope`` at the start and end of the set-up;
- ``ocd.run_shot.exp_hetdex`` at the start and end of each exposure, with ``exposure``,
  ``seconds``, ``observation``, ``object``, ``shotid``, ``recipe``, ``x_binning``,
  ``y_binning``, ``type`` (and ``exposures``, how many the shot has: OCD's addition);
- ``ocd.run_shot.progress`` (OCD's addition): every ``progress_interval`` OCD-clock seconds
  while a subsystem command is pending, which one and for how long, so that the main loop's
  silence rule can tell a shot waiting on the telescope from a shot whose process died.

How a start is told from an end on the wire is :mod:`ocd.core.events`' business: the payloads
are built there. A failed step publishes no end of its own: the ``run`` finish carries the
error, also when the shot is cancelled (a process stopping within its stop timeout).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import traceback as tb
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ocd.clock import Clock, real_seconds
from ocd.core.events import ABORTED, shot_ended_payload, shot_started_payload, step_payload
from ocd.core.topics import (
    RUN_SHOT_EXP_HETDEX,
    RUN_SHOT_PROGRESS,
    RUN_SHOT_RUN,
    RUN_SHOT_SETUP_TELESCOPE,
)
from ocd.errors import MAX_ERROR_CHARS, cut
from ocd.shots.inputs import InputLocator, ShotInputs
from ocd.tcs.interface import Subsystems, TcsError

log = logging.getLogger(__name__)

#: Real seconds between the lines that say what an aborted shot still waits for.
ABORT_REPORT_EVERY = 10.0
#: Real seconds the telescope gets to acknowledge the stop of an aborted slew or dither.
STOP_WAIT = 4.0
#: The commands an abort cuts short by stopping the telescope.
_STOPPED_BY_TCS = ("tcs.goto", "tcs.dither")

Publish = Callable[[str, dict[str, Any]], Awaitable[Any]]


class ShotAborted(Exception):
    """The shot was aborted on request (``ocd abort``, or a shutdown that aborts)."""


@dataclass(frozen=True)
class ExposurePlan:
    """How a shot is exposed, from ``[run_shot]``."""

    exposure_time: float = 360.0
    dithers: tuple[tuple[float, float], ...] = ((0.0, 0.0), (1.27, -0.73), (1.27, 0.73))
    recipe: str = "hetdex"
    x_binning: int = 2
    y_binning: int = 1
    image_type: str = "sci"
    abort_exposure: bool = True  # on abort: stop the exposure now (True) or let it finish
    #: OCD-clock seconds between ``ocd.run_shot.progress`` events while a command is pending.
    progress_interval: float = 30.0

    @property
    def n_exposures(self) -> int:
        return len(self.dithers)


def parse_dithers(text: str) -> tuple[tuple[float, float], ...]:
    """``"0 0, 1.27 -0.73, 1.27 0.73"`` -> offsets in arcsec; one pair per exposure."""
    pairs = []
    for item in text.split(","):
        parts = item.split()
        if len(parts) != 2:
            raise ValueError(f"{item.strip()!r} is not a 'dx dy' pair")
        pairs.append((float(parts[0]), float(parts[1])))
    if not pairs:
        raise ValueError("at least one dither position is needed")
    return tuple(pairs)


@dataclass(frozen=True)
class ShotOutcome:
    """How a shot ended."""

    shotid: str
    observation: int
    ok: bool
    aborted: bool = False
    exc_type: str | None = None
    exc_value: str | None = None


#: Runs a reading function off the loop within a deadline (``what`` names it in the error).
ReadFiles = Callable[[Callable[[], ShotInputs], str], Awaitable[ShotInputs]]


class ShotRunner:
    """Runs shots one at a time; :meth:`abort` stops the current one at the next safe point."""

    def __init__(self, publish: Publish, subsystems: Subsystems, plan: ExposurePlan,
                 inputs: InputLocator, clock: Clock) -> None:
        self.publish = publish
        self.subsystems = subsystems
        self.plan = plan
        self.inputs = inputs
        self.clock: Clock = clock
        self.current: str | None = None
        self._progress: dict[str, Any] = {}
        self._abort_reason: str | None = None
        #: Set by :meth:`abort`: wakes the wait on the pending subsystem command at once.
        self._abort_requested = asyncio.Event()
        self._exposing = False
        #: The abort of an exposure in flight, kept until it is done.
        self._aborting: asyncio.Task[None] | None = None
        #: How a shot's input files are read: in the loop when None (their reads are bounded;
        #: a simulation's virtual loop has no threads); ``ocd run`` reads them in a thread of
        #: its own within a deadline.
        self.read_files: ReadFiles | None = None

    @property
    def running(self) -> bool:
        return self.current is not None

    def abort(self, reason: str = "aborted") -> bool:
        """Ask the running shot to stop; False when no shot runs."""
        if self.current is None:
            return False
        self._abort_reason = reason
        self._abort_requested.set()
        if self._exposing and self.plan.abort_exposure and (
                self._aborting is None or self._aborting.done()):
            self._aborting = asyncio.ensure_future(self._abort_exposure())
        return True

    async def _abort_exposure(self) -> None:
        try:
            await self.subsystems.command("virus", "abort")
        except Exception as exc:  # a task of its own: its failure must be said, not lost
            log.error("could not abort the exposure: %s: %s", type(exc).__name__, exc)

    def _check_abort(self) -> None:
        if self._abort_reason is not None:
            raise ShotAborted(self._abort_reason)

    async def run(self, shot: dict[str, Any], track: str, observation: int,
                  on_success: Callable[[], None] | None = None) -> ShotOutcome:
        """Run ``shot`` (its ``as_dict()``) on ``track`` ('E'/'W') as observation number
        ``observation``. ``on_success`` runs after the last exposure, before the finish event
        (it decrements ``n_obs`` and writes the shot file)."""
        if self.current is not None:
            raise RuntimeError(f"shot {self.current} is already running")
        shotid = str(shot["shotid"])
        self.current, self._abort_reason = shotid, None
        self._abort_requested.clear()
        self._progress = {"shotid": shotid, "observation": observation}
        base = {**shot, "observation": observation, "obs_track": track}
        await self.publish(RUN_SHOT_RUN, shot_started_payload(base))
        outcome: ShotOutcome
        ended: dict[str, Any]
        try:
            await self._setup(shot, track)
            for number, (dx, dy) in enumerate(self.plan.dithers, start=1):
                await self._expose(shot, observation, number, dx, dy)
            if on_success is not None:
                try:
                    on_success()
                except Exception as exc:  # the data are taken: the shot still succeeded
                    log.error("shot %s done, but updating the shot list failed: %s", shotid, exc)
            outcome = ShotOutcome(shotid, observation, ok=True)
            ended = shot_ended_payload(base, error=False)
        except asyncio.CancelledError:
            # stopped from outside (a stop timeout): the finish is still published, then the
            # cancellation goes on
            self.current, self._exposing = None, False
            reason = self._abort_reason or "cancelled"
            await self.publish(RUN_SHOT_RUN, shot_ended_payload(
                base, error=True, exc_type=ABORTED, exc_value=reason))
            raise
        except Exception as exc:
            aborted = isinstance(exc, ShotAborted) or (
                self._abort_reason is not None and isinstance(exc, TcsError))
            exc_type = ABORTED if aborted else type(exc).__name__
            exc_value = cut((self._abort_reason or "aborted") if aborted else str(exc),
                            MAX_ERROR_CHARS)
            if not aborted:
                log.error("shot %s failed: %s: %s", shotid, exc_type, exc_value)
            outcome = ShotOutcome(shotid, observation, ok=False, aborted=aborted,
                                  exc_type=exc_type, exc_value=exc_value)
            ended = shot_ended_payload(base, error=True, exc_type=exc_type, exc_value=exc_value,
                                       traceback=cut("".join(tb.format_exception(exc)),
                                                     4 * MAX_ERROR_CHARS))
        finally:
            self.current = None
            self._exposing = False
        await self.publish(RUN_SHOT_RUN, ended)
        return outcome

    async def _setup(self, shot: dict[str, Any], track: str) -> None:
        self._check_abort()
        await self.publish(RUN_SHOT_SETUP_TELESCOPE, step_payload(shot, "started"))
        load = functools.partial(self.inputs.load, str(shot["shotid"]),
                                 str(shot.get("qifu", "")), track)
        inputs = load() if self.read_files is None else await self.read_files(load, "inputs")
        self._progress.update(step="setup_telescope", exposure=None)
        await self._command("tcs", "goto", ra=shot["ra"], dec=shot["dec"], track=track)
        self._check_abort()
        await self._command("pas", "setup_guiders", stars=[s.as_dict() for s in inputs.stars])
        await self._command("pfip", "acam_image", path=str(inputs.acam_image))
        self._check_abort()
        await self.publish(RUN_SHOT_SETUP_TELESCOPE, step_payload(shot, "finished"))

    async def _expose(self, shot: dict[str, Any], observation: int, number: int, dx: float,
                      dy: float) -> None:
        self._check_abort()
        self._progress.update(step="exposure", exposure=number)
        await self._command("tcs", "dither", dx=dx, dy=dy)
        self._check_abort()
        plan = self.plan
        fields = {"exposure": number, "exposures": plan.n_exposures,
                  "seconds": plan.exposure_time,
                  "observation": observation, "object": shot.get("qobject", ""),
                  "shotid": shot["shotid"], "recipe": plan.recipe,
                  "x_binning": plan.x_binning, "y_binning": plan.y_binning,
                  "type": plan.image_type}
        await self.publish(RUN_SHOT_EXP_HETDEX, step_payload({**shot, **fields}, "started"))
        if self.plan.abort_exposure:
            self._check_abort()  # aborted while announcing it: do not start the exposure
        self._exposing = True  # from here an abort reaches the exposure in flight
        try:
            await self._command(
                "virus", "expose", seconds=plan.exposure_time, observation=observation,
                exposure=number, object=fields["object"], recipe=plan.recipe,
                x_binning=plan.x_binning, y_binning=plan.y_binning, type=plan.image_type)
        finally:
            self._exposing = False
        await self.publish(RUN_SHOT_EXP_HETDEX, step_payload({**shot, **fields}, "finished"))
        self._check_abort()


    async def _command(self, subsystem: str, command: str, **params: Any) -> dict[str, Any]:
        """One subsystem command; while it is pending, ``ocd.run_shot.progress`` every
        ``progress_interval`` OCD-clock seconds says so. An abort cuts it short at once (a
        slew or dither is stopped, an exposure aborted), except an exposure with
        ``abort_exposure`` off, which the shot waits for, saying so every
        :data:`ABORT_REPORT_EVERY` seconds."""
        call = asyncio.ensure_future(self.subsystems.command(subsystem, command, **params))
        pending = f"{subsystem}.{command}"
        interval = real_seconds(self.clock, self.plan.progress_interval)
        loop = asyncio.get_running_loop()
        began, next_progress = self.clock.timestamp(), loop.time() + interval
        next_report: float | None = None
        try:
            while True:
                now = loop.time()
                wake = min(next_progress, next_report if next_report is not None else now + 3600)
                waits: set[asyncio.Future[Any]] = {call}
                if next_report is None:
                    waits.add(asyncio.ensure_future(self._abort_requested.wait()))
                done, _ = await asyncio.wait(waits, timeout=max(0.0, wake - now),
                                             return_when=asyncio.FIRST_COMPLETED)
                for waiter in waits - {call}:
                    waiter.cancel()
                if call in done:
                    return call.result()
                if self._abort_reason is not None and next_report is None:
                    if not (self._exposing and not self.plan.abort_exposure):
                        await self._stop(pending)
                        raise ShotAborted(self._abort_reason)
                    next_report = loop.time()  # the exposure is let finish
                if next_report is not None and loop.time() >= next_report:
                    log.warning("shot %s aborted (%s): waiting for %s to finish "
                                "([run_shot] abort_exposure = false), %.0f s so far",
                                self.current, self._abort_reason, pending,
                                self.clock.timestamp() - began)
                    next_report = loop.time() + ABORT_REPORT_EVERY
                if loop.time() >= next_progress:
                    next_progress = loop.time() + interval
                    await self.publish(RUN_SHOT_PROGRESS, {
                        **self._progress, "pending": pending,
                        "waited": round(self.clock.timestamp() - began, 3)})
        finally:
            if not call.done():
                call.cancel()
                await asyncio.gather(call, return_exceptions=True)

    async def _stop(self, pending: str) -> None:
        """An abort cuts ``pending`` short: a slew or dither is stopped (the telescope gets
        :data:`STOP_WAIT` seconds to say so); an exposure was aborted by :meth:`abort`."""
        log.info("shot %s: %s, %s cut short", self.current, self._abort_reason, pending)
        if pending not in _STOPPED_BY_TCS:
            return
        try:
            await asyncio.wait_for(self.subsystems.command("tcs", "stop"), STOP_WAIT)
        except (TcsError, asyncio.TimeoutError) as exc:
            log.error("shot %s aborted, but the telescope did not confirm its stop: %s",
                      self.current, exc or "no answer")


def plan_from_config(cfg: Any) -> ExposurePlan:
    """The exposure plan from ``[run_shot]``; a bad ``dithers`` value names the option."""
    text = cfg.get_str("run_shot", "dithers")
    try:
        dithers = parse_dithers(text)
    except ValueError as exc:
        raise cfg.error("run_shot", "dithers", text, str(exc)) from None
    return ExposurePlan(
        exposure_time=cfg.get_float("run_shot", "exposure_time"), dithers=dithers,
        recipe=cfg.get_str("run_shot", "recipe"),
        x_binning=cfg.get_int("run_shot", "x_binning"),
        y_binning=cfg.get_int("run_shot", "y_binning"),
        image_type=cfg.get_str("run_shot", "image_type"),
        abort_exposure=cfg.get_bool("run_shot", "abort_exposure"),
        progress_interval=cfg.get_float("run_shot", "progress_interval"))


def locator_from_config(cfg: Any) -> InputLocator:
    """Where per-shot input files are, from ``[run_shot]``."""
    return InputLocator(
        shuffle_dir=cfg.get_path("run_shot", "shuffle_dir"),
        shuffle_template=cfg.get_str("run_shot", "shuffle_conf_template"),
        acam_dir=cfg.get_path("run_shot", "acam_dir"),
        acam_template=cfg.get_str("run_shot", "acam_image_template"))
