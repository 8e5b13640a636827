"""A simulated telescope: the same commands as the real subsystems, taking simulated time.

Used in-process by ``ocd run`` (``[tcs] backend = simulated``) and behind the gateway of
``ocd sim_tcs``. Durations are in OCD-clock seconds, so a fast mock clock runs a shot in seconds.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ocd.clock import Clock, real_seconds
from ocd.tcs.interface import TcsError, check_command

#: Simulated durations (OCD-clock seconds).
SLEW_SETTLE = 30.0
SLEW_DEGREES_PER_SECOND = 1.0
GUIDER_SETUP = 20.0
ACAM_LOAD = 1.0
DITHER = 5.0
READOUT = 10.0


@dataclass
class Pointing:
    """Where the simulated telescope points; published as ``tcs.root.ra_dec``."""

    ra: float = 0.0      # hours
    dec: float = 30.68   # degrees
    track: str = ""
    tracking: bool = False
    dx: float = 0.0      # arcsec offset (dither)
    dy: float = 0.0


def separation(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Angle in degrees between two positions (ra in hours, dec in degrees)."""
    r1, d1, r2, d2 = (math.radians(ra1 * 15.0), math.radians(dec1), math.radians(ra2 * 15.0),
                      math.radians(dec2))
    cos = math.sin(d1) * math.sin(d2) + math.cos(d1) * math.cos(d2) * math.cos(r1 - r2)
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


async def sleep_ocd(clock: Clock, seconds: float) -> None:
    """Wait ``seconds`` of OCD-clock time (shorter in real time when the mock clock is fast)."""
    await asyncio.sleep(real_seconds(clock, max(0.0, seconds)))


class SimulatedSubsystems:
    """The four subsystems in one object. ``fail`` names commands (``subsystem.command``) that
    always fail, to rehearse the error paths."""

    def __init__(self, clock: Clock, fail: tuple[str, ...] = ()) -> None:
        self.clock = clock
        self.fail = set(fail)
        self.pointing = Pointing()
        self.exposing = False
        self._abort = asyncio.Event()
        self.log: list[tuple[str, str, dict[str, Any]]] = []

    async def command(self, subsystem: str, command: str, **params: Any) -> dict[str, Any]:
        check_command(subsystem, command, params)
        self.log.append((subsystem, command, params))
        if f"{subsystem}.{command}" in self.fail:
            raise TcsError(f"{subsystem}.{command} failed (simulated failure)")
        handler: Callable[..., Awaitable[dict[str, Any]]] = getattr(
            self, f"_{subsystem}_{command}")
        return await handler(**params)

    async def close(self) -> None:
        self._abort.set()

    async def _tcs_goto(self, ra: float, dec: float, track: str) -> dict[str, Any]:
        if track not in ("E", "W"):
            raise TcsError(f"tcs.goto: track must be E or W, not {track!r}")
        distance = separation(self.pointing.ra, self.pointing.dec, ra, dec)
        await sleep_ocd(self.clock, SLEW_SETTLE + distance / SLEW_DEGREES_PER_SECOND)
        self.pointing = Pointing(ra, dec, track, True)
        return {"ra": ra, "dec": dec, "track": track}

    async def _tcs_dither(self, dx: float, dy: float) -> dict[str, Any]:
        await sleep_ocd(self.clock, DITHER)
        self.pointing.dx, self.pointing.dy = dx, dy
        return {"dx": dx, "dy": dy}

    async def _tcs_stop(self) -> dict[str, Any]:
        self.pointing.tracking = False
        return {}

    async def _pas_setup_guiders(self, stars: list[dict[str, Any]]) -> dict[str, Any]:
        await sleep_ocd(self.clock, GUIDER_SETUP)
        return {"probes": len(stars)}

    async def _pfip_acam_image(self, path: str) -> dict[str, Any]:
        await sleep_ocd(self.clock, ACAM_LOAD)
        return {"path": path}

    async def _virus_expose(self, seconds: float, **header: Any) -> dict[str, Any]:
        self._abort.clear()
        self.exposing = True
        sleep = asyncio.ensure_future(sleep_ocd(self.clock, seconds + READOUT))
        abort = asyncio.ensure_future(self._abort.wait())
        try:
            done, _ = await asyncio.wait({sleep, abort}, return_when=asyncio.FIRST_COMPLETED)
            if abort in done:
                raise TcsError("virus.expose: exposure aborted")
            return {"seconds": seconds, "observation": header.get("observation"),
                    "exposure": header.get("exposure")}
        finally:
            # also when this command itself is cancelled (a shot cut short): no waiter is
            # left behind on the loop
            sleep.cancel()
            abort.cancel()
            self.exposing = False

    async def _virus_abort(self) -> dict[str, Any]:
        was = self.exposing
        self._abort.set()
        return {"aborted": was}
