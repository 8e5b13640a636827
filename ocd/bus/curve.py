"""CURVE on the bus: who may publish what OCD acts on, and who may listen.

The model (doc/security.md): the bus has one *server* key pair. **Members** hold its secret:
every OCD publisher is a CURVE server with it, so an OCD subscriber, which connects knowing
only the server's public key, reaches only publishers that prove they hold the secret. Members
connect as clients with the *member* key pair. **Readers** (monitor GUIs, ``ocd listen`` on
another machine) hold a client pair of their own; a publisher lets in only the client keys of
its allowed-clients directory (checked by a ZAP handler at every handshake, so a key removed
from the directory is refused at once). A reader can subscribe; without the server secret it
cannot publish anything an OCD subscriber accepts.

Key files are ZeroMQ certificates (``zmq.auth``); a keys directory looks like::

    KEYS/               0700
      server.key        the bus's public key: every process needs it
      server.key_secret the bus's secret key: members only
      member.key, member.key_secret      the members' client pair
      allowed/          0700: public keys allowed to connect (member.key, one per reader)
      readers/NAME/     0700: what to hand to reader NAME (server.key, NAME.key, NAME.key_secret)

Secret files must be readable by their owner only (0600): a group- or world-readable secret
is refused with one line, as is a missing or unreadable key.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
import zmq.auth
from zmq.auth.asyncio import AsyncioAuthenticator

from ocd.config import Config
from ocd.errors import ConfigError

log = logging.getLogger("ocd.bus")

SERVER = "server"
MEMBER = "member"
ALLOWED_DIR = "allowed"
READERS_DIR = "readers"
PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"
#: The ZAP domain of OCD's sockets.
DOMAIN = "ocd"


class KeyFileError(ConfigError):
    """A key that is missing, unreadable, malformed or too open; the message names the file."""


def _check_private(path: Path, what: str) -> None:
    """Refuse a secret file or key directory that others than its owner may read."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read {what}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        wanted = "0700" if path.is_dir() else "0600"
        raise KeyFileError(f"{path}: {what} is accessible to other users (mode "
                        f"{stat.S_IMODE(mode):04o}): run chmod {wanted} {path}")


def load_public(path: Path) -> bytes:
    """The public key of the certificate ``path`` (``NAME.key``)."""
    try:
        public, _ = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise KeyFileError(f"{path}: cannot read the public key: {reason}") from None
    return public


def load_pair(directory: Path, name: str) -> tuple[bytes, bytes]:
    """The public and secret keys of ``NAME.key_secret`` in ``directory``, which must be
    private to its owner."""
    path = directory / f"{name}{SECRET_SUFFIX}"
    if not path.exists():
        raise KeyFileError(f"{path}: no such key (create the keys with: ocd keys init)")
    _check_private(path, "a secret key")
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise KeyFileError(f"{path}: cannot read the secret key: {reason}") from None
    if secret is None:
        raise KeyFileError(f"{path}: holds no secret key")
    return public, secret


@dataclass(frozen=True)
class CurveKeys:
    """The keys one process uses. ``server_secret`` is None for a reader: it may then only
    subscribe."""

    directory: Path
    server_public: bytes
    server_secret: bytes | None
    client_name: str
    client_public: bytes
    client_secret: bytes

    @property
    def member(self) -> bool:
        return self.server_secret is not None

    @property
    def allowed_dir(self) -> Path:
        return self.directory / ALLOWED_DIR

    @classmethod
    def load(cls, directory: Path, client_name: str = MEMBER) -> CurveKeys:
        """Read the keys of ``directory``; the server secret only if present (a reader's
        directory has none)."""
        if not directory.is_dir():
            raise KeyFileError(f"{directory}: no such keys directory (create it with: ocd keys "
                            "init)")
        _check_private(directory, "the keys directory")
        server_public = load_public(directory / f"{SERVER}{PUBLIC_SUFFIX}")
        server_secret = None
        if (directory / f"{SERVER}{SECRET_SUFFIX}").exists():
            _, server_secret = load_pair(directory, SERVER)
        client_public, client_secret = load_pair(directory, client_name)
        return cls(directory, server_public, server_secret, client_name, client_public,
                   client_secret)

    def require_member(self, what: str) -> bytes:
        """The server secret, needed to publish; a one-line error for a reader."""
        if self.server_secret is None:
            raise KeyFileError(f"{what} publishes on the bus and needs its server secret key "
                            f"({self.directory / (SERVER + SECRET_SUFFIX)}): these are a "
                            "reader's keys, which may only subscribe")
        return self.server_secret


def make_server(sock: zmq.Socket[Any], keys: CurveKeys, what: str) -> None:
    """Make ``sock`` (a binding publisher or gateway) a CURVE server with the bus's secret."""
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_SECRETKEY, keys.require_member(what))
    sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.server_public)
    sock.setsockopt_string(zmq.ZAP_DOMAIN, DOMAIN)


def make_client(sock: zmq.Socket[Any], keys: CurveKeys) -> None:
    """Make ``sock`` (a connecting subscriber or gateway client) a CURVE client that talks
    only to a server holding the bus's secret."""
    sock.setsockopt(zmq.CURVE_SERVERKEY, keys.server_public)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.client_public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, keys.client_secret)


