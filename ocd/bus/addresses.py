"""Which URL a process binds and which URLs it connects to.

``[urls]`` options are comma-separated lists. A process publishing for service S binds the URL
at index ``n_S`` of its own section (``[run] n_ocd_run_shot``, ``[run_shot] n_ocd_run_shot``),
so several processes can publish for one service at once; subscribers connect to every URL of
the services they follow, their own included.

A relative ``ipc://`` path is taken relative to the directory of the file that set it (the
current directory for the environment and the command line), like every path option: two
processes started from different directories with one configuration file meet on one socket.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ocd.config import Config
from ocd.errors import ConfigError, OcdError

#: The OCD services that publish events, each an option of ``[urls]``.
SERVICES = ("ocd_main_loop", "ocd_run_shot", "ocd_allow_hetdex", "ocd_db_replay")
#: The ``[urls]`` option of the live TCS event stream.
TCS_OPTION = "event_urls"


@dataclass(frozen=True)
class BindHint:
    """Which configuration choice led to a bound URL, for the "address in use" message."""

    service: str
    section: str
    index: int
    #: The index option when it is not ``n_<service>``.
    option: str = ""

    def describe(self) -> str:
        option = self.option or f"n_{self.service}"
        return (f"change [urls] {self.service} or its index {self.index} "
                f"([{self.section}] {option})")


def _check_service(service: str) -> None:
    if service not in SERVICES:
        raise ValueError(f"unknown OCD service {service!r}; expected one of {SERVICES}")


def resolve_ipc(url: str, base_dir: Path) -> str:
    """``ipc://relative`` -> ``ipc://base_dir/relative``; other URLs unchanged."""
    if not url.startswith("ipc://"):
        return url
    path = url[len("ipc://"):]
    if path.startswith(("/", "@")):  # absolute, or Linux abstract namespace
        return url
    return f"ipc://{(base_dir / Path(path).expanduser()).as_posix()}"


def _urls(cfg: Config, option: str) -> list[str]:
    base = cfg.origin("urls", option).base_dir
    return [resolve_ipc(url, base) for url in cfg.get("urls", option) or []]


def service_urls(cfg: Config, service: str) -> list[str]:
    """Every URL of one OCD service, in configuration order (possibly none)."""
    _check_service(service)
    return _urls(cfg, service)


def tcs_urls(cfg: Config) -> list[str]:
    """The URLs of the TCS event stream, ``[urls] event_urls``."""
    return _urls(cfg, TCS_OPTION)


def bind_hint(cfg: Config, service: str, section: str) -> BindHint:
    _check_service(service)
    return BindHint(service, section, cfg.get(section, f"n_{service}"))


def bind_url(cfg: Config, service: str, section: str) -> str:
    """The URL this process binds for ``service``: ``[urls] service`` at ``[section] n_service``.

    An index outside the list is a ConfigError naming both options.
    """
    urls = service_urls(cfg, service)
    hint = bind_hint(cfg, service, section)
    if not 0 <= hint.index < len(urls):
        option = f"n_{service}"
        have = (f"has {len(urls)} address{'es' if len(urls) != 1 else ''} (indices 0 to "
                f"{len(urls) - 1})" if urls else "is empty")
        raise ConfigError(f"{cfg.origin(section, option)}: [{section}] {option} = {hint.index}: "
                          f"no such index: [urls] {service} {have}")
    return urls[hint.index]


def connect_urls(cfg: Config, services: Iterable[str], *, tcs: bool = False) -> list[str]:
    """The URLs a subscriber connects to: every URL of ``services`` (and of the TCS stream when
    ``tcs``), each once, in order."""
    urls: list[str] = []
    for service in services:
        urls.extend(service_urls(cfg, service))
    if tcs:
        urls.extend(tcs_urls(cfg))
    return list(dict.fromkeys(urls))


def ipc_in_use(path: str) -> bool:
    """Whether a process is listening on the Unix socket ``path`` (libzmq would silently
    take over the path of a live socket, so we ask first)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except OSError:
        return False
    else:
        return True
    finally:
        probe.close()


def prepare_bind(url: str, hint: BindHint | None = None) -> None:
    """Before binding ``url``: create the directory of an ipc socket; refuse an ipc path that
    another process is serving (tcp conflicts are reported by the bind itself)."""
    if not url.startswith("ipc://"):
        return
    path = url[len("ipc://"):]
    if path.startswith("@"):
        return
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OcdError(f"cannot create the directory of {url}: {exc.strerror}") from None
    if ipc_in_use(path):
        raise AddressInUse(url, hint)


class AddressInUse(OcdError):
    """Another process already publishes on this URL; the message says what to change."""

    def __init__(self, url: str, hint: BindHint | None = None) -> None:
        advice = hint.describe() if hint else "choose another address"
        super().__init__(f"cannot bind {url}: address already in use by another process; "
                         f"{advice}, or stop the other process")
        self.url = url
        self.hint = hint


def bindable(url: str) -> str:
    """The address to give to ``bind`` for ``url``: a tcp host name is resolved to its IP.

    libzmq binds only IP addresses, ``*`` and interface names, while the same ``[urls]`` entry
    must also be connectable by the other processes; so ``tcp://ocd-run:6600`` (a container's
    service name) or ``tcp://localhost:6600`` is bound on the address the name resolves to.
    """
    if not url.startswith("tcp://"):
        return url
    host, sep, port = url[len("tcp://"):].rpartition(":")
    if not sep or host == "*" or host.startswith("["):
        return url
    try:
        socket.inet_aton(host)
        return url  # already an IPv4 address
    except OSError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return url  # an interface name, or unresolvable: libzmq says which
    return f"tcp://{infos[0][4][0]}:{port}" if infos else url
