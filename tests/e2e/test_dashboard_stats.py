"""Dashboard flows of the stats half of issue 11 in a real browser: a goal created in the
settings converts, revenue shows in the tiles and the Goals card as the stats API answers it.

A real ``liveinsight serve`` over demo data (its Purchase goals are revenue goals in the
site's currency); headless Chromium logs in; numbers on the page are checked against the
stats API read with the same session cookie.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import Server, launch_chromium, require_browser, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ADMIN = ("admin@localhost", "e2e-chief-password")
SITE = "demo.liveinsight.dev"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    tmp = tmp_path_factory.mktemp("dashboard-stats")
    srv = Server(tmp / "data", tmp / "server.log", wal_fsync="never")
    srv.cli_many(
        ["demo", "--days", "10", "--scale", "0.1"],
        ["create-user", ADMIN[0], "--password", ADMIN[1], "--role", "admin"],
    )
    srv.start()
    yield srv.url
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


@pytest.fixture
def page(server: str, browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/login")
    page.get_by_label("E-mail").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/sites")
    yield page
    assert not errors, errors
    context.close()


def _api(page: Any, server: str, kind: str, **params: str) -> Any:
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    res = httpx.get(f"{server}/api/stats/{kind}", params={"site_id": SITE, **params},
                    cookies=cookies, timeout=30)
    assert res.status_code == 200, res.text
    return res.json()


def _goals_rows(page: Any) -> dict[str, str]:
    rows = page.locator('[data-card="events"] .row')
    return {rows.nth(i).locator(".label").inner_text(): rows.nth(i).locator(".num").inner_text()
            for i in range(rows.count())}


def test_a_goal_created_in_the_settings_converts(page: Any, server: str) -> None:
    page.goto(f"{server}/sites/1/settings")
    form = page.get_by_role("form", name="Add a goal")
    form.get_by_label("Converts on").select_option("event")
    form.get_by_label("Event name or page path").fill("Trial Started")
    form.get_by_role("button", name="Add goal").click()
    page.locator("tr", has_text="Trial Started").wait_for()

    body = {"n": "Trial Started", "u": f"https://{SITE}/pricing", "d": SITE}
    res = httpx.post(f"{server}/api/event", content=json.dumps(body), timeout=10, headers={
        "content-type": "text/plain", "x-forwarded-for": "203.0.113.77",
        "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0 Safari/537.36"})
    assert res.status_code == 202, res.text
    wait_until(lambda: _api(page, server, "aggregate", period="day", metrics="visitors",
                            filters="event:goal==Trial Started")["results"]["visitors"]["value"],
               30, "the goal's conversion in the stats")

    page.goto(f"{server}/sites/1?period=day")
    page.locator('[data-card="events"] .row', has_text="Trial Started").wait_for()
    assert _goals_rows(page)["Trial Started"].startswith("1")


def test_revenue_in_tiles_and_the_goals_card(page: Any, server: str, tmp_path: Path) -> None:
    page.goto(f"{server}/sites/1?period=7d")
    agg = _api(page, server, "aggregate", period="7d", metrics="total_revenue,average_revenue")
    total = agg["results"]["total_revenue"]["value"]
    assert total["currency"] == "USD" and total["value"] > 0
    tile = page.locator('.tile[data-metric="total_revenue"] [data-value]')
    page.wait_for_function(
        "(v) => document.querySelector('.tile[data-metric=total_revenue] [data-value]')"
        "?.dataset.raw === String(v)", arg=total["value"], timeout=30_000)
    assert tile.inner_text() == total["short"]
    assert tile.get_attribute("title") == total["long"]

    goals = _api(page, server, "breakdown", period="7d", property="event:goal",
                 metrics="visitors,events,conversion_rate,total_revenue,average_revenue")
    purchase = next(r for r in goals["results"] if r["goal"] == "Purchase")
    page.locator('[data-card="events"] .row', has_text="Purchase").first.wait_for()
    shown = _goals_rows(page)["Purchase"]
    assert purchase["total_revenue"]["short"] in shown
    assert purchase["average_revenue"]["short"] in shown

    # the revenue graph plots the API's amounts
    page.locator('.tile[data-metric="total_revenue"]').click()
    page.wait_for_url("**metric=total_revenue**")
    page.locator("#graph-title", has_text="Total revenue").wait_for()
    page.wait_for_selector("#graph canvas")
