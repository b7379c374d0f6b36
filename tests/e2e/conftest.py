"""Fixtures shared by the browser flows (helpers that need no pytest fixture are in
tests/support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import DESKTOP_CHROME, launch_chromium, require_browser


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium for the module (Playwright's sync API), saying it is a desktop
    Chrome (the bot filter drops "HeadlessChrome", keepalive requests included)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p, DESKTOP_CHROME)
        yield browser
        browser.close()
