"""The board's cockpit: what an astronomer reads first, beside what the bus says.

Two panels the page shows in its header and on the sky chart, computed here off the event loop
(astropy and the night's simulation are slow):

* ``almanac``: the Sun's altitude, the dark time (the page counts down to dark and to dawn),
  the Moon (altitude, azimuth, lit fraction) and its distance from the running and the next
  shot, once per minute of OCD's clock (at most every ``ALMANAC_MIN_GAP`` real seconds: a
  fast mock clock turns a minute a second);
* ``next``: the shots OCD expects to run tonight, from the same code as ``ocd plan``
  (:func:`~ocd.app.simulation.plan.expected_night`), planned again when the shot list, the
  shots done or the conditions change, one plan at a time and at most once per
  ``NEXT_MIN_GAP`` real seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ocd.app.simulation.plan import expected_night, expected_shots, plan_end
from ocd.bus import RateLimitedLog
from ocd.clock import Clock
from ocd.config import Config
from ocd.core import events as ev
from ocd.errors import OcdError
from ocd.monitor.night import NightView
from ocd.obsnum import allocator_from_config, choose_backend, source_line
from ocd.shots.store import file_stamp, load_shots
from ocd.sky.almanac import almanac, separation
from ocd.timetext import HET_ZONE

log = logging.getLogger("ocd.board")

#: The cockpit's panels (after the night's).
COCKPIT_PANELS = ("almanac", "next")
#: Real seconds between two looks at whether the almanac or the plan is due.
LOOK_EVERY = 1.0
#: Real seconds between two almanacs at least (a fast mock clock turns a minute a second, and
#: astropy takes a few tenths of a second of CPU a call), unless OCD's clock jumped.
ALMANAC_MIN_GAP, CLOCK_JUMP = 5.0, 600.0
#: Real seconds between two plans at least (a plan is a simulation of the rest of the night).
NEXT_MIN_GAP = 30.0
#: Expected shots shown.
MAX_NEXT = 12
#: Steps in which conditions must change to plan again (arcseconds, fraction).
SEEING_STEP, TRANSPARENCY_STEP = 0.25, 0.05


T = TypeVar("T")

#: The cockpit's threads still inside their work (see :func:`work_in_progress`).
_WORKING: set[threading.Thread] = set()


def work_in_progress() -> bool:
    """Whether a cockpit thread is still inside astropy or a plan. The interpreter's end
    would stop it mid-call (a daemon thread is ended by ``pthread_exit``, which aborts the
    process when compiled C++ code is on its stack: "terminate called without an active
    exception"), so the board's command then ends the process without that step."""
    return any(thread.is_alive() for thread in list(_WORKING))


async def in_daemon_thread(work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` in a daemon thread of its own, awaited: unlike ``asyncio.to_thread``
    (whose threads the end of the process waits for), a plan of the night or astropy's first
    import never holds up the board's stop. One thread at a time: the cockpit awaits each."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, error = work(*args), None
        except Exception as exc:
            result, error = None, exc
        finally:
            _WORKING.discard(threading.current_thread())
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle, result, error)

    thread = threading.Thread(target=run, name="board cockpit", daemon=True)
    _WORKING.add(thread)
    thread.start()
    return await future


def _step(value: float | None, step: float) -> int | None:
    return None if value is None else round(value / step)


def obsnum_source(cfg: Config, clock: Clock) -> str:
    """Where observation numbers come from by the board's configuration, in the words of
    ``ocd run``'s start-up line (backend and database, never the password; nothing is
    opened). The page shows the main loop's own line once it hears it start."""
    try:
        allocator = allocator_from_config(cfg, clock, update=False)
    except OcdError as exc:
        return f"observation numbers: {exc}"
    try:
        return source_line(choose_backend(cfg), allocator.describe()) + \
            " (by the board's configuration)"
    finally:
        allocator.close()


class Cockpit:
    """The almanac and the expected shots, kept up to date by :meth:`run`."""

    def __init__(self, cfg: Config, view: NightView, now: Callable[[], float],
                 changed: Callable[[set[str]], None], clock: Clock) -> None:
        self.cfg, self.view, self.now, self.changed = cfg, view, now, changed
        self.obsnum = obsnum_source(cfg, clock)
        self.sun_limit = cfg.get_float("schedule", "sun_altitude")
        self.shot_file: Path | None = cfg.get_path("shots", "shot_file")
        self.almanac: dict[str, Any] | None = None
        self.almanac_error: str | None = None
        self.next: dict[str, Any] = {"shots": [], "t": None, "seeing": None,
                                     "transparency": None, "error": None}
        #: Where each shot of the list is (RA hours, Dec degrees), from the last plan.
        self.positions: dict[str, tuple[float, float]] = {}
        self.plans = 0
        self._limited = RateLimitedLog(log, 60.0)

    async def run(self) -> None:
        """Keep both panels up to date (a task of the board)."""
        minute: int | None = None
        key: tuple[Any, ...] | None = None
        planned_at = computed_at = -math.inf
        computed_for = self.now()
        while True:
            now = self.now()
            if minute != int(now // 60) and (
                    time.monotonic() - computed_at >= ALMANAC_MIN_GAP
                    or abs(now - computed_for) >= CLOCK_JUMP):
                minute, computed_at, computed_for = int(now // 60), time.monotonic(), now
                await self._update_almanac(now)
            new_key = self._plan_key()
            if new_key != key and time.monotonic() - planned_at >= NEXT_MIN_GAP:
                key, planned_at = new_key, time.monotonic()
                await self._update_next(now)
            await asyncio.sleep(LOOK_EVERY)

    # -- the almanac -------------------------------------------------------------------------
    async def _update_almanac(self, now: float) -> None:
        try:
            found = await in_daemon_thread(almanac, now, self.sun_limit)
        except Exception as exc:  # astropy out of its tables, say: the page says so
            self.almanac_error = f"{type(exc).__name__}: {exc}"[:300]
            self._limited.warning("almanac", f"cannot compute the Sun and the Moon: "
                                  f"{self.almanac_error}")
        else:
            self.almanac, self.almanac_error = found.as_dict(), None
        self.changed({"almanac"})

    def moon_distances(self) -> dict[str, Any]:
        """The Moon's distance (degrees) from the running shot and the next expected one."""
        found: dict[str, Any] = {"running": None, "next": None}
        if self.almanac is None:
            return found
        moon = self.almanac["moon"]
        shot = self.view.shot
        running = shot["shotid"] if shot is not None and shot["state"] == ev.RUNNING else None
        upcoming = self._next_shot(running)
        for name, shotid in (("running", running), ("next", upcoming)):
            place = self.positions.get(shotid) if shotid is not None else None
            if place is not None:
                found[name] = {"shotid": shotid, "degrees": round(
                    separation(moon["ra"], moon["dec"], *place), 1)}
        return found

    def _next_shot(self, running: str | None) -> str | None:
        now = self.now()
        for shot in self.next["shots"]:
            ends = shot["end"] if shot["end"] is not None else math.inf
            if ends > now and shot["shotid"] != running:
                return str(shot["shotid"])
        return None

    # -- the expected shots ------------------------------------------------------------------
    def _plan_key(self) -> tuple[Any, ...]:
        """What the plan depends on: the shot list, the shots ended, the conditions."""
        stamp = file_stamp(self.shot_file) if self.shot_file is not None else None
        ended = len(self.view.tally.shots)
        c = self.view.conditions
        return (stamp, ended, _step(c["seeing"], SEEING_STEP),
                _step(c["transparency"], TRANSPARENCY_STEP))

    async def _update_next(self, now: float) -> None:
        c = self.view.conditions
        seeing = c["seeing"] if c["seeing"] is not None else self.cfg.get_float(
            "sim_tcs", "seeing")
        transparency = c["transparency"] if c["transparency"] is not None \
            else self.cfg.get_float("sim_tcs", "transparency")
        try:
            shots, positions = await in_daemon_thread(self._plan, now, seeing, transparency)
        except (OcdError, ValueError) as exc:
            error = str(exc)[:300]
            self._limited.warning("plan", f"cannot plan the rest of the night: {error}")
            self.next = {**self.next, "error": error}
        else:
            self.plans += 1
            self.positions = positions
            self.next = {"shots": shots[:MAX_NEXT], "t": now, "seeing": round(seeing, 2),
                         "transparency": round(transparency, 2), "error": None}
        self.changed({"next", "almanac"})

    def _plan(self, now: float, seeing: float, transparency: float
              ) -> tuple[list[dict[str, Any]], dict[str, tuple[float, float]]]:
        """The expected shots from ``now`` (in a thread)."""
        if self.shot_file is None:
            raise OcdError("no shot list ([shots] shot_file is empty)")
        start = dt.datetime.fromtimestamp(int(now), dt.timezone.utc)
        end = plan_end(self.cfg, start)
        store = load_shots(self.shot_file)
        try:
            positions = {s.shotid: (s.ra, s.dec) for s in store.all()}
            if end is None:
                return [], positions
            result = expected_night(self.cfg, store, start, end, seeing, transparency)
        finally:
            store.close()
        return expected_shots(result), positions

    # -- panels --------------------------------------------------------------------------------
    def panel(self, name: str) -> dict[str, Any]:
        if name == "almanac":
            return {"zone": HET_ZONE.key, "almanac": self.almanac, "error": self.almanac_error,
                    "moon_distance": self.moon_distances(), "obsnum": self.obsnum}
        if name == "next":
            return dict(self.next)
        raise KeyError(name)
