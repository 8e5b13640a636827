"""The board's picture in doc/board.md, taken from a real rehearsal:

    python -m ocd.dev.screenshot doc/board.png

Runs ``ocd rehearse --board --tcs sim`` (the TCS simulator, so the guiders' metrology flows),
opens the page in Debian's Chromium (Playwright for Python), waits until a shot is exposing
with a few minutes of metrology drawn, and saves a screenshot of the whole page.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from ocd.dev.browser import CHROMIUM, CHROMIUM_ARGS
from ocd.shell.children import child_env


def take(path: Path, chromium: str = CHROMIUM) -> None:
    from playwright.sync_api import expect, sync_playwright

    rehearse = subprocess.Popen(
        [sys.executable, "-m", "ocd", "rehearse", "--board", "--tcs", "sim", "--duration", "1h",
         "--set", "board.url=http://127.0.0.1:0"], stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, env=child_env())
    assert rehearse.stdout is not None
    try:
        url = None
        for line in rehearse.stdout:
            found = re.search(r"the board of this night: (\S+)/", line)
            if found:
                url = found.group(1)
                break
        if url is None:
            raise SystemExit("ocd rehearse ended before its board served")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                tempfile.mkdtemp(prefix="ocd-shot-"), executable_path=chromium,
                args=CHROMIUM_ARGS, headless=True, viewport={"width": 1400, "height": 1000})
            page = browser.new_page()
            page.goto(url + "/")
            expect(page.locator("#shot-exposure")).to_contain_text("exposure 2 of 3",
                                                                   timeout=120_000)
            # the cockpit: the Sun and the Moon, and the shots the plan expects next
            expect(page.locator("#sun")).to_contain_text("°", timeout=60_000)
            expect(page.locator("#next tbody tr").first).to_be_visible(timeout=60_000)
            page.wait_for_timeout(1500)  # the progress bar moves on a little
            page.screenshot(path=str(path), full_page=True)
            browser.close()
    finally:
        rehearse.terminate()
        rehearse.wait(60)
    print(f"saved {path}")


if __name__ == "__main__":
    take(Path(sys.argv[1] if len(sys.argv) > 1 else "doc/board.png"))
