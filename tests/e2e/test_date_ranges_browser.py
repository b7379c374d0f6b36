"""Date ranges and keyboard shortcuts in a real browser against ``liveinsight serve`` with
demo data: each shortcut (as Plausible's) picks its range, ← and → move it by its own
length (never past today), keys typed into a field are ignored, and the numbers shown are
the stats API's for the range the page's URL names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support import Server, launch_chromium, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ADMIN = ("admin@localhost", "e2e-chief-password")
SITE = "demo.liveinsight.dev"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    tmp = tmp_path_factory.mktemp("ranges")
    srv = Server(tmp / "data", tmp / "server.log", wal_fsync="never")
    srv.cli_many(
        ["demo", "--days", "45", "--scale", "0.05"],
        ["create-user", ADMIN[0], "--password", ADMIN[1], "--role", "admin"],
    )
    srv.start()
    yield srv.url
    srv.stop()


def _state(page: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def _check(page: Any, server: str, choice: str) -> dict[str, str]:
    """The select shows ``choice`` and the visitors tile the API's number for the URL's
    range; the URL's parameters."""
    page.wait_for_function("c => document.getElementById('period').value === c", arg=choice)
    state = _state(page)
    metrics = page.eval_on_selector_all(".tile", "ts => ts.map(t => t.dataset.metric)")
    params = {"site_id": SITE, "period": state["period"], "metrics": ",".join(metrics)}
    if state["period"] == "custom":
        params["date"] = f"{state['from']},{state['to']}"
    elif "date" in state:
        params["date"] = state["date"]
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    expected = httpx.get(f"{server}/api/stats/aggregate", params=params, cookies=cookies,
                         timeout=30).json()["results"]["visitors"]["value"]
    page.wait_for_function(
        "v => document.querySelector('.tile[data-metric=visitors] [data-value]')"
        "?.dataset.raw === String(v)", arg=expected, timeout=30_000)
    return state


def test_shortcuts_and_moving_the_period(server: str) -> None:
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
        page.locator("a.site-link").first.click()
        page.wait_for_selector(".tile [data-value][data-raw]")
        page.locator("h1").click()  # the page has the focus, no field

        named = {"d": ("day", "day"), "e": ("yesterday", "day"), "w": ("7d", "7d"),
                 "t": ("30d", "30d"), "m": ("month", "month"), "y": ("year", "year"),
                 "a": ("all", "all"), "l": ("last_month", "month")}
        for key, (choice, period) in named.items():
            page.keyboard.press(key)
            state = _check(page, server, choice)
            assert state["period"] == period, key
            assert ("date" in state) == (choice in ("yesterday", "last_month")), key
        last_month = _state(page)["date"]
        assert last_month.endswith("-01")

        # ← from last month: the month before, named by its dates; → twice: this month
        page.keyboard.press("ArrowLeft")
        state = _check(page, server, "shifted")
        assert state["period"] == "month" and state["date"] < last_month
        assert page.locator("#period-shifted").inner_text()  # "Oct 2026"
        page.keyboard.press("ArrowRight")
        _check(page, server, "last_month")
        page.keyboard.press("ArrowRight")
        state = _check(page, server, "month")
        assert "date" not in state
        page.keyboard.press("ArrowRight")  # not past today
        assert _check(page, server, "month") == state

        page.keyboard.press("w")
        page.keyboard.press("ArrowLeft")
        state = _check(page, server, "shifted")
        assert state["period"] == "7d"
        page.keyboard.press("d")
        page.keyboard.press("ArrowLeft")
        _check(page, server, "yesterday")

        # c opens the custom range; keys typed in its fields do not change the range
        before = _state(page)
        page.keyboard.press("c")
        assert page.locator("#custom-range").is_visible()
        assert page.evaluate("() => document.activeElement.id") == "from"
        page.keyboard.press("a")
        page.keyboard.press("ArrowLeft")
        assert _state(page) == before
        page.locator("#from").fill("2026-01-01")
        page.locator("#to").fill("2026-01-10")
        page.get_by_role("button", name="Apply").click()
        state = _check(page, server, "custom")
        assert (state["from"], state["to"]) == ("2026-01-01", "2026-01-10")
        page.locator("h1").click()
        page.keyboard.press("ArrowLeft")  # the 10 days before
        state = _check(page, server, "custom")
        assert (state["from"], state["to"]) == ("2025-12-22", "2025-12-31")
        page.keyboard.press("Control+a")  # with a modifier: not a shortcut
        assert _state(page) == state
        page.go_back()  # history holds each range
        assert _state(page)["from"] == "2026-01-01"
        assert errors == []
        browser.close()