class AllowedClients:
    """The ZAP decision for a client key: is it one of the allowed directory's public keys?

    The directory is read again whenever it changes (its modification time), so ``ocd keys
    add`` and ``remove`` take effect for the next connection without a restart."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._stamp: int | None = None
        self._keys: frozenset[bytes] = frozenset()

    def _reload(self) -> None:
        try:
            stamp = self.directory.stat().st_mtime_ns
        except OSError:
            self._keys, self._stamp = frozenset(), None
            return
        if stamp == self._stamp:
            return
        keys = set()
        for path in sorted(self.directory.glob(f"*{PUBLIC_SUFFIX}")):
            try:
                keys.add(load_public(path))
            except KeyFileError as exc:
                log.warning("%s", exc)
        self._keys, self._stamp = frozenset(keys), stamp

    def callback(self, domain: str, key: bytes) -> bool:
        self._reload()
        allowed = key in self._keys
        if not allowed:
            log.debug("refused a CURVE client key not in %s", self.directory)
        return allowed


def secure_file(path: Path) -> None:
    """Make a key file private (0600); directories 0700."""
    os.chmod(path, 0o700 if path.is_dir() else 0o600)


# -- a process's security: which sockets use CURVE, and the one authenticator ----------------


@dataclass(frozen=True)
class BusSecurity:
    """How one process's sockets are secured, from ``[security]``. ``keys`` None: plaintext.

    OCD's own sockets use CURVE when it is on; the TCS's (``[urls] event_urls`` and the
    gateway addresses) only with ``tcs_curve`` (a simulated TCS that is a member)."""

    keys: CurveKeys | None = None
    tcs_curve: bool = False
    allow_plaintext_network: bool = False

    @property
    def curve(self) -> bool:
        return self.keys is not None

    def secured(self, tcs: bool) -> CurveKeys | None:
        """The keys for a socket talking to OCD (``tcs`` False) or to the TCS, None when that
        socket stays plaintext."""
        if self.keys is None or (tcs and not self.tcs_curve):
            return None
        return self.keys

    def server(self, sock: zmq.Socket[Any], what: str, *, tcs: bool = False) -> None:
        """Secure a binding socket (publisher, gateway server) as CURVE does for it."""
        keys = self.secured(tcs)
        if keys is not None:
            make_server(sock, keys, what)

    def client(self, sock: zmq.Socket[Any], *, tcs: bool = False) -> None:
        """Secure a connecting socket (subscriber, gateway client)."""
        keys = self.secured(tcs)
        if keys is not None:
            make_client(sock, keys)

    def check_bind(self, url: str, *, tcs: bool = False) -> None:
        """Refuse to bind a non-loopback address in plaintext, unless allowed."""
        if self.secured(tcs) is not None or self.allow_plaintext_network:
            return
        if not is_loopback(url):
            raise ConfigError(
                f"refusing to bind {url} without CURVE: it is reachable from the network, so "
                "anyone there could command OCD; turn [security] curve on (ocd keys init), or "
                "set [security] allow_plaintext_network = true to accept the risk")


def is_loopback(url: str) -> bool:
    """Whether ``url`` can only be reached from this host (ipc, inproc, a loopback IP or
    ``localhost``); ``*`` and every other interface are not."""
    if not url.startswith("tcp://"):
        return True
    host = url[len("tcp://"):].rpartition(":")[0].strip("[]")
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False  # unresolvable: not provably local
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def security_from_config(cfg: Config) -> BusSecurity:
    """``[security]``: the keys (read and checked now, so a bad key stops the command at
    start-up with one line) when CURVE is on."""
    tcs_curve = cfg.get_bool("security", "tcs_curve")
    plaintext = cfg.get_bool("security", "allow_plaintext_network")
    if not cfg.get_bool("security", "curve"):
        return BusSecurity(None, tcs_curve, plaintext)
    directory = cfg.get_path("security", "keys_dir")
    if directory is None:
        raise cfg.error("security", "keys_dir", "", "a keys directory is needed with [security] "
                        "curve = true (create one with: ocd keys init DIR)")
    client = cfg.get_str("security", "client_key")
    return BusSecurity(CurveKeys.load(directory, client), tcs_curve, plaintext)


class BusContext(zmq.asyncio.Context):
    """A ZeroMQ context whose binding sockets are guarded by a ZAP authenticator when CURVE is
    on: the allowed client keys only. ``term()`` stops the authenticator first (it owns a
    socket of the context)."""

    security: BusSecurity
    authenticator: AsyncioAuthenticator | None

    def start_authenticator(self, security: BusSecurity) -> None:
        """Start the authenticator once, in the running event loop (before any bind)."""
        self.security = security
        if getattr(self, "authenticator", None) is not None or security.keys is None:
            return
        authenticator = AsyncioAuthenticator(self)
        authenticator.start()
        authenticator.configure_curve_callback(
            DOMAIN, credentials_provider=AllowedClients(security.keys.allowed_dir))
        self.authenticator = authenticator

    def term(self) -> None:
        authenticator = getattr(self, "authenticator", None)
        if authenticator is not None:
            self.authenticator = None
            authenticator.stop()
        super().term()


def bus_context(security: BusSecurity | None = None) -> zmq.asyncio.Context:
    """The context of an OCD process: a plain asyncio context, or one with an authenticator
    when ``security`` turns CURVE on (call inside the running event loop)."""
    ctx = BusContext()
    ctx.start_authenticator(security or BusSecurity())
    return ctx
