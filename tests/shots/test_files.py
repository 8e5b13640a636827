"""Bounded reads: only a regular file, never a FIFO (whose open would block) or a device
(which never ends), and never more than the cap, whatever the path names."""

from __future__ import annotations

import os
import threading

import pytest

from ocd.errors import OcdError
from ocd.shots.files import NotReadable, read_regular
from ocd.shots.inputs import ShotInputError, parse_stars
from ocd.shots.store import load_shots


def _in_time(work, *args):
    """Run ``work`` in a thread; fail if it has not returned (or raised) within 10 s."""
    outcome: list[object] = []

    def target():
        try:
            outcome.append(work(*args))
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test checks
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), f"{work.__name__} blocked on {args[0]}"
    return outcome[0]


def test_a_regular_file_is_read_whole(tmp_path):
    (tmp_path / "f").write_bytes(b"abc" * 10)
    assert read_regular(tmp_path / "f", 30) == b"abc" * 10


@pytest.mark.parametrize("make", ["fifo", "dir", "device"])
def test_a_fifo_a_directory_or_a_device_is_refused_at_once(tmp_path, make):
    path = {"fifo": tmp_path / "fifo", "dir": tmp_path, "device": "/dev/zero"}[make]
    if make == "fifo":
        os.mkfifo(path)
    outcome = _in_time(read_regular, path, 1024)
    assert isinstance(outcome, NotReadable) and outcome.strerror == "not a regular file"


def test_a_file_larger_than_the_cap_is_refused_unread(tmp_path):
    big = tmp_path / "big"
    with open(big, "wb") as stream:
        stream.truncate(10**10)  # 10 GB, sparse: reading it would take minutes
    outcome = _in_time(read_regular, big, 4096)
    assert isinstance(outcome, NotReadable) and outcome.strerror == "larger than 4096 bytes"


def test_a_missing_file_is_an_ordinary_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "none", 10)


def test_the_shot_list_and_star_files_refuse_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "shots.dat")
    outcome = _in_time(load_shots, tmp_path / "shots.dat")
    assert isinstance(outcome, OcdError)
    assert str(outcome) == f"{tmp_path}/shots.dat: cannot read the shot list: not a regular file"
    outcome = _in_time(parse_stars, tmp_path / "shots.dat")
    assert isinstance(outcome, ShotInputError)
    assert str(outcome) == f"{tmp_path}/shots.dat: cannot read: not a regular file"
