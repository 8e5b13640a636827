"""Which process holds an address OCD could not bind, when the system lets us see it.

Linux lists every socket in ``/proc/net/tcp``, ``/proc/net/tcp6`` and ``/proc/net/unix`` with
its inode (and, for TCP, its owner's uid); a process's open sockets are the links
``socket:[INODE]`` in ``/proc/PID/fd``, readable for one's own processes (all of them as root).
So "address in use" can name the process to stop, or at least the user who holds it. Nothing
here is needed for OCD to work: anything unreadable gives a shorter answer, never an error.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from ocd.errors import printable

PROC = Path("/proc")
#: TCP state of a listening socket in /proc/net/tcp.
_LISTEN = "0A"
#: Processes looked at, at most, and characters of a command line shown.
_MAX_PROCESSES, _MAX_COMMAND = 100_000, 120


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def tcp_listeners(port: int, proc: Path = PROC) -> dict[int, int]:
    """inode -> owner uid of every socket listening on TCP ``port`` (IPv4 and IPv6)."""
    found: dict[int, int] = {}
    for table in ("tcp", "tcp6"):
        for line in _read(proc / "net" / table).splitlines()[1:]:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            try:
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                uid, inode = int(fields[7]), int(fields[9])
            except (IndexError, ValueError):
                continue
            if local_port == port and inode:
                found[inode] = uid
    return found


def unix_listeners(path: str, proc: Path = PROC) -> set[int]:
    """Inodes of the Unix sockets bound to ``path``."""
    found = set()
    for line in _read(proc / "net" / "unix").splitlines()[1:]:
        fields = line.split(maxsplit=7)
        if len(fields) == 8 and fields[7] == path:
            try:
                found.add(int(fields[6]))
            except ValueError:
                continue
    return found


def processes_with(inodes: set[int], proc: Path = PROC) -> list[int]:
    """The pids whose open files include one of the sockets ``inodes`` (those we may see)."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    pids = []
    try:
        entries = [e for e in os.scandir(proc) if e.name.isdigit()][:_MAX_PROCESSES]
    except OSError:
        return []
    for entry in entries:
        try:
            fds = os.scandir(os.path.join(entry.path, "fd"))
        except OSError:  # another user's process, or gone
            continue
        with fds:
            for fd in fds:
                try:
                    if os.readlink(fd.path) in wanted:
                        pids.append(int(entry.name))
                        break
                except OSError:
                    continue
    return sorted(pids)


def describe_process(pid: int, proc: Path = PROC) -> str:
    """``pid 4242: python3 -m ocd run --config ocd.cfg`` (the command line escaped, cut)."""
    raw = _read(proc / str(pid) / "cmdline").replace("\0", " ").strip() \
        or _read(proc / str(pid) / "comm").strip()
    command = printable(raw[:_MAX_COMMAND]) + ("..." if len(raw) > _MAX_COMMAND else "")
    return f"pid {pid}: {command}" if command else f"pid {pid}"


def user_name(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def holders(inodes: dict[int, int | None], proc: Path = PROC) -> str | None:
    """Who holds the sockets ``inodes`` (inode -> owner uid when known), as a phrase."""
    if not inodes:
        return None
    pids = processes_with(set(inodes), proc)
    if pids:
        return "held by " + "; ".join(describe_process(pid, proc) for pid in pids[:3])
    uids = sorted({uid for uid in inodes.values() if uid is not None})
    if uids:
        return ("held by a process of " + ", ".join(user_name(uid) for uid in uids)
                + ", which this user may not see")
    return None


def tcp_holder(port: int, proc: Path = PROC) -> str | None:
    """Who listens on TCP ``port``, or None when the system does not tell."""
    return holders(dict(tcp_listeners(port, proc)), proc)


def ipc_holder(path: str, proc: Path = PROC) -> str | None:
    """Who serves the Unix socket ``path``, or None when the system does not tell."""
    owner: int | None
    try:
        owner = os.stat(path).st_uid
    except OSError:
        owner = None
    return holders(dict.fromkeys(unix_listeners(path, proc), owner), proc)


def url_holder(url: str) -> str | None:
    """Who holds ``url`` (``tcp://host:port`` or ``ipc://path``), when the system tells."""
    if url.startswith("ipc://"):
        return ipc_holder(url[len("ipc://"):])
    if url.startswith("tcp://"):
        port = url.rsplit(":", 1)[-1]
        return tcp_holder(int(port)) if port.isdigit() else None
    return None
