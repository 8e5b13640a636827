"""No path sent to ``ocd run`` can block or flood its loop, nor tell what is at the path.

A forged ``config_send`` (from a commander's address) names, as the shot file, a FIFO,
``/dev/zero``, a directory, a 10 GB file, a link out of the shot file's directory, a file
outside it, a missing one, and a file inside it that is not a shot list. While each is refused,
a second process asks ``ocd run`` every 0.5 s (a heartbeat enquiry and ``allow_hetdex stop``):
every question is answered within 1 s, and ``ocd run``'s memory grows by less than 50 MB.
Every refusal is the same line but for the path quoted: nothing of what is there (the log of
``ocd run`` says why only for a file inside the shot file's directory).
"""

from __future__ import annotations

import os
import shutil

import pytest
from e2e_helpers import night_config, short_tmpdir, topic_is
from forgery import Forger
from pinging import Pinger, rss_bytes
from test_main_loop_e2e import start_night, stop_night

from ocd.app.commander import fresh_fields
from ocd.bus.envelope import stamp
from ocd.clock import RealClock

pytestmark = pytest.mark.slow

MB = 2**20
SECRET_LINE = " ".join(f"token{i}" for i in range(17))  # a 17-token line: never quoted


def attacks(root) -> dict[str, str]:
    """Name -> the path sent as ``[shots] shot_file``."""
    os.mkfifo(root / "fifo.dat")
    with open(root / "huge.dat", "wb") as stream:
        stream.truncate(10 * 2**30)  # sparse
    os.symlink("/etc/passwd", root / "link.dat")
    (root / "notes.dat").write_text(SECRET_LINE + "\n")
    return {"fifo": str(root / "fifo.dat"), "device": "/dev/zero",
            "directory": str(root / "HETcommands"), "huge": str(root / "huge.dat"),
            "link-out": str(root / "link.dat"), "outside": "/etc/passwd",
            "shadow": "/etc/shadow", "missing": str(root / "missing.dat"),
            "not-a-list": str(root / "notes.dat")}


def test_no_sent_path_blocks_floods_or_tells_what_is_there():
    root = short_tmpdir()
    night = start_night(root, night_config(root))
    pinger = forger = None
    acks = {}
    try:
        sent = attacks(root)
        pinger = Pinger(root, f"ipc://{root}/allow1.ipc", f"ipc://{root}/main.ipc")
        forger = Forger(f"ipc://{root}/allow2.ipc")
        forger.wait_for_subscriber("ocd.command.config_send")
        rss_before = rss_bytes(night.run.popen.pid)
        for seq, (name, path) in enumerate(sent.items(), start=1):
            forger.send("ocd.command.config_send", stamp(
                "ocd.command.config_send",
                {"id": name, "changes": [["shots", "shot_file", path]], **fresh_fields()},
                origin="mallory@host:1", seq=seq, clock=RealClock()))
            _, ack = night.tap.wait_for(topic_is("ocd.main_loop.ack", id=name), 30,
                                        what=f"the answer to {name}")
            acks[name] = ack.payload
        asked_during = len(pinger.answers())
        # a good list in the shot file's directory is still taken
        shutil.copyfile(root / "shots.dat", root / "other.dat")
        forger.send("ocd.command.config_send", stamp(
            "ocd.command.config_send", {"id": "good", "changes": [
                ["shots", "shot_file", str(root / "other.dat")]], **fresh_fields()},
            origin="mallory@host:1", seq=100, clock=RealClock()))
        _, good = night.tap.wait_for(topic_is("ocd.main_loop.ack", id="good"), 30,
                                     what="the answer to the good list")
        rss_growth = rss_bytes(night.run.popen.pid) - rss_before
        answers = pinger.stop()
    finally:
        if forger is not None:
            forger.close()
        if pinger is not None and pinger.popen.poll() is None:
            pinger.stop()
        stop_night(night)
    try:
        assert good.payload["ok"], good.payload
        assert asked_during >= 2 and answers, "the pinger asked nothing during the attacks"
        slow = [a for a in answers if a["latency"] is None or a["latency"] >= 1.0]
        assert not slow, slow
        assert rss_growth < 50 * MB, f"ocd run grew by {rss_growth / MB:.0f} MB"
        assert not [name for name, ack in acks.items() if ack["ok"]]
        lines = {name: ack["message"].replace(sent[name], "PATH") for name, ack in acks.items()}
        assert len(set(lines.values())) == 1, lines  # one line whatever is there
        line = next(iter(lines.values()))
        assert line.startswith("[shots] shot_file = PATH: refused: a shot file sent at run "
                               f"time must be a regular file of at most 4 MiB in {root}"), line
        assert "\n" not in line and "token" not in line
        # the log says why for a file in the shot file's directory (the RA's), never what is
        # in a file outside it
        log = night.run.stderr()
        assert "notes.dat:1:" in log and "root:x:" not in log
    finally:
        shutil.rmtree(root, ignore_errors=True)
