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
from typing import Any

import zmq

from ocd.bus.holder import ipc_holder, url_holder
from ocd.bus.socket_dir import check_socket_dir
from ocd.config import Config
from ocd.errors import ConfigError, OcdError

#: The OCD services that publish events, each an option of ``[urls]``.
SERVICES = ("ocd_main_loop", "ocd_run_shot", "ocd_allow_hetdex", "ocd_db_replay", "ocd_alarms")
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


def config_urls(cfg: Config, option: str) -> list[str]:
    """The URLs of the list option ``[urls] option``, relative ipc paths resolved."""
    base = cfg.origin("urls", option).base_dir
    return [resolve_ipc(url, base) for url in cfg.get_urls("urls", option)]


def config_url(cfg: Config, option: str) -> str | None:
    """The URL of the single-address option ``[urls] option`` (a TCS gateway), relative ipc
    path resolved; None when empty."""
    url = cfg.get_url("urls", option)
    return None if url is None else resolve_ipc(url, cfg.origin("urls", option).base_dir)


def service_urls(cfg: Config, service: str) -> list[str]:
    """Every URL of one OCD service, in configuration order (possibly none)."""
    _check_service(service)
    return config_urls(cfg, service)


def tcs_urls(cfg: Config) -> list[str]:
    """The URLs of the TCS event stream, ``[urls] event_urls``."""
    return config_urls(cfg, TCS_OPTION)


def chosen_url(cfg: Config, option: str, section: str) -> tuple[str, BindHint]:
    """The URL a process binds from the list ``[urls] option``: the one at index
    ``[section] n_<option>``, and the hint naming both for an "address in use" message.

    An index outside the list is a ConfigError naming both options.
    """
    index_option = f"n_{option}"
    urls = config_urls(cfg, option)
    hint = BindHint(option, section, cfg.get_int(section, index_option))
    if not 0 <= hint.index < len(urls):
        have = (f"has {len(urls)} address{'es' if len(urls) != 1 else ''} (indices 0 to "
                f"{len(urls) - 1})" if urls else "is empty")
        raise ConfigError(f"{cfg.origin(section, index_option)}: [{section}] {index_option} = "
                          f"{hint.index}: no such index: [urls] {option} {have}")
    return urls[hint.index], hint


def chosen_and_next_urls(cfg: Config, option: str, section: str
                         ) -> list[tuple[str, BindHint]]:
    """The URL at index ``[section] n_<option>`` of ``[urls] option``, then the others of the
    list in order from the next one (wrapping around): where a short-lived publisher (a
    one-shot command) binds when its own address is taken by another."""
    first, hint = chosen_url(cfg, option, section)
    urls = config_urls(cfg, option)
    order = [*range(hint.index + 1, len(urls)), *range(hint.index)]
    return [(first, hint), *((urls[i], BindHint(option, section, i, hint.option)) for i in order
                             if urls[i] != first)]


def bind_hint(cfg: Config, service: str, section: str) -> BindHint:
    _check_service(service)
    return BindHint(service, section, cfg.get_int(section, f"n_{service}"))


def bind_url(cfg: Config, service: str, section: str) -> str:
    """The URL this process binds for ``service``: ``[urls] service`` at ``[section] n_service``."""
    _check_service(service)
    return chosen_url(cfg, service, section)[0]


@dataclass(frozen=True)
class Source:
    """The URLs of one kind of publisher; ``name`` is one of :mod:`ocd.core.sources` (the
    ``[urls]`` option the URLs come from)."""

    name: str
    urls: tuple[str, ...]


def sources_of(cfg: Config, services: Iterable[str], *, tcs: bool = False) -> list[Source]:
    """The sources a subscriber connects to: every URL of each of ``services`` (and of the TCS
    stream when ``tcs``), one source per service, so its topics can be bound to it."""
    found = [Source(service, tuple(service_urls(cfg, service))) for service in services]
    if tcs:
        found.append(Source(TCS_OPTION, tuple(tcs_urls(cfg))))
    return found


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


def prepare_bind(url: str, hint: BindHint | None = None, what: str = "",
                 advice: str = "") -> None:
    """Before binding ``url``: create the directory of an ipc socket (mode 0700) or check the
    one there (:func:`~ocd.bus.socket_dir.check_socket_dir`); refuse an ipc path that another
    process is serving (tcp conflicts are reported by the bind itself)."""
    if not url.startswith("ipc://"):
        return
    path = url[len("ipc://"):]
    if path.startswith("@"):
        return
    check_socket_dir(Path(path).parent, url)
    if ipc_in_use(path):
        raise AddressInUse(url, hint, what, advice, holder=ipc_holder(path))


class AddressInUse(OcdError):
    """Another process already publishes on this URL; the message says what to change."""

    def __init__(self, url: str, hint: BindHint | None = None, what: str = "",
                 advice: str = "", every: int = 0, holder: str | None = None) -> None:
        advice = hint.describe() if hint else (advice or "choose another address")
        target = f"{what} address " if what else ""
        if every > 1 and hint is not None:
            message = (f"cannot bind {target}{url} nor any other of the {every} addresses of "
                       f"[urls] {hint.service}: all in use by other processes; add addresses "
                       "to the list, or stop one of those processes")
        else:
            who = f" ({holder})" if holder else ""
            message = (f"cannot bind {target}{url}: address already in use by another "
                       f"process{who}; {advice}, or stop the other process")
        super().__init__(message)
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


def bind(sock: zmq.Socket[Any], url: str, hint: BindHint | None = None, *, what: str = "",
         advice: str = "") -> str:
    """Bind ``sock`` to ``url`` the one way every OCD process does: the directory of an ipc
    socket created, a live ipc socket refused, a tcp host name bound on its IP, "address in
    use" naming the option to change (``hint``, else ``advice``). Returns the address really
    bound (``tcp://host:*`` gets its port). ``what`` names the socket (e.g. "the TCS
    gateway")."""
    prepare_bind(url, hint, what, advice)
    try:
        sock.bind(bindable(url))
    except zmq.ZMQError as exc:
        if exc.errno == zmq.EADDRINUSE:
            raise AddressInUse(url, hint, what, advice, holder=url_holder(url)) from None
        more = hint.describe() if hint else advice
        target = f"{what} address " if what else ""
        raise OcdError(f"cannot bind {target}{url}: {exc.strerror}"
                       + (f"; {more}" if more else "")) from None
    if url.startswith("tcp"):
        endpoint = sock.getsockopt(zmq.LAST_ENDPOINT)
        return endpoint.decode() if isinstance(endpoint, bytes) else str(endpoint)
    return url
