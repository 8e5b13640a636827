"""How a board page draws, in Chromium against a real ``ocd board``: the log's new lines are
added above the ones shown (never the 200 rows made again), trimmed to 200, in order, none
twice or lost; the topic filter draws them again; many updates between two frames draw once.

The events come from a publisher of this test on the board's ipc addresses, as ``ocd run``'s
would; the page is driven through Playwright's async API.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zmq.asyncio
from browser_helpers import board_url, chromium_path
from e2e_helpers import OcdProcess, night_config, short_tmpdir

from ocd.bus import Publisher
from ocd.clock import RealClock
from ocd.core import topics
from ocd.dev.browser import CHROMIUM_ARGS

pytestmark = [pytest.mark.slow, pytest.mark.browser]

#: The numbers of the test's decisions in the log's rows, top (newest) first.
SHOWN = """() => [...document.querySelectorAll("#log div")].map((row) => {
  const match = /shotid=PNT(\\d{5})\\b/.exec(row.textContent);
  return match ? Number(match[1]) : null;
})"""


@dataclass
class Board:
    url: str
    main: Publisher
    root: Path


@pytest.fixture
async def board() -> AsyncIterator[Board]:
    root = short_tmpdir()
    config = night_config(root, extra="\n[board]\nurl = http://127.0.0.1:0\n")
    process = OcdProcess(("board", "--config", str(config)), root, "board")
    ctx = zmq.asyncio.Context()
    main = Publisher(ctx, f"ipc://{root}/main.ipc", "ocd_main_loop", RealClock())
    try:
        await main.wait_for_subscriber(topics.MAIN_DECISION, 30)
        yield Board(board_url(root / "board.out"), main, root)
    finally:
        main.close()
        ctx.term()
        code = process.stop()
        errors = process.stderr()[-2000:]
        shutil.rmtree(root, ignore_errors=True)
        assert code == 0, errors


def decide(board: Board, first: int, last: int) -> None:
    for number in range(first, last + 1):
        board.main.publish_nowait(topics.MAIN_DECISION, {
            "shotid": f"PNT{number:05d}", "track": "W", "scheduler": "builtin", "started": False,
            "reason": f"paint-{number}"})


async def newest_is(page: Any, number: int) -> None:
    """Waits until the log's top row is decision ``number``."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    try:
        await page.wait_for_function(f"""() => {{
          const top = document.querySelector("#log div");
          return top !== null && /shotid=PNT{number:05d}\\b/.test(top.textContent);
        }}""", timeout=30_000)
    except PlaywrightTimeout:
        rows = await page.locator("#log div").all_text_contents()
        raise AssertionError(f"PNT{number:05d} not on top of the log: {rows[:3]}") from None


async def test_new_log_lines_are_added_above_the_rows_shown(board: Board) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(),
                                                   args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(board.url + "/")
            await page.wait_for_selector("#link.on")
            decide(board, 1, 150)
            await newest_is(page, 150)
            # the row of decision 150 is marked: drawn again, it would lose the mark
            await page.evaluate("""() => { for (const row of document.querySelectorAll("#log div"))
              if (/shotid=PNT00150\\b/.test(row.textContent)) row.dataset.kept = "yes"; }""")
            for first in range(151, 251, 10):  # in steps the page takes as additions
                decide(board, first, first + 9)
                await newest_is(page, first + 9)
            shown = [n for n in await page.evaluate(SHOWN) if n is not None]
            assert await page.locator("#log div").count() <= 200
            assert shown == list(range(250, 250 - len(shown), -1)), shown  # in order, none twice
            assert len(shown) >= 190, len(shown)  # 200 rows, a few may be the board's own
            kept = page.locator("#log div[data-kept=yes]")
            assert await kept.count() == 1
            assert re.search(r"shotid=PNT00150\b", await kept.text_content() or "")

            # the filter draws the rows again, and clearing it brings them all back
            await page.fill("#log-filter", "no.such.topic")
            await page.wait_for_function("() => !document.querySelector('#log div')")
            await page.fill("#log-filter", "")
            await newest_is(page, 250)
            assert [n for n in await page.evaluate(SHOWN) if n is not None][:len(shown)] == shown
            decide(board, 251, 251)
            await page.fill("#log-filter", topics.MAIN_DECISION)
            await newest_is(page, 251)
            texts = await page.locator("#log div").all_text_contents()
            assert texts and all(topics.MAIN_DECISION in text for text in texts), texts[:5]
            assert errors == []
        finally:
            await browser.close()


async def test_updates_between_two_frames_are_drawn_once(board: Board) -> None:
    """Fifty batches that reach the page before its next frame (here handed to the page's own
    handler in one go, as a browser busy elsewhere receives them) change the decision's text
    once, to the last one's."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(),
                                                   args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page()
            await page.goto(board.url + "/")
            await page.wait_for_selector("#link.on")
            decide(board, 1, 1)
            await page.wait_for_function(
                "() => /paint-1\\b/.test(document.getElementById('decision-last').textContent)")
            changes = await page.evaluate("""() => new Promise((resolve) => {
              let changes = 0;
              const target = document.getElementById("decision-last");
              new MutationObserver((records) => { changes += records.length; }).observe(
                target, {childList: true, characterData: true, subtree: true});
              const panel = state.panels.decision;
              for (let k = 2; k <= 51; k++) {
                const d = {...panel, decision: {...panel.decision, reason: `paint-${k}`}};
                socket.onmessage({data: JSON.stringify({w: Date.now() / 1000,
                  u: [{p: "decision", d}]})});
              }
              const wait = () => /paint-51\\b/.test(target.textContent)
                ? setTimeout(() => resolve(changes), 0) : requestAnimationFrame(wait);
              requestAnimationFrame(wait);
            })""")
            assert changes == 1, changes
        finally:
            await browser.close()
