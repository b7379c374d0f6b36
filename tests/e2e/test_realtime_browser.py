"""The realtime page in a real browser against ``liveinsight serve``: ``r`` on the dashboard
opens it; the current visitors and the top pages are the realtime API's; an event sent
afterwards appears in the live list without a reload (its hostile path shown as text, never
run); a filter picked from the top pages, or a "does not contain" one, narrows the numbers
and the live list alike; a filter live events cannot apply pauses the list and says so; the
dashboard's range keys lead back with the filters; nothing scrolls sideways on a phone."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import Server, launch_chromium, require_browser, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ADMIN = ("admin@localhost", "e2e-chief-password")
SITE = "example.com"
HOSTILE = "/x<svg/onload=window.__xss=1>"
LISTED = ("p => [...document.querySelectorAll('#rt-feed li .what')]"
          ".some(e => e.textContent === p)")


def _send(url: str, path: str, visitor: str) -> None:
    sent = httpx.post(f"{url}/api/event", json={
        "n": "pageview", "d": SITE, "u": f"https://{SITE}{path}"},
        headers={"user-agent": f"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0 {visitor}"},
        timeout=10)
    assert sent.status_code == 202, sent.text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    tmp = tmp_path_factory.mktemp("realtime")
    srv = Server(tmp / "data", tmp / "server.log", wal_fsync="never")
    srv.cli_many(
        ["create-site", SITE],
        ["create-user", ADMIN[0], "--password", ADMIN[1], "--role", "admin"],
    )
    srv.start()
    try:
        _send(srv.url, "/", "a")
        _send(srv.url, "/pricing", "a")
        _send(srv.url, "/", "b")
        yield srv.url
    finally:
        srv.stop()


def _realtime(server: str, page: Any) -> dict[str, Any]:
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    doc: dict[str, Any] = httpx.get(f"{server}/api/realtime", params={
        "site_id": SITE, "window": "30"}, cookies=cookies, timeout=30).json()
    return doc


def _feed(page: Any) -> list[str]:
    texts: list[str] = page.eval_on_selector_all(
        "#rt-feed li .what", "items => items.map(i => i.textContent)")
    return texts


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``$LIVEINSIGHT_SCREENSHOT_DIR`` (the docs use
    ``docs/images``), else a temporary dir."""
    target = os.environ.get("LIVEINSIGHT_SCREENSHOT_DIR")
    path = Path(target) if target else tmp_path_factory.mktemp("shots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_the_realtime_page(server: str, shots: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{server}/login")
        page.get_by_label("E-mail").fill(ADMIN[0])
        page.get_by_label("Password").fill(ADMIN[1])
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/sites")
        wait_until(lambda: _realtime(server, page)["visitors"] == 2, 30, "the events stored")
        page.locator("a.site-link").first.click()
        page.wait_for_selector(".tile [data-value][data-raw]")
        page.locator("h1").click()
        page.keyboard.press("r")
        page.wait_for_url("**/sites/*/realtime")

        doc = _realtime(server, page)
        page.wait_for_function(
            "v => document.getElementById('rt-current').dataset.value === String(v)",
            arg=doc["visitors"], timeout=30_000)
        assert page.locator("#rt-current").inner_text() == "2"
        top = page.locator("[data-rt-card=pages] button.row").first
        assert top.get_attribute("data-value") == doc["top_pages"][0]["page"] == "/"
        assert top.get_attribute("data-visitors") == str(doc["top_pages"][0]["visitors"]) == "2"
        countries = page.locator("[data-rt-card=countries] button.row")
        assert countries.count() == 1  # loopback: no country, "(unknown)"
        per_minute = [int(v) for v in page.locator("#rt-graph").get_attribute(
            "data-values").split(",")]
        # two visitors, each in the minute(s) of their pageviews (a's two may straddle one)
        assert len(per_minute) == 30 and 2 <= sum(per_minute) <= 3

        # new events: in the live list at once, and in the numbers once stored
        _send(server, "/blog/", "c")
        page.wait_for_function(LISTED, arg="/blog/", timeout=30_000)
        page.wait_for_function("() => document.getElementById('rt-current').dataset.value === '3'",
                               timeout=30_000)
        page.screenshot(path=str(shots / "realtime.png"), full_page=True)
        _send(server, HOSTILE, "c")
        page.wait_for_function(LISTED, arg=HOSTILE, timeout=30_000)
        page.wait_for_function("() => document.getElementById('rt-current').dataset.value === '3'",
                               timeout=30_000)
        assert page.evaluate("() => window.__xss") is None
        assert page.locator("#rt-feed svg").count() == 0

        # a filter from the top pages: the numbers and the live list follow it
        page.locator("[data-rt-card=pages] button.row[data-value='/pricing']").click()
        page.wait_for_function("() => location.search.includes('filters=')")
        page.wait_for_function("() => document.getElementById('rt-current').dataset.value === '1'",
                               timeout=30_000)
        assert page.locator("#filters .chip").inner_text().startswith("Page is /pricing")
        _send(server, "/", "d")
        _send(server, "/pricing", "d")
        page.wait_for_function(LISTED, arg="/pricing", timeout=30_000)
        # "/" was sent first, and the stream keeps the order: had it passed, it would show
        assert _feed(page) == ["/pricing"]
        page.wait_for_function("() => document.getElementById('rt-current').dataset.value === '2'",
                               timeout=30_000)

        # "does not contain" in the live list as in the numbers (visitors without /pricing)
        page.goto(page.url.split("?")[0] + "?filters=event:page!~pri")
        page.wait_for_function("() => document.getElementById('rt-current').dataset.value "
                               "=== '4'", timeout=30_000)  # a, b, c, d each saw another page
        _send(server, "/pricing", "e")
        _send(server, "/about", "e")
        page.wait_for_function(LISTED, arg="/about", timeout=30_000)
        assert _feed(page) == ["/about"]
        # a filter live events cannot apply: the list says so and shows nothing
        page.goto(page.url.split("?")[0] + "?filters=visit:utm_source==news")
        page.wait_for_function("() => document.getElementById('rt-current').dataset.value "
                               "=== '0'", timeout=30_000)
        note = page.locator("#rt-feed-note")
        assert note.is_visible() and "UTM source" in note.inner_text()
        _send(server, "/", "f")
        # stored, so published to the stream before: the list left it out
        wait_until(lambda: _realtime(server, page)["visitors"] == 6, 30, "f's event stored")
        assert _feed(page) == []
        assert page.locator("#rt-current").get_attribute("data-value") == "0"

        # the dashboard's keys lead back, with the filters
        page.locator("h1").click()
        page.keyboard.press("d")
        page.wait_for_url("**/sites/*?period=day&filters=*")
        page.wait_for_selector(".chip[data-filter='visit:utm_source']")
        assert errors == []

        # on a phone: nothing scrolls sideways, the live list included
        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                    has_touch=True, device_scale_factor=2)
        small = phone.new_page()
        small.context.add_cookies(page.context.cookies())
        small.goto(page.url.split("?")[0] + "/realtime")  # the dashboard's, unfiltered
        small.locator("[data-rt-card=pages] .row").first.wait_for()
        small.wait_for_selector("#rt-graph canvas")
        _send(server, HOSTILE, "e")
        small.wait_for_function(LISTED, arg=HOSTILE, timeout=30_000)
        width = small.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"the realtime page scrolls sideways on a phone ({width}px)"
        phone.close()
        browser.close()
