"""Sign-in for the board: scrypt hashes, users, sessions, the brake on guessing, origins."""

from __future__ import annotations

import pytest

from ocd.app.board.auth import (
    BadUsers,
    LoginBrake,
    Sessions,
    allowed_origins,
    check_password,
    csrf_ok,
    hash_password,
    parse_users,
)
from ocd.app.board.options import parse_board_url


def test_a_hash_verifies_its_password_only():
    entry = hash_password("correct horse")
    users = parse_users([f"alice:{entry}"])
    assert check_password(users, "alice", "correct horse")
    assert not check_password(users, "alice", "correct horse ")
    assert not check_password(users, "bob", "correct horse")
    assert hash_password("correct horse") != entry  # salted


@pytest.mark.parametrize("entry, why", [
    ("alice", "NAME:HASH"),
    ("al ice:scrypt:2:1:1:AAAAAAAAAAA:AAAA", "NAME:HASH"),
    ("alice:md5:abc", "scrypt:N:R:P:SALT:HASH"),
    ("alice:scrypt:3:8:1:AAAAAAAAAAAA:" + "A" * 43, "out of range"),
    ("alice:scrypt:4194304:8:1:AAAAAAAAAAAA:" + "A" * 43, "out of range"),
    ("alice:scrypt:16384:8:1:AA:" + "A" * 43, "wrong length"),
    ("alice:scrypt:x:8:1:AA:AA", "malformed"),
])
def test_bad_user_entries_say_why(entry, why):
    with pytest.raises(BadUsers, match=why):
        parse_users([entry])


def test_a_user_listed_twice_is_refused():
    entry = f"alice:{hash_password('12345678')}"
    with pytest.raises(BadUsers, match="twice"):
        parse_users([entry, entry])


def test_sessions_expire_and_are_bounded():
    now = [0.0]
    sessions = Sessions(lifetime=10.0, capacity=2, clock=lambda: now[0])
    first, session = sessions.create("alice")
    assert sessions.get(first) is session and csrf_ok(session, session.csrf)
    assert not csrf_ok(session, "forged") and not csrf_ok(session, None)
    assert not csrf_ok(None, session.csrf)
    second, _ = sessions.create("bob")
    third, _ = sessions.create("carol")
    assert sessions.get(first) is None and len(sessions) == 2  # the oldest signed out
    now[0] = 11.0
    assert sessions.get(second) is None and sessions.get(third) is None
    assert sessions.get(None) is None and sessions.get("") is None


def test_the_brake_stops_guessing_then_lets_go():
    now = [0.0]
    brake = LoginBrake(attempts=3, window=60.0, capacity=2, clock=lambda: now[0])
    for _ in range(3):
        assert brake.blocked("10.0.0.1") == 0
        brake.failed("10.0.0.1")
    assert brake.blocked("10.0.0.1") == pytest.approx(60.0)
    assert brake.blocked("10.0.0.2") == 0  # per address
    now[0] = 61.0
    assert brake.blocked("10.0.0.1") == 0
    for address in ("a", "b", "c"):
        brake.failed(address)
    assert len(brake._failures) == 2  # bounded


def test_origins_of_a_loopback_board_and_of_a_proxy():
    origins = allowed_origins("http://127.0.0.1:8600", ["https://night.example.org"])
    assert {"http://127.0.0.1:8600", "http://localhost:8600", "http://[::1]:8600",
            "https://night.example.org:443", "https://night.example.org"} <= origins
    assert "http://evil.example:8600" not in origins
    assert "http://127.0.0.1:8601" not in origins
    assert allowed_origins("http://ocd.het:8600") == {"http://ocd.het:8600"}


@pytest.mark.parametrize("text, expected", [
    ("http://127.0.0.1:8600", ("127.0.0.1", 8600)),
    ("http://0.0.0.0:0", ("0.0.0.0", 0)),
    ("http://ocd-host.het:80/", ("ocd-host.het", 80)),
    ("http://[::1]:8600", ("::1", 8600)),
])
def test_board_urls(text, expected):
    assert parse_board_url(text) == expected


@pytest.mark.parametrize("text", ["https://127.0.0.1:8600", "127.0.0.1:8600",
                                  "http://127.0.0.1:8600/board", "http://a_b:8600",
                                  "http://127.0.0.1:99999", "http://:8600"])
def test_bad_board_urls(text):
    with pytest.raises(ValueError):
        parse_board_url(text)
