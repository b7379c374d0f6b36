"""A shared link's realtime page in a real browser against ``liveinsight serve``: a
signed-out browser opens the shared dashboard, ``r`` leads to the link's realtime page (not
the site's), whose numbers and top pages are the realtime API's for the link; an event sent to
the collector afterwards shows in its live list and in its visitor count without a reload;
its way back leads to the shared dashboard."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.test_realtime_browser import LISTED, SITE, _send
from tests.support import Server, launch_chromium, require_browser, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The server (two visitors' events stored) and a shared link's URL."""
    require_browser()
    tmp = tmp_path_factory.mktemp("sharing-realtime")
    srv = Server(tmp / "data", tmp / "server.log", wal_fsync="never")
    srv.cli("create-site", SITE)
    key = srv.cli("create-api-key", "sharing", "--scope", "admin").strip().splitlines()[-1]
    srv.start()
    try:
        _send(srv.url, "/", "a")
        _send(srv.url, "/pricing", "b")
        made = httpx.post(f"{srv.url}/api/v1/sites/{SITE}/shared-links", json={
            "label": "Live"}, headers={"authorization": f"Bearer {key}"}, timeout=30)
        assert made.status_code == 201, made.text
        yield srv.url, str(made.json()["url"])
    finally:
        srv.stop()


def _realtime(server: str, token: str) -> dict[str, Any]:
    doc: dict[str, Any] = httpx.get(f"{server}/api/realtime", params={
        "site_id": SITE, "window": "30", "auth": token}, timeout=30).json()
    return doc


def test_a_signed_out_browser_follows_a_shared_sites_live_events(
        shared: tuple[str, str]) -> None:
    from playwright.sync_api import sync_playwright

    server, url = shared
    token = url.rsplit("/", 1)[1]
    wait_until(lambda: _realtime(server, token)["visitors"] == 2, 30, "the events stored")
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_context().new_page()  # no session: the link is the credential
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        page.wait_for_selector(".tile [data-value][data-raw]")
        page.locator("h1").click()
        page.keyboard.press("r")
        page.wait_for_url(f"**/share/{token}/realtime")
        assert page.get_by_test_id("read-only").is_visible()
        page.wait_for_function(
            "() => document.getElementById('rt-current').dataset.value === '2'", timeout=30_000)
        page.wait_for_function(
            "() => document.getElementById('rt-visitors').dataset.value === '2'", timeout=30_000)
        doc = _realtime(server, token)
        top = page.locator("[data-rt-card=pages] button.row")
        assert sorted(top.evaluate_all("rows => rows.map(r => r.dataset.value)")) == sorted(
            p["page"] for p in doc["top_pages"]) == ["/", "/pricing"]

        # a new event: in the live list at once, and in the visitor counts once stored
        _send(server, "/launch", "c")
        page.wait_for_function(LISTED, arg="/launch", timeout=30_000)
        page.wait_for_function(
            "() => document.getElementById('rt-current').dataset.value === '3'", timeout=30_000)
        page.wait_for_function(
            "() => document.getElementById('rt-visitors').dataset.value === '3'", timeout=30_000)

        # back to the shared dashboard, never the site's (which would ask to sign in)
        assert page.locator("#rt-back").get_attribute("href") == f"/share/{token}"
        page.locator("#rt-back").click()
        page.wait_for_url(lambda u: urlsplit(u).path == f"/share/{token}")
        page.wait_for_selector(".tile [data-value][data-raw]")
        assert errors == []
        browser.close()
