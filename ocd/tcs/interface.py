"""The commands a shot sends to the TCS subsystems, and the interface that carries them."""

from __future__ import annotations

from typing import Any, Protocol

from ocd.errors import OcdError

SUBSYSTEMS = ("tcs", "virus", "pfip", "pas")

#: subsystem -> command -> (parameter names, what it does). The gateway protocol documents
#: these; a gateway must reject anything else with an error reply.
COMMANDS: dict[str, dict[str, tuple[tuple[str, ...], str]]] = {
    "tcs": {
        "goto": (("ra", "dec", "track"),
                 "slew to ra (hours), dec (degrees) on track E or W and start tracking"),
        "dither": (("dx", "dy"), "offset the pointing by dx, dy arcsec from the shot centre"),
        "stop": ((), "stop tracking"),
    },
    "pas": {
        "setup_guiders": (("stars",),
                          "put the guide probes and wavefront sensors on their stars "
                          "(list of {role, ra, dec, mag})"),
    },
    "pfip": {
        "acam_image": (("path",), "load the ACAM finding image used to acquire the field"),
    },
    "virus": {
        "expose": (("seconds", "observation", "exposure", "object", "recipe", "x_binning",
                    "y_binning", "type"), "take one VIRUS exposure and wait until it is read"),
        "abort": ((), "abort the exposure in progress (its data are lost)"),
    },
}


class TcsError(OcdError):
    """A subsystem refused or failed a command, or did not answer in time."""


class Subsystems(Protocol):
    """What the shot runner needs from the telescope."""

    async def command(self, subsystem: str, command: str, **params: Any) -> dict[str, Any]:
        """Run one command to completion; raise :class:`TcsError` if it fails."""

    async def close(self) -> None:
        """Release sockets or tasks."""


def check_command(subsystem: str, command: str, params: dict[str, Any]) -> None:
    """Raise :class:`TcsError` unless this is a known command with exactly its parameters."""
    if subsystem not in COMMANDS:
        raise TcsError(f"unknown subsystem {subsystem!r} (known: {', '.join(SUBSYSTEMS)})")
    if command not in COMMANDS[subsystem]:
        raise TcsError(f"unknown command {subsystem}.{command}")
    wanted = set(COMMANDS[subsystem][command][0])
    if set(params) != wanted:
        raise TcsError(f"{subsystem}.{command} takes {sorted(wanted)}, got {sorted(params)}")
