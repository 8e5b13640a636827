"""``ocd keys``: the CURVE keys of the bus (see :mod:`ocd.bus.curve` for the model).

``init`` makes a new bus (server pair, members' client pair, the allowed-clients directory);
``add NAME`` makes a reader's pair, allows it and packs what to hand over; ``list`` shows who
may connect; ``remove NAME`` takes a reader's access away (at its next connection).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import zmq.auth

from ocd.bus.curve import (
    ALLOWED_DIR,
    MEMBER,
    PUBLIC_SUFFIX,
    READERS_DIR,
    SECRET_SUFFIX,
    SERVER,
    CurveKeys,
    load_public,
    secure_file,
)
from ocd.config import Config
from ocd.errors import ConfigError, OcdError, UsageError

#: A reader's name: a file name everywhere.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: Names that are not readers.
RESERVED = (SERVER, MEMBER)


def keys_dir(cfg: Config, given: Path | None = None) -> Path:
    """DIR if given, else ``[security] keys_dir``."""
    directory = given if given is not None else cfg.get_path("security", "keys_dir")
    if directory is None:
        raise ConfigError("[security] keys_dir is not set: give the directory (ocd keys init "
                          "DIR) or set it in your configuration")
    return directory


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    secure_file(path)


def _pair(directory: Path, name: str) -> None:
    """A new certificate pair ``NAME.key`` / ``NAME.key_secret`` in ``directory``, both 0600."""
    public, secret = zmq.auth.create_certificates(directory, name)
    for path in (public, secret):
        secure_file(Path(path))


def fingerprint(key: bytes) -> str:
    """A short, readable form of a public key (its first Z85 characters)."""
    return key.decode("ascii")[:12]


def create_bus_keys(directory: Path) -> None:
    """A new bus in ``directory`` (created, or empty): the server pair, the members' client
    pair, the allowed-clients directory holding the members' key, and ``readers/``."""
    _private_dir(directory)
    _pair(directory, SERVER)
    _pair(directory, MEMBER)
    allowed = directory / ALLOWED_DIR
    _private_dir(allowed)
    shutil.copyfile(directory / f"{MEMBER}{PUBLIC_SUFFIX}", allowed / f"{MEMBER}{PUBLIC_SUFFIX}")
    secure_file(allowed / f"{MEMBER}{PUBLIC_SUFFIX}")
    _private_dir(directory / READERS_DIR)


def init_keys(directory: Path, force: bool = False) -> int:
    """``ocd keys init [DIR]``."""
    if directory.exists() and any(directory.iterdir()) and not force:
        raise OcdError(f"{directory} is not empty: these may be the keys of a running bus; "
                       "give a new directory, or --force to replace them (every member and "
                       "reader then needs the new keys)")
    if force and directory.exists():
        shutil.rmtree(directory)
    create_bus_keys(directory)
    print(f"created the bus keys in {directory}:")
    print(f"  {SERVER}{SECRET_SUFFIX}  the bus's secret: every process that publishes (members)")
    print(f"  {MEMBER}{SECRET_SUFFIX}  the members' client key")
    print(f"  {ALLOWED_DIR}/           the client keys allowed to connect")
    print("use them with:")
    print(f"  [security]\n  curve = true\n  keys_dir = {directory}")
    return 0


def _check_name(name: str) -> None:
    if not _NAME.match(name) or name in RESERVED:
        raise UsageError(f"{name!r}: a reader's name is 1 to 64 letters, digits, '.', '_' or "
                         f"'-' (not {' or '.join(RESERVED)})")


def add_reader(directory: Path, name: str) -> int:
    """``ocd keys add NAME``: a reader's pair, allowed, and its bundle to hand over."""
    _check_name(name)
    keys = CurveKeys.load(directory)  # a real bus directory, private, with a server pair
    allowed = directory / ALLOWED_DIR / f"{name}{PUBLIC_SUFFIX}"
    if allowed.exists():
        raise OcdError(f"reader {name} exists already ({allowed}): remove it first to make "
                       "new keys")
    bundle = directory / READERS_DIR / name
    _private_dir(bundle.parent)
    if bundle.exists():
        shutil.rmtree(bundle)
    _private_dir(bundle)
    _pair(bundle, name)
    shutil.copyfile(directory / f"{SERVER}{PUBLIC_SUFFIX}", bundle / f"{SERVER}{PUBLIC_SUFFIX}")
    secure_file(bundle / f"{SERVER}{PUBLIC_SUFFIX}")
    temporary = allowed.with_suffix(".tmp")
    shutil.copyfile(bundle / f"{name}{PUBLIC_SUFFIX}", temporary)
    secure_file(temporary)
    os.replace(temporary, allowed)  # the publishers see it whole, at once
    key = load_public(allowed)
    print(f"reader {name} allowed (key {fingerprint(key)}...); its bus: "
          f"{fingerprint(keys.server_public)}...")
    print(f"hand over the directory {bundle} (keep it private: chmod 700), and on the reader's "
          "side use:")
    print(f"  [security]\n  curve = true\n  keys_dir = <that directory>\n  client_key = {name}")
    return 0


def list_keys(directory: Path) -> int:
    """``ocd keys list``: the client keys allowed to connect."""
    keys = CurveKeys.load(directory)
    print(f"bus {directory} (server key {fingerprint(keys.server_public)}...)")
    allowed = sorted((directory / ALLOWED_DIR).glob(f"*{PUBLIC_SUFFIX}"))
    if not allowed:
        print("  no client key allowed: nobody can connect")
    for path in allowed:
        name = path.name[:-len(PUBLIC_SUFFIX)]
        role = "member" if name == MEMBER else "reader"
        print(f"  {name:<20} {role:<6}  {fingerprint(load_public(path))}...")
    return 0


def remove_reader(directory: Path, name: str) -> int:
    """``ocd keys remove NAME``: the reader can no longer connect (publishers check the allowed
    directory at every connection; a connection already open lasts until it closes)."""
    _check_name(name)
    CurveKeys.load(directory)
    allowed = directory / ALLOWED_DIR / f"{name}{PUBLIC_SUFFIX}"
    if not allowed.exists():
        raise OcdError(f"no reader {name} in {directory / ALLOWED_DIR}")
    allowed.unlink()
    shutil.rmtree(directory / READERS_DIR / name, ignore_errors=True)
    print(f"reader {name} removed: refused at its next connection (restart the publishers to "
          "close connections already open)")
    return 0
