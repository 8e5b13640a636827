"""The board's picture in doc/board.md, taken from a real rehearsal:

    python -m ocd.dev.screenshot doc/board.png

Runs ``ocd rehearse`` with :data:`REHEARSAL` (its board, the TCS simulator so the guiders'
metrology flows, its alarm watcher), opens the page in Debian's Chromium (Playwright for
Python) at :data:`VIEWPORT`, waits with :func:`shoot` until a shot is exposing with a few
minutes of metrology drawn, and saves a screenshot of the whole page. The test suite runs the
same rehearsal and :func:`shoot` into a temporary directory
(``tests/e2e/test_rehearse_e2e.py``), so the picture this makes is one the suite checks; the
file in ``doc/`` changes only when someone runs this command.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ocd.dev.browser import CHROMIUM, CHROMIUM_ARGS
from ocd.shell.children import child_env

#: The rehearsal pictured: ``ocd rehearse`` and these arguments (20 min of night at the
#: shipped 60x: the first shot's second exposure begins at about 03:08).
REHEARSAL = ("--board", "--tcs", "sim", "--duration", "20m",
             "--set", "board.url=http://127.0.0.1:0")
#: The browser window (the picture is the whole page: as wide, and taller).
VIEWPORT = (1400, 1000)
#: The shot's exposure the picture waits for.
EXPOSING = re.compile(r"exposure [23] of 3")
#: What ``ocd rehearse`` prints once its board serves.
SERVING = re.compile(r"the board of this night: (http://\S+)/")


def shoot(page: Any, url: str, path: Path) -> None:
    """Open the board at ``url`` in the Playwright ``page``, wait until the night shows (a
    shot's second or third exposure, the Sun, the next shots, the alarm bar drawn), save the
    whole page as PNG at ``path``."""
    from playwright.sync_api import expect

    page.goto(url + "/")
    # the second exposure, or the third when the page came late (a loaded machine): a shot
    # exposing with minutes of metrology drawn either way
    expect(page.locator("#shot-exposure")).to_contain_text(EXPOSING, timeout=120_000)
    # the cockpit: the Sun and the Moon, and the shots the plan expects next
    expect(page.locator("#sun")).to_contain_text("°", timeout=60_000)
    expect(page.locator("#next tbody tr").first).to_be_visible(timeout=60_000)
    expect(page.locator("#alarm-history-note")).not_to_be_empty(timeout=60_000)
    page.wait_for_timeout(1500)  # the progress bar moves on a little
    page.screenshot(path=str(path), full_page=True)


def take(path: Path, chromium: str = CHROMIUM) -> None:
    from playwright.sync_api import sync_playwright

    rehearse = subprocess.Popen(
        [sys.executable, "-m", "ocd", "rehearse", *REHEARSAL], stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, env=child_env())
    assert rehearse.stdout is not None
    try:
        url = None
        for line in rehearse.stdout:
            found = SERVING.search(line)
            if found:
                url = found.group(1)
                break
        if url is None:
            raise SystemExit("ocd rehearse ended before its board served")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                tempfile.mkdtemp(prefix="ocd-shot-"), executable_path=chromium,
                args=CHROMIUM_ARGS, headless=True,
                viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]})
            shoot(browser.new_page(), url, path)
            browser.close()
    finally:
        rehearse.terminate()
        rehearse.wait(60)
    print(f"saved {path}")


if __name__ == "__main__":
    take(Path(sys.argv[1] if len(sys.argv) > 1 else "doc/board.png"))
