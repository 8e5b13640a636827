"""The board's night picker: a past night of the archive shown with the live page's panels
(the same model, :class:`~ocd.monitor.night.NightView`), in a real Chromium."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator

import pytest
from archive_helpers import scratch_database
from browser_helpers import board_url, chromium
from e2e_helpers import OcdProcess, night_config, short_tmpdir
from test_archive_mysql import NIGHT, sample_night_rows

from ocd.app.board.past_nights import night_panels
from ocd.archive.store import ArchiveStore, MysqlSettings
from ocd.monitor.night import PANELS, NightSettings

pytestmark = [pytest.mark.mysql]


@pytest.fixture
def archive(mysql_server: dict[str, object]) -> Iterator[tuple[dict[str, object],
                                                               ArchiveStore]]:
    with scratch_database(mysql_server) as db:
        store = ArchiveStore(MysqlSettings(str(db["host"]), int(str(db["port"])),
                                           str(db["database"]), str(db["user"]),
                                           str(db["password"]), section="archive"))
        store.migrate()
        store.write(sample_night_rows().rows)
        yield db, store
        store.close()


def test_a_past_night_has_every_panel_of_the_live_page(archive) -> None:
    _, store = archive
    shown = night_panels(store, NIGHT, NightSettings())
    assert shown is not None and set(shown["panels"]) == set(PANELS)
    shots = shown["panels"]["completed"]["shots"]
    assert [(s["shotid"], s["state"]) for s in shots] == [("DEX00009", "completed"),
                                                          ("DEX00042", "failed")]
    assert shown["shown"] == shown["events"] == 12
    assert night_panels(store, dt.date(2017, 11, 17), NightSettings()) is None


@pytest.mark.browser
def test_the_board_shows_a_past_night_from_the_picker(archive) -> None:
    db, _ = archive
    root = short_tmpdir()
    archive_section = (f"\n[archive]\nmysql_host = {db['host']}\nmysql_port = {db['port']}\n"
                       f"mysql_user = {db['user']}\nmysql_password = {db['password']}\n"
                       f"mysql_database = {db['database']}\n")
    config = night_config(root, extra="\n[board]\nurl = http://127.0.0.1:0\n" + archive_section)
    board = OcdProcess(("board", "--config", str(config)), root, "board")
    try:
        url = board_url(root / "board.out")
        with chromium() as browser:
            from playwright.sync_api import expect

            page = browser.new_page()
            page.goto(url + "/")
            page.wait_for_selector("#night-picker:not([disabled])", timeout=30_000)
            page.select_option("#night-picker", "2017-11-18")
            expect(page.locator("#link")).to_have_text("night 2017-11-18", timeout=30_000)
            page.wait_for_selector("#completed tbody tr", timeout=10_000)
            rows = page.locator("#completed tbody tr").all_inner_texts()
            assert any("DEX00009" in row and "completed" in row for row in rows), rows
            assert any("DEX00042" in row and "failed" in row for row in rows), rows
            expect(page.locator("#night-note")).to_contain_text("12 of 12 events shown")
            expect(page.locator("#clock-utc")).to_have_text("2017-11-19 04:11:00 UTC")
            page.screenshot(path=str(root / "past-night.png"))
    finally:
        assert board.stop() == 0, board.stderr()
        shutil.rmtree(root, ignore_errors=True)


def test_a_board_without_an_archive_says_so_in_one_line() -> None:
    """No server at ``[archive]``: the picker is told why, and the board goes on."""
    import asyncio
    import json

    from archive_helpers import free_port

    from ocd.app.board.past_nights import PastNights
    from ocd.config import load_config

    cfg = load_config([], [("archive", "mysql_port", str(free_port())),
                           ("archive", "mysql_connect_timeout", "2")])
    nights = PastNights(cfg, NightSettings())
    try:
        answer = asyncio.run(nights._nights(None))  # type: ignore[arg-type]
    finally:
        nights.close()
    assert answer.status == 503
    error = json.loads(answer.text or "{}")["error"]
    assert error.startswith("cannot reach the MySQL server") and "[archive]" in error
