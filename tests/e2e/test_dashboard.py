"""The dashboard in a real browser against a real server with demo data.

``liveinsight demo`` fills a fresh data dir (30 days, a third of the default volume),
``liveinsight create-user`` adds an admin, and ``liveinsight serve`` runs as a subprocess
that believes ``X-Forwarded-For`` from this machine (so sent events come from distinct
visitors). Headless Chromium (Playwright) logs in and uses the dashboard; numbers on the
page are checked against the stats API read with the same session cookie.

Screenshots go to a temporary dir, or to ``$LIVEINSIGHT_SCREENSHOT_DIR`` (the docs use
``docs/images``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from liveinsight.demo import catalog, live
from tests.support import Server, launch_chromium, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ADMIN = ("admin@localhost", "e2e-chief-password")
SITE = "demo.liveinsight.dev"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    tmp = tmp_path_factory.mktemp("dashboard")
    srv = Server(tmp / "data", tmp / "server.log", wal_fsync="never")
    srv.cli_many(
        ["demo", "--days", "30", "--scale", "0.3"],
        ["create-user", ADMIN[0], "--password", ADMIN[1], "--role", "admin"],
    )
    srv.start()
    yield srv.url
    srv.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("LIVEINSIGHT_SCREENSHOT_DIR")
    path = Path(target) if target else tmp_path_factory.mktemp("shots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


def _api(page: Any, server: str, kind: str, **params: str) -> Any:
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    res = httpx.get(f"{server}/api/stats/{kind}", params={"site_id": SITE, **params},
                    cookies=cookies, timeout=30)
    assert res.status_code == 200, res.text
    return res.json()


def _realtime(page: Any, server: str) -> Any:
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    return httpx.get(f"{server}/api/realtime", params={"site_id": SITE}, cookies=cookies,
                     timeout=30).json()["visitors"]


def _tile(page: Any, metric: str, expected: Any) -> None:
    page.wait_for_function(
        "([m, v]) => document.querySelector(`.tile[data-metric=${m}] [data-value]`)"
        "?.dataset.raw === String(v)", arg=[metric, expected], timeout=30_000)


def _query(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def _login(page: Any, server: str, shots: Path | None = None) -> None:
    page.goto(f"{server}/login")
    if shots is not None:
        page.screenshot(path=str(shots / "login.png"))
    page.get_by_label("E-mail").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/sites")


def test_dashboard_journey(server: str, browser: Any, shots: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # log in and open the site
    _login(page, server, shots)
    page.get_by_role("link", name="LiveInsight demo").click()
    page.wait_for_url("**/sites/*")

    # the headline numbers are the stats API's
    total = _api(page, server, "aggregate", period="30d", metrics="visitors,pageviews")
    _tile(page, "visitors", total["results"]["visitors"]["value"])
    _tile(page, "pageviews", total["results"]["pageviews"]["value"])
    page.locator(".breakdown .row").first.wait_for()
    page.wait_for_selector("#world-map svg")
    page.wait_for_selector("#graph canvas")

    # filter by clicking a row, then remove the filter
    sources = page.locator('[data-card="sources"]')
    first = sources.locator(".row").first
    channel = first.locator(".label").inner_text()
    first.click()
    chip = page.locator(".chip")
    chip.wait_for()
    assert channel in chip.inner_text()
    assert _query(page)["filters"] == [f"visit:channel=={channel}"]
    filtered = _api(page, server, "aggregate", period="30d", metrics="visitors",
                    filters=f"visit:channel=={channel}")["results"]["visitors"]["value"]
    assert 0 < filtered < total["results"]["visitors"]["value"]
    _tile(page, "visitors", filtered)
    page.screenshot(path=str(shots / "dashboard-filtered.png"))
    chip.get_by_role("button").click()
    page.wait_for_function("() => !document.querySelector('.chip')")
    assert "filters" not in _query(page)
    _tile(page, "visitors", total["results"]["visitors"]["value"])

    # change the range
    page.get_by_label("Date range").select_option("7d")
    page.wait_for_url("**period=7d**")
    week = _api(page, server, "aggregate", period="7d", metrics="visitors")
    _tile(page, "visitors", week["results"]["visitors"]["value"])

    # compare with the previous period: a second line on the graph, kept in the URL
    page.get_by_label("Compare with").select_option("previous_period")
    page.wait_for_url("**compare=previous_period**")
    page.locator(".u-legend").get_by_text("Previous period", exact=True).wait_for()
    # the cards' rows carry their change against the comparison
    sources.locator(".row-change").first.wait_for()
    # this month, in progress: only the elapsed days are drawn (no future zeros), and the
    # comparison is the first days of last month, every bucket with its date
    page.get_by_label("Date range").select_option("month")
    page.wait_for_url("**period=month**")
    month = _api(page, server, "timeseries", period="month", metrics="visitors",
                 compare="previous_period")
    assert all(r["date"] for r in month["comparison"])
    assert len(month["comparison"]) <= len(month["results"])
    page.wait_for_function(
        "n => (document.querySelector('#graph').getAttribute('aria-label') || '')"
        ".endsWith(', ' + n + ' points')", arg=len(month["results"]))
    page.get_by_label("Date range").select_option("7d")
    page.wait_for_url("**period=7d**")

    # export a card as CSV
    with page.expect_download() as download:
        sources.get_by_role("button", name="Export CSV").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    api_rows = _api(page, server, "breakdown", period="7d", property="visit:channel",
                    metrics="visitors", limit="1000")["results"]
    assert rows[0] == ["channel", "visitors"]
    assert rows[1:] == [[r["channel"], str(r["visitors"])] for r in api_rows]

    # the live counter moves when visitors arrive
    count = page.locator("#live-count")
    page.wait_for_function("() => document.querySelector('#live-count').dataset.value")
    before = int(count.get_attribute("data-value") or 0)
    # six new visitors, as the demo's live trickle makes them (browsers, places, referrers)
    trickle = live.Trickle([catalog.SAAS], 1.0, random.Random(3))
    hits: dict[str, live.Hit] = {}
    tick = 0.0
    while len(hits) < 6:
        for hit in trickle.due(tick):
            if hit.body["n"] == "pageview":
                hits.setdefault(hit.ip, hit)
        tick += 1.0
    pages = [urlsplit(str(h.body["u"])).path for h in list(hits.values())[:6]]
    for hit in list(hits.values())[:6]:
        res = httpx.post(f"{server}/api/event", headers={
            "user-agent": hit.user_agent, "x-forwarded-for": hit.ip,
            "content-type": "text/plain"}, content=json.dumps(hit.body), timeout=10)
        assert res.status_code < 300
    page.wait_for_function("() => document.querySelectorAll('#feed li.new').length >= 6",
                           timeout=10_000)
    # Demo visitors may age out of the 5-minute window meanwhile: the counter must rise to
    # what the realtime API says, which includes the new visitors.
    after, api, deadline = before, -1, time.monotonic() + 20
    while not (after == api and api >= len(pages) and after > before):
        assert time.monotonic() < deadline, (before, after, api)
        page.wait_for_timeout(250)
        after = int(count.get_attribute("data-value") or 0)
        api = _realtime(page, server)
    assert count.inner_text() == f"{after:,}"
    feed = page.locator("#feed").inner_text()
    assert all(path in feed for path in pages), (pages, feed)
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    assert not errors, errors
    context.close()


def test_settings_and_phone_views(server: str, browser: Any, shots: Path) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    _login(page, server)
    page.goto(f"{server}/sites/1/settings")
    snippet = page.locator("#snippet-plausible").input_value()
    assert f'data-domain="{SITE}"' in snippet and "/js/script." in snippet
    assert "data-website-id=" in page.locator("#snippet-umami").input_value()
    page.screenshot(path=str(shots / "settings.png"), full_page=True)
    page.goto(f"{server}/sites")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-site]')].every((t) => "
        "t.querySelector('[data-spark] svg') && !t.textContent.includes('–'))")
    page.screenshot(path=str(shots / "sites.png"))
    context.close()

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                has_touch=True, device_scale_factor=2)
    page = phone.new_page()
    _login(page, server)
    for site in (3, 1):  # the blog has the longest page paths
        page.goto(f"{server}/sites/{site}?period=7d")
        page.locator(".breakdown .row").first.wait_for()
        page.wait_for_selector("#graph canvas")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"site {site} scrolls sideways on a phone ({width}px)"
    page.screenshot(path=str(shots / "phone.png"))
    phone.close()
