"""Who may command from the board: users with scrypt-hashed passwords, sign-in sessions with a
per-session token against cross-site requests, a brake on password guessing per user name, and
the origins a command may come from.

Why these choices: scrypt is in the standard library (:func:`hashlib.scrypt`), salted and
memory-hard, so a copied configuration file does not give the passwords away; a session is a
random cookie (``HttpOnly``, ``SameSite=Strict``) plus a random token the page sends in a header
with every command, which a page of another site can neither read nor guess; and the ``Origin``
header of every state-changing request must be the board's own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

#: scrypt cost: 2**15 x 8 x 1 takes 32 MiB and tens of milliseconds, the usual interactive
#: setting; stored with each hash so it can grow without breaking old entries.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 15, 8, 1
#: Largest costs accepted from a configuration entry (a huge one would stall every sign-in).
_MAX_N, _MAX_R, _MAX_P = 2 ** 20, 16, 4
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class BadUsers(ValueError):
    """A ``[board] users`` entry that cannot be used; the message says why."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=256 * n * r * p, dklen=32)


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt:N:R:P:SALT:HASH`` (base64url) of ``password`` with a fresh random salt."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}:{_b64(salt)}:{_b64(digest)}"


@dataclass(frozen=True)
class PasswordHash:
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    @classmethod
    def parse(cls, encoded: str) -> PasswordHash:
        parts = encoded.split(":")
        if len(parts) != 6 or parts[0] != "scrypt":
            raise BadUsers("expected scrypt:N:R:P:SALT:HASH (made by ocd board --hash-password)")
        try:
            n, r, p = (int(x) for x in parts[1:4])
            salt, digest = _unb64(parts[4]), _unb64(parts[5])
        except ValueError:
            raise BadUsers("the numbers or the base64 of the hash are malformed") from None
        if not (2 <= n <= _MAX_N and n & (n - 1) == 0 and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
            raise BadUsers(f"scrypt costs N={n} R={r} P={p} out of range")
        if len(salt) < 8 or len(digest) != 32:
            raise BadUsers("salt or hash of the wrong length")
        return cls(n, r, p, salt, digest)

    def matches(self, password: str) -> bool:
        return hmac.compare_digest(_scrypt(password, self.salt, self.n, self.r, self.p),
                                   self.digest)


def parse_users(entries: Iterable[str]) -> dict[str, PasswordHash]:
    """``NAME:scrypt:...`` entries of ``[board] users`` by name; BadUsers names the entry."""
    users: dict[str, PasswordHash] = {}
    for entry in entries:
        name, sep, encoded = entry.partition(":")
        if not sep or not _NAME.match(name):
            raise BadUsers(f"{entry[:40]!r}: expected NAME:HASH with a NAME of letters, digits, "
                           "'_', '.', '-' (at most 32)")
        if name in users:
            raise BadUsers(f"user {name!r} is listed twice")
        try:
            users[name] = PasswordHash.parse(encoded)
        except BadUsers as exc:
            raise BadUsers(f"user {name!r}: {exc}") from None
    return users


#: Checked when the user is unknown, so that a wrong name costs as long as a wrong password.
_DECOY = PasswordHash(SCRYPT_N, SCRYPT_R, SCRYPT_P, b"\0" * 16, b"\0" * 32)


def check_password(users: dict[str, PasswordHash], name: str, password: str) -> bool:
    """Whether ``name`` is a user and ``password`` is theirs (same cost either way)."""
    known = users.get(name)
    matched = (known or _DECOY).matches(password)
    return known is not None and matched


# -- sessions ------------------------------------------------------------------------------

@dataclass
class Session:
    user: str
    csrf: str
    expires: float


class Sessions:
    """Signed-in sessions by cookie value, bounded (the oldest are signed out first)."""

    def __init__(self, lifetime: float, capacity: int = 256,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime = lifetime
        self.capacity = capacity
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def create(self, user: str) -> tuple[str, Session]:
        key = secrets.token_urlsafe(32)
        session = Session(user, secrets.token_urlsafe(32), self._clock() + self.lifetime)
        self._sessions[key] = session
        while len(self._sessions) > self.capacity:
            self._sessions.popitem(last=False)
        return key, session

    def get(self, key: str | None) -> Session | None:
        if not key:
            return None
        session = self._sessions.get(key)
        if session is not None and session.expires <= self._clock():
            del self._sessions[key]
            return None
        return session

    def drop(self, key: str | None) -> None:
        if key:
            self._sessions.pop(key, None)

    def __len__(self) -> int:
        return len(self._sessions)


def csrf_ok(session: Session | None, token: str | None) -> bool:
    """Whether a command's token is its session's (constant time)."""
    return session is not None and token is not None and hmac.compare_digest(
        session.csrf.encode(), token.encode("utf-8", "replace"))


#: Failed sign-ins a user name may have before each further attempt waits.
FREE_FAILURES = 5
#: Longest wait between two checked attempts for one user name, in seconds.
MAX_DELAY = 60.0
#: Seconds without an attempt after which a name's failures are forgotten.
FORGET_AFTER = 3600.0
#: Brake records shared by the names that are not users (a bounded table, never emptied).
UNKNOWN_BUCKETS = 1024


@dataclass
class _Record:
    failures: int = 0
    next_try: float = 0.0
    last: float = 0.0


def brake_delay(failures: int, free: int = FREE_FAILURES, cap: float = MAX_DELAY) -> float:
    """Seconds to wait after ``failures`` failed sign-ins: none for the first ``free``, then
    2, 4, 8, ... up to ``cap``."""
    if failures < free:
        return 0.0
    return min(cap, 2.0 ** min(failures - free + 1, 32))


class SignInBrake:
    """The brake on password guessing, per user name whatever the source address (pure: the
    clock is given).

    An attempt is counted as failed *before* its password is checked (:meth:`attempt`) and
    cleared when it turns out right (:meth:`succeeded`), so that attempts made while a check
    runs already see the delay. An attempt made before the name's delay is over is refused
    without a check and not counted: a delay, never a lockout: the right password sent once
    the delay is over is accepted. Names that are not users get the same treatment, from a
    bounded table of records shared by keyed hash, so that the answers do not tell which
    names are users."""

    def __init__(self, users: Iterable[str], free: int = FREE_FAILURES,
                 cap: float = MAX_DELAY, forget: float = FORGET_AFTER,
                 buckets: int = UNKNOWN_BUCKETS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free, self.cap, self.forget, self.buckets = free, cap, forget, buckets
        self._clock = clock
        self._users = frozenset(users)
        self._salt = secrets.token_bytes(16)
        self._records: dict[str, _Record] = {}

    def key(self, name: str) -> str:
        """The record ``name`` counts on: its own for a user, a shared one otherwise."""
        if name in self._users:
            return name
        digest = hmac.new(self._salt, name.encode("utf-8", "replace"), "sha256").digest()
        return f"?{int.from_bytes(digest[:4], 'big') % self.buckets}"

    def _record(self, name: str) -> _Record:
        key = self.key(name)
        record = self._records.get(key)
        if record is None or self._clock() - record.last >= self.forget:
            record = self._records[key] = _Record()
        return record

    def wait(self, name: str) -> float:
        """Seconds before an attempt for ``name`` is checked (0: now)."""
        return max(0.0, self._record(name).next_try - self._clock())

    def attempt(self, name: str) -> float:
        """Count an attempt for ``name`` as failed and return 0, or return the seconds it
        must wait (the attempt is then neither checked nor counted)."""
        record = self._record(name)
        now = self._clock()
        if record.next_try > now:
            return record.next_try - now
        record.failures += 1
        record.last = now
        record.next_try = now + brake_delay(record.failures, self.free, self.cap)
        return 0.0

    def failures(self, name: str) -> int:
        """Failed sign-ins counted for ``name`` (its record's)."""
        return self._record(name).failures

    def succeeded(self, name: str) -> None:
        """The password checked for ``name`` was right: its failures are forgotten."""
        self._records.pop(self.key(name), None)

    def __len__(self) -> int:
        return len(self._records)


# -- origins -------------------------------------------------------------------------------

def origin_of(url: str) -> str:
    """``scheme://host:port`` of a URL (the form of an ``Origin`` header)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        raise ValueError(f"{url!r} is not an http://HOST:PORT address")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{host}:{port}"


def allowed_origins(served: str, names: Iterable[str] = (),
                    extra: Iterable[str] = ()) -> frozenset[str]:
    """The origins that may send commands: the board's own address, the other ``names`` of
    the addresses it binds (at the same port: the address literals, ``localhost`` when it
    binds both loopback addresses), and ``extra`` (``[board] origins``, e.g. a reverse
    proxy). Nothing else: a name the board does not hold, another user of the host could
    serve a page under."""
    own = origin_of(served)
    scheme, _, rest = own.partition("://")
    port = rest.rpartition(":")[2]
    found = {own}
    found.update(f"{scheme}://{_bracketed(name)}:{port}" for name in names)
    found.update(origin_of(item) for item in extra)
    # browsers leave out the default port in Origin: accept both spellings
    for origin in list(found):
        if origin.endswith((":80", ":443")) and origin.startswith(("http://", "https://")):
            default = ":443" if origin.startswith("https://") else ":80"
            if origin.endswith(default):
                found.add(origin[:-len(default)])
    return frozenset(found)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


#: The loopback addresses a browser may take ``localhost`` for.
LOCALHOST = ("127.0.0.1", "::1")


def own_names(host: str, bound: Iterable[str]) -> frozenset[str]:
    """The host names the board answers to (lower case, IPv6 without brackets): the one of
    ``[board] url``, the addresses it bound, and ``localhost`` only when it bound every address
    ``localhost`` may mean (else another user could serve ``localhost`` on the other one)."""
    names = {host.lower(), *bound}
    if all(address in names for address in LOCALHOST):
        names.add("localhost")
    elif host.lower() == "localhost":
        names.discard("localhost")
    return frozenset(names)


def host_name(header: str | None) -> str | None:
    """The host name of a ``Host`` header (lower case, IPv6 without brackets), None when
    missing or malformed."""
    if not header or len(header) > 300:
        return None
    try:
        parts = urlsplit(f"http://{header}")
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return None
    if parts.hostname is None or parts.username is not None or parts.path:
        return None
    return parts.hostname.lower()
