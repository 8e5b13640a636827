"""``ocd keys``: creating and managing the bus's CURVE keys, and refusing unsafe ones."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import zmq.auth
from conftest import run_ocd

from ocd.bus.curve import AllowedClients, CurveKeys, KeyFileError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def keys(tmp_path: Path, *args: str):
    return run_ocd("keys", *args, "--set", f"security.keys_dir={tmp_path / 'keys'}",
                   cwd=tmp_path)


def test_init_creates_private_files_and_directories(tmp_path):
    result = run_ocd("keys", "init", str(tmp_path / "keys"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    root = tmp_path / "keys"
    files = ["server.key", "server.key_secret", "member.key", "member.key_secret",
             "allowed/member.key"]
    assert all(mode(root / name) == 0o600 for name in files)
    assert all(mode(root / name) == 0o700 for name in ("", "allowed", "readers"))
    loaded = CurveKeys.load(root)
    assert loaded.member and loaded.client_name == "member"
    assert zmq.auth.load_certificate(root / "allowed" / "member.key")[0] == loaded.client_public
    assert f"keys_dir = {root}" in result.stdout


def test_init_refuses_to_replace_keys_without_force(tmp_path):
    assert keys(tmp_path, "init").returncode == 0
    before = (tmp_path / "keys" / "server.key").read_bytes()
    again = keys(tmp_path, "init")
    assert again.returncode == 1
    assert again.stderr.strip().startswith("ocd: error: ") and "--force" in again.stderr
    assert (tmp_path / "keys" / "server.key").read_bytes() == before
    assert keys(tmp_path, "init", "--force").returncode == 0
    assert (tmp_path / "keys" / "server.key").read_bytes() != before


def test_add_list_remove_a_reader(tmp_path):
    assert keys(tmp_path, "init").returncode == 0
    added = keys(tmp_path, "add", "alice")
    assert added.returncode == 0, added.stderr
    root = tmp_path / "keys"
    bundle = root / "readers" / "alice"
    assert sorted(p.name for p in bundle.iterdir()) == ["alice.key", "alice.key_secret",
                                                          "server.key"]
    assert mode(bundle) == 0o700 and mode(bundle / "alice.key_secret") == 0o600
    reader = CurveKeys.load(bundle, "alice")
    assert not reader.member and reader.server_public == CurveKeys.load(root).server_public
    listed = keys(tmp_path, "list")
    assert "alice" in listed.stdout and "reader" in listed.stdout and "member" in listed.stdout
    assert keys(tmp_path, "add", "alice").returncode == 1  # exists already
    removed = keys(tmp_path, "remove", "alice")
    assert removed.returncode == 0, removed.stderr
    assert not (root / "allowed" / "alice.key").exists() and not bundle.exists()
    assert "alice" not in keys(tmp_path, "list").stdout
    assert keys(tmp_path, "remove", "alice").returncode == 1


@pytest.mark.parametrize("name", ["member", "server", "../etc", "a b", ""])
def test_a_reader_name_is_a_plain_file_name(tmp_path, name):
    assert keys(tmp_path, "init").returncode == 0
    result = keys(tmp_path, "add", name)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "reader's name" in result.stderr


def test_missing_or_too_open_keys_are_one_clear_line(tmp_path):
    missing = keys(tmp_path, "list")
    assert missing.returncode == 2
    assert missing.stderr == (f"ocd: error: {tmp_path / 'keys'}: no such keys directory "
                              "(create it with: ocd keys init)\n")
    assert keys(tmp_path, "init").returncode == 0
    secret = tmp_path / "keys" / "server.key_secret"
    secret.chmod(0o644)
    opened = keys(tmp_path, "list")
    assert opened.returncode == 2 and "Traceback" not in opened.stderr
    assert opened.stderr == (f"ocd: error: {secret}: a secret key is accessible to other users "
                             f"(mode 0644): run chmod 0600 {secret}\n")
    # a process of the bus says the same, and only that (no line about listening first)
    listen = run_ocd("listen", "--set", "security.curve=true", "--set",
                     f"security.keys_dir={tmp_path / 'keys'}", cwd=tmp_path)
    assert listen.returncode == 2 and listen.stderr == opened.stderr, listen.stderr
    secret.chmod(0o600)
    (tmp_path / "keys").chmod(0o755)
    assert "chmod 0700" in keys(tmp_path, "list").stderr
    (tmp_path / "keys").chmod(0o700)
    (tmp_path / "keys" / "member.key_secret").write_text("not a certificate\n")
    broken = keys(tmp_path, "list")
    assert broken.returncode == 2 and "member.key_secret" in broken.stderr


def test_a_reader_cannot_be_a_publisher(tmp_path):
    assert keys(tmp_path, "init").returncode == 0
    assert keys(tmp_path, "add", "bob").returncode == 0
    reader = CurveKeys.load(tmp_path / "keys" / "readers" / "bob", "bob")
    with pytest.raises(KeyFileError, match="ocd run publishes on the bus and needs its server "
                                           "secret key"):
        reader.require_member("ocd run")


def test_allowed_clients_follow_the_directory(tmp_path):
    assert keys(tmp_path, "init").returncode == 0
    root = tmp_path / "keys"
    allowed = AllowedClients(root / "allowed")
    member = CurveKeys.load(root).client_public
    assert allowed.callback("ocd", member)
    assert keys(tmp_path, "add", "carol").returncode == 0
    carol = CurveKeys.load(root / "readers" / "carol", "carol").client_public
    assert allowed.callback("ocd", carol)
    assert keys(tmp_path, "remove", "carol").returncode == 0
    assert not allowed.callback("ocd", carol)
    stranger, _ = zmq.curve_keypair()
    assert not allowed.callback("ocd", stranger)
