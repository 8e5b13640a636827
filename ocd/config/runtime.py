"""The directory of OCD's sockets on one host: where the single-host address plan
(``conf/single-host.cfg``) puts its ``ipc://`` addresses, as ``${OCD_RUNTIME_DIR}``.

Why a directory of its own: a TCP port on loopback is open to every user of the host (anyone
can connect, read, publish from a free commander port, or take a port before OCD binds it),
while a Unix socket in a directory only OCD's user can write is out of their reach. The
default is the user's runtime directory (``$XDG_RUNTIME_DIR``, a private ``/run/user/UID`` on a
systemd host) plus ``ocd``, else ``ocd-UID`` in the temporary directory, which OCD creates with
mode 0700 and refuses when another user owns it (:mod:`ocd.bus.socket_dir`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

#: The variable the address plan names its directory by; set it to choose another.
RUNTIME_VARIABLE = "OCD_RUNTIME_DIR"


def default_runtime_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_RUNTIME_DIR/ocd``, else ``ocd-UID`` in the temporary directory."""
    xdg = environ.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "ocd"
    return Path(tempfile.gettempdir()) / f"ocd-{os.getuid()}"


def runtime_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The directory of OCD's sockets: ``$OCD_RUNTIME_DIR`` when set, else the default."""
    environ = os.environ if environ is None else environ
    chosen = environ.get(RUNTIME_VARIABLE, "")
    return Path(chosen) if chosen else default_runtime_dir(environ)


def with_runtime_dir(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` for ``${...}`` references, with ``OCD_RUNTIME_DIR`` always defined."""
    return {RUNTIME_VARIABLE: str(runtime_dir(environ)), **environ}
