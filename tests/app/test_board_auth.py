"""Sign-in for the board: scrypt hashes, users, sessions, the brake on guessing, origins."""

from __future__ import annotations

import pytest

from ocd.app.board.auth import (
    MAX_DELAY,
    BadUsers,
    Sessions,
    SignInBrake,
    allowed_origins,
    check_password,
    csrf_ok,
    hash_password,
    host_name,
    own_names,
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


def test_the_brake_slows_one_name_whatever_the_address_and_never_locks_it():
    now = [0.0]
    brake = SignInBrake(["alice"], clock=lambda: now[0])
    for _ in range(5):  # a few free failures, each counted before its check
        assert brake.attempt("alice") == 0
    assert brake.failures("alice") == 5
    assert brake.wait("alice") == pytest.approx(2.0)
    assert brake.attempt("alice") == pytest.approx(2.0)  # refused, neither checked nor counted
    assert brake.failures("alice") == 5
    assert brake.wait("bob") == 0  # another name has its own record
    now[0] = 2.0  # the delay is over: the next attempt is checked (the right password gets in)
    assert brake.attempt("alice") == 0
    brake.succeeded("alice")
    assert brake.failures("alice") == 0 and brake.wait("alice") == 0


def test_the_brake_grows_to_its_cap():
    now = [0.0]
    brake = SignInBrake(["alice"], clock=lambda: now[0])
    delays = []
    for _ in range(20):
        now[0] += brake.wait("alice")
        assert brake.attempt("alice") == 0
        delays.append(brake.wait("alice"))
    assert delays[:4] == [0.0] * 4
    assert delays[4:9] == [pytest.approx(x) for x in (2.0, 4.0, 8.0, 16.0, 32.0)]
    assert max(delays) == MAX_DELAY


def test_an_hour_of_guessing_checks_at_most_a_few_hundred_passwords():
    now = [0.0]
    brake = SignInBrake(["alice"], clock=lambda: now[0])
    checked = 0
    while now[0] < 3600.0:  # ten guesses a second, from any number of addresses
        if brake.attempt("alice") == 0:
            checked += 1
        now[0] += 0.1
    assert checked <= 100, checked


def test_names_that_are_not_users_are_braked_alike_in_a_bounded_table():
    now = [0.0]
    brake = SignInBrake(["alice"], buckets=16, clock=lambda: now[0])
    for _ in range(5):
        assert brake.attempt("mallory") == 0
    assert brake.attempt("mallory") > 0  # same treatment as a user
    for number in range(1000):
        brake.attempt(f"name{number}")
    assert len(brake) <= 16 + 1
    assert brake.key("alice") == "alice" and brake.key("mallory").startswith("?")


def test_origins_are_the_addresses_bound_and_a_proxy():
    origins = allowed_origins("http://127.0.0.1:8600", ["127.0.0.1"],
                              ["https://night.example.org"])
    assert {"http://127.0.0.1:8600", "https://night.example.org:443",
            "https://night.example.org"} <= origins
    # names the board does not hold: another user could serve a page of that origin
    assert "http://localhost:8600" not in origins and "http://[::1]:8600" not in origins
    assert "http://evil.example:8600" not in origins
    assert "http://127.0.0.1:8601" not in origins
    assert allowed_origins("http://ocd.het:8600") == {"http://ocd.het:8600"}
    both = allowed_origins("http://localhost:8600", own_names("localhost", ["127.0.0.1", "::1"]))
    assert both == {"http://localhost:8600", "http://127.0.0.1:8600", "http://[::1]:8600"}


def test_localhost_is_the_boards_only_when_it_holds_both_loopback_addresses():
    assert own_names("127.0.0.1", ["127.0.0.1"]) == {"127.0.0.1"}
    assert own_names("localhost", ["127.0.0.1"]) == {"127.0.0.1"}
    assert own_names("localhost", ["127.0.0.1", "::1"]) == {"localhost", "127.0.0.1", "::1"}
    assert own_names("OCD-Host", ["10.0.0.5"]) == {"ocd-host", "10.0.0.5"}


@pytest.mark.parametrize("header, name", [
    ("127.0.0.1:8600", "127.0.0.1"), ("Evil.Example:8600", "evil.example"),
    ("[::1]:8600", "::1"), ("localhost", "localhost"), (None, None), ("", None),
    ("a@b:1", None), ("host:port", None), ("host/path", None), ("x" * 400, None),
])
def test_the_host_name_of_a_host_header(header, name):
    assert host_name(header) == name


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
