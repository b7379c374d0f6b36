"""Fixtures shared by the browser flows and the multi-process tests (helpers that need no
pytest fixture are in tests/support.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import DESKTOP_CHROME, Server, launch_chromium, require_browser


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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """``server(**settings)``: a :class:`Server` (not started) on this test's data dir with
    the site example.com; killed at the end if still running."""
    made: list[Server] = []

    def make(**settings: str) -> Server:
        s = Server(tmp_path / "data", tmp_path / "server.log", **settings)
        s.cli("create-site", "example.com")
        made.append(s)
        return s

    yield make
    for s in made:
        if s.proc is not None and s.proc.poll() is None:
            s.kill()
