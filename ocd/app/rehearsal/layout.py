"""The private directory of one rehearsal: its files, its sockets, and their addresses (ipc,
so a rehearsal never meets a real OCD on the default ports). The sockets follow the
single-host address plan (``conf/single-host.cfg``): a directory of their own inside
``${OCD_RUNTIME_DIR}``, which only OCD's user can write, with the plan's socket names."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ocd.bus import check_socket_dir
from ocd.config import RUNTIME_VARIABLE, runtime_dir
from ocd.errors import OcdError, UsageError

#: Longest path of an ipc socket (Unix limit 107 bytes, with room for the name).
_IPC_MAX = 90


@dataclass(frozen=True)
class Layout:
    """The private directory of one rehearsal and its addresses."""

    root: Path   # files: logs, shot list copy, observation numbers, recording
    ipc: Path    # sockets (short path)

    @property
    def keys(self) -> Path:
        """Throw-away CURVE keys, when the rehearsal runs with CURVE on."""
        return self.root / "keys"

    def url(self, name: str) -> str:
        return f"ipc://{self.ipc / name}.ipc"

    @property
    def tcs_url(self) -> str:
        return self.url("tcs")

    @property
    def replay_url(self) -> str:
        return self.url("replay")

    def service_urls(self) -> list[str]:
        return [self.url("main"), self.url("shot"), self.url("allow"), self.url("board")]


def make_layout(keep: Path | None = None) -> Layout:
    """A new private directory for sockets (``keep``: files go there instead, and stay)."""
    if keep is not None and keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        raise UsageError(f"--keep {keep}: not an empty directory; choose a new one")
    sockets = runtime_dir()
    check_socket_dir(sockets, f"the rehearsal's sockets (in {sockets})")
    ipc = Path(tempfile.mkdtemp(prefix="rehearse-", dir=sockets))
    if len(str(ipc)) > _IPC_MAX - 12:
        shutil.rmtree(ipc, ignore_errors=True)
        raise OcdError(f"the directory of OCD's sockets {sockets} is too long a path for ipc "
                       f"sockets (Unix limit 107 bytes): set {RUNTIME_VARIABLE} to a shorter "
                       "directory")
    if keep is None:
        return Layout(ipc, ipc)
    keep.mkdir(parents=True, exist_ok=True)
    return Layout(keep.resolve(), ipc)
