"""Safe text where people read it, through the real commands: a hostile string (ESC sequences,
BEL, NUL, a carriage return, a bidirectional override) from outside reaches a terminal or a
page only as its escapes, and a command's output holds no library noise."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from browser_helpers import board_url, chromium
from conftest import ocd_env, run_ocd
from e2e_helpers import EventTap, OcdProcess, night_config, short_tmpdir, topic_is
from forgery import Forger

from ocd.app.commander import fresh_fields
from ocd.bus.envelope import stamp
from ocd.clock import RealClock
from ocd.config import rehearsal_config, sample_shot_file

#: Terminal title, screen clear, NUL, carriage return and a right-to-left override.
HOSTILE = "\x1b]0;PWNED\x07\x1b[2J\x00\r\u202eLIVE"
RAW = ("\x1b", "\x07", "\x00", "\r", "\u202e")
SAMPLES = rehearsal_config().parent


def test_an_error_quoting_a_hostile_path_is_one_escaped_line(tmp_path: Path):
    hostile = HOSTILE.replace("\x00", "")  # an argument cannot hold a NUL
    done = run_ocd("schedule", "--shots", str(tmp_path / f"shots{hostile}.dat"),
                   "--at", "2017-11-19T03:00", cwd=tmp_path)
    assert done.returncode != 0
    assert not any(c in done.stderr for c in RAW), repr(done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ocd: error: "), lines
    assert "shots\\u001b]0;PWNED\\u0007\\u001b[2J\\r\\u202eLIVE.dat" in lines[0]


def test_a_plan_draws_a_shot_id_as_written_without_library_noise(tmp_path: Path):
    """A ``$`` in a shot id is not mathtext (it used to stop ``ocd plan --plot`` with an
    internal error); a first matplotlib run (no font cache) says nothing on stderr."""
    shotid = "DEX$^{$9"
    shots = tmp_path / "shots.dat"
    shots.write_text(sample_shot_file().read_text().replace("\nDEX00009 ", f"\n{shotid} "))
    for folder, suffix in (("HETcommands", "cfg"), ("ACAMimages", "jpg")):
        shutil.copytree(SAMPLES / folder, tmp_path / folder)
        for track in "EW":
            shutil.copyfile(tmp_path / folder / f"DEX00009_000_{track}.{suffix}",
                            tmp_path / folder / f"{shotid}_000_{track}.{suffix}")
    (tmp_path / "mpl").mkdir()
    done = run_ocd("plan", "--config", str(rehearsal_config()), "--at", "2017-11-19T03:00",
                   "--shots", str(shots), "--set",
                   f"run_shot.shuffle_dir={tmp_path / 'HETcommands'}", "--set",
                   f"run_shot.acam_dir={tmp_path / 'ACAMimages'}", "--plot",
                   str(tmp_path / "plan.png"), cwd=tmp_path, timeout=120,
                   env=ocd_env(MPLCONFIGDIR=str(tmp_path / "mpl")))
    assert done.returncode == 0, done.stderr
    planned = [line.split()[:2] for line in done.stdout.splitlines() if "planned" in line]
    assert planned[0] == ["03:00-03:20", shotid]
    assert (tmp_path / "plan.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert list((tmp_path / "mpl").iterdir()), "matplotlib built its font cache in this run"
    assert done.stderr.splitlines() == [f"ocd plan: drew {tmp_path / 'plan.png'}"]


@pytest.mark.slow
@pytest.mark.browser
def test_the_board_shows_a_hostile_acknowledgement_escaped():
    """A forged command whose value is hostile: ``ocd run`` acknowledges it quoting the value,
    and the board's page (Chromium) shows the escapes, not a reordered or controlled text."""
    from playwright.sync_api import expect

    root = short_tmpdir()
    config = night_config(root, extra="\n[board]\nurl = http://127.0.0.1:0\n")
    run = OcdProcess(("run", "--config", str(config), "--yes"), root, "run")
    board = OcdProcess(("board", "--config", str(config)), root, "board")
    tap = EventTap([f"ipc://{root}/main.ipc"])
    forger = Forger(f"ipc://{root}/allow2.ipc")  # a commander's own address
    try:
        tap.wait_for(topic_is("ocd.main_loop.status"), 60, what="first main loop status")
        forger.wait_for_subscriber("ocd.command.config_send")
        forger.send("ocd.command.config_send", stamp(
            "ocd.command.config_send", {"id": "hostile-1", "changes": [
                ["run_shot", "image_type", HOSTILE]], **fresh_fields()},
            origin="mallory@host:1", seq=1, clock=RealClock()))
        _, ack = tap.wait_for(topic_is("ocd.main_loop.ack", id="hostile-1"), 30,
                              what="the acknowledgement")
        assert "PWNED" in ack.payload["message"]
        with chromium() as browser:
            page = browser.new_page()
            page.goto(board_url(root / "board.out") + "/")
            ack_shown = page.locator("#decision-ack")
            expect(ack_shown).to_contain_text("PWNED", timeout=20_000)
            # the change as the log panel quotes the event (U+202E survives JSON encoding)
            change = page.locator("#log div", has_text="ocd.main_loop.config_changed")
            expect(change).to_have_count(1, timeout=20_000)
            texts = [ack_shown.inner_text(), change.inner_text()]
        assert not any(c in text for c in RAW for text in texts), texts
        assert "\\u202eLIVE" in texts[1], texts
        log = run.stderr()
        assert not any(c in log for c in RAW) and "\\u202eLIVE" in log
    finally:
        forger.close()
        tap.close()
        codes = {name: proc.stop() for name, proc in (("board", board), ("run", run))}
        shutil.rmtree(root, ignore_errors=True)
    assert codes == {"board": 0, "run": 0}
