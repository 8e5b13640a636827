"""A real browser for the tests: Debian's Chromium driven by Playwright for Python, never a
browser downloaded at run time. Without Chromium (or Playwright) the tests that need it skip,
which ``CI=true`` turns into failures (see conftest.py)."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ocd.dev.browser import CHROMIUM, CHROMIUM_ARGS


def chromium_path() -> str:
    """The system Chromium, or skip the test (a failure in CI)."""
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if found is None:
        pytest.skip("no Chromium: apt-get install chromium (.ci/run installs it)")
    pytest.importorskip("playwright.sync_api")
    return found


@contextmanager
def chromium(viewport: tuple[int, int] = (1400, 1500)) -> Iterator[object]:
    """A fresh Chromium (its own profile directory) as a Playwright browser context."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    profile = Path(tempfile.mkdtemp(prefix="ocd-chromium-"))
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(profile), executable_path=path, args=CHROMIUM_ARGS, headless=True,
                viewport={"width": viewport[0], "height": viewport[1]})
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def board_url(out: Path, timeout: float = 30.0) -> str:
    """The address ``ocd board`` printed on its standard output (``out``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = out.read_text() if out.exists() else ""
        match = re.search(r"ocd board: the night on (http://[^/\s]+)/", text)
        if match:
            return match.group(1)
        time.sleep(0.1)
    raise AssertionError(f"ocd board printed no address within {timeout:g} s")
