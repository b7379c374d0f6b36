"""A card's details view and the filter builder in a real browser against ``liveinsight
serve`` with demo data: every row of a view, paginated, searchable and sorted by any
column, with column headers; each page of rows is the stats API's (``POST /api/v2/query``)
for the same query, and a row filters the dashboard. Filters built with each operator
give the numbers the API gives for the same conditions, and stay in the page's URL. An
admin saves them as a segment, which a viewer of the site then applies."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import Server, launch_chromium, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ADMIN = ("admin@localhost", "e2e-chief-password")
VIEWER = ("reader@localhost", "e2e-quiet-onlooker")
SITE = "demo.liveinsight.dev"
PAGE = 50


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    tmp = tmp_path_factory.mktemp("details")
    srv = Server(tmp / "data", tmp / "server.log", wal_fsync="never")
    srv.cli_many(
        ["demo", "--days", "7", "--scale", "0.2"],
        ["create-user", ADMIN[0], "--password", ADMIN[1], "--role", "admin"],
        ["create-user", VIEWER[0], "--password", VIEWER[1]],
        ["members", "add", SITE, VIEWER[0], "--role", "viewer"],
    )
    srv.start()
    yield srv.url
    srv.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``$LIVEINSIGHT_SCREENSHOT_DIR`` (the docs use
    ``docs/images``), else a temporary dir."""
    target = os.environ.get("LIVEINSIGHT_SCREENSHOT_DIR")
    path = Path(target) if target else tmp_path_factory.mktemp("shots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _shown(page: Any) -> list[list[str]]:
    """The dialog's rows: the label, then each metric's raw value."""
    return page.eval_on_selector_all(
        "#details-table tbody tr", "rows => rows.map(r => [r.querySelector('th').innerText, "
        "...[...r.querySelectorAll('td')].map(td => td.dataset.raw)])")


def _api(page: Any, server: str, dimension: str, metrics: list[str], order: list[str],
         offset: int = 0, filters: list[Any] | None = None) -> dict[str, Any]:
    answer = page.request.post(f"{server}/api/v2/query", data={
        "site_id": SITE, "metrics": metrics, "dimensions": [dimension], "date_range": "30d",
        "filters": filters or [], "order_by": [order],
        "pagination": {"limit": PAGE, "offset": offset}, "include": {"total_rows": True}})
    assert answer.ok, answer.text()
    doc: dict[str, Any] = answer.json()
    return doc


def _expected(doc: dict[str, Any], label: Any = str) -> list[list[str]]:
    return [[label(r["dimensions"][0]), *(str(m) for m in r["metrics"])]
            for r in doc["results"]]


def _wait(page: Any, status: str) -> None:
    page.wait_for_function("s => document.getElementById('details-status').textContent === s "
                           "&& !document.getElementById('details-table').hasAttribute("
                           "'aria-busy')", arg=status, timeout=30_000)


def _status(doc: dict[str, Any], offset: int = 0) -> str:
    total = doc["meta"]["total_rows"]
    return f"Rows {offset + 1:,}–{offset + len(doc['results']):,} of {total:,}"


def _open(p: Any, server: str, who: tuple[str, str] = ADMIN) -> tuple[Any, Any, list[str]]:
    browser = launch_chromium(p)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/login")
    page.get_by_label("E-mail").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/sites")
    page.locator("a.site-link").first.click()
    page.wait_for_selector("[data-card=pages] .rows")
    return browser, page, errors


def test_details_rows_are_the_apis(server: str, shots: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser, page, errors = _open(p, server)

        # Top pages: all rows, headers, sorted by visitors; then by pageviews both ways
        page.get_by_role("button", name="Details of Top pages").click()
        dialog = page.get_by_role("dialog")
        assert dialog.get_by_role("heading").inner_text() == "Top pages"
        metrics = ["visitors", "pageviews"]
        doc = _api(page, server, "event:page", metrics, ["visitors", "desc"])
        _wait(page, _status(doc))
        assert _shown(page) == _expected(doc)
        page.screenshot(path=str(shots / "details.png"))
        headers = dialog.locator("thead th").all_inner_texts()
        assert headers == ["Page", "Unique visitors ↓", "Total pageviews"]
        dialog.get_by_role("button", name="Total pageviews").click()
        doc = _api(page, server, "event:page", metrics, ["pageviews", "desc"])
        _wait(page, _status(doc))
        assert _shown(page) == _expected(doc)
        assert dialog.locator("th[aria-sort=descending]").inner_text() == "Total pageviews ↓"
        dialog.get_by_role("button", name="Total pageviews ↓").click()
        doc = _api(page, server, "event:page", metrics, ["pageviews", "asc"])
        _wait(page, _status(doc))
        assert _shown(page) == _expected(doc)
        dialog.get_by_role("button", name="Page", exact=True).click()
        doc = _api(page, server, "event:page", metrics, ["event:page", "asc"])
        _wait(page, _status(doc))
        assert _shown(page) == _expected(doc)

        # search: a case-insensitive "contains" on the page
        dialog.get_by_label("Search").fill("PRIC")
        search = [["contains", "event:page", ["PRIC"], {"case_sensitive": False}]]
        doc = _api(page, server, "event:page", metrics, ["event:page", "asc"], filters=search)
        assert doc["results"], "the demo has pricing pages"
        _wait(page, _status(doc))
        rows = _shown(page)
        assert rows == _expected(doc) and all("pric" in r[0].lower() for r in rows)
        dialog.get_by_label("Search").fill("no page has this")
        _wait(page, "No rows match the search.")
        dialog.get_by_role("button", name="Close the details").click()

        # Locations → Cities: more than a page of rows, paged
        card = page.locator("[data-card=locations]")
        card.get_by_role("button", name="Cities").click()
        page.wait_for_selector("[data-card=locations] .rows")
        page.get_by_role("button", name="Details of Locations").click()
        assert page.get_by_role("dialog").get_by_role("heading").inner_text() == \
            "Locations · Cities"
        first = _api(page, server, "visit:city", ["visitors"], ["visitors", "desc"])
        total = first["meta"]["total_rows"]
        assert total > PAGE, total
        _wait(page, _status(first))
        assert _shown(page) == _expected(first, lambda v: v or "(unknown)")
        assert page.locator("#details-prev").is_disabled()
        page.get_by_role("button", name="Next →").click()
        second = _api(page, server, "visit:city", ["visitors"], ["visitors", "desc"], PAGE)
        _wait(page, _status(second, PAGE))
        assert _shown(page) == _expected(second, lambda v: v or "(unknown)")
        page.get_by_role("button", name="← Previous").click()
        _wait(page, _status(first))

        # a row filters the dashboard (and closes the view)
        city = _shown(page)[0][0]
        page.locator("#details-table tbody th button").first.click()
        assert not page.get_by_role("dialog").is_visible()
        page.wait_for_url("**filters=visit%3Acity**")
        assert page.locator(".chip").inner_text().startswith(f"City is {city}")
        # the dashboard's filters apply to the details too
        page.get_by_role("button", name="Details of Top pages").click()
        filtered = _api(page, server, "event:page", metrics, ["visitors", "desc"],
                        filters=[["is", "visit:city", [city]]])
        _wait(page, _status(filtered))
        assert _shown(page) == _expected(filtered)
        assert errors == []
        browser.close()


def _visitors(page: Any, server: str, filters: list[Any]) -> None:
    metrics = page.eval_on_selector_all(".tile", "ts => ts.map(t => t.dataset.metric)")
    answer = page.request.get(f"{server}/api/stats/aggregate", params={
        "site_id": SITE, "period": "30d", "metrics": ",".join(metrics),
        "filters": json.dumps(filters)})
    assert answer.ok, answer.text()
    expected = answer.json()["results"]["visitors"]["value"]
    page.wait_for_function(
        "v => document.querySelector('.tile[data-metric=visitors] [data-value]')"
        "?.dataset.raw === String(v)", arg=expected, timeout=30_000)


def _build(page: Any, dimension: str, operator: str, value: str) -> None:
    page.get_by_role("button", name="+ Filter").click()
    form = page.get_by_role("dialog")
    form.get_by_label("Dimension").select_option(label=dimension)
    form.get_by_label("Operator").select_option(label=operator)
    form.get_by_label(re.compile("^Value")).fill(value)
    form.get_by_role("button", name="Apply filter").click()


def test_the_filter_builder_with_each_operator(server: str, shots: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser, page, errors = _open(p, server)
        page.get_by_role("button", name="+ Filter").click()
        form = page.get_by_role("dialog")
        form.get_by_label("Dimension").select_option(label="Page")
        form.get_by_label("Operator").select_option(label="contains")
        form.get_by_label(re.compile("^Value")).fill("pric")
        form.screenshot(path=str(shots / "filter-builder.png"))
        form.get_by_role("button", name="Apply filter").click()
        conditions: list[Any] = [["contains", "event:page", ["pric"]]]
        _visitors(page, server, conditions)
        _build(page, "Browser", "is not", "Chrome|Safari")
        conditions.append(["is_not", "visit:browser", ["Chrome", "Safari"]])
        _visitors(page, server, conditions)
        assert page.locator(".chip").all_inner_texts() == [
            "Page contains pric\n×", "Browser is not Chrome|Safari\n×"]
        page.get_by_role("button", name="Remove filter Page contains pric").click()
        conditions.pop(0)
        _visitors(page, server, conditions)
        _build(page, "Page", "matches (regular expression)", "^/(pricing|blog)")
        conditions.append(["matches", "event:page", ["^/(pricing|blog)"]])
        _visitors(page, server, conditions)
        _build(page, "Country", "does not contain", "U")
        conditions.append(["contains_not", "visit:country", ["U"]])
        _visitors(page, server, conditions)
        _build(page, "Page", "is", "/blog/*")  # a wildcard: as the simple API reads it
        conditions.append(["matches", "event:page", ["^/blog/[^/]*$"]])
        _visitors(page, server, conditions)
        page.reload()  # kept in the URL
        _visitors(page, server, conditions)
        assert len(page.locator(".chip").all_inner_texts()) == 4
        # a bad regular expression is refused in the form, naming it
        page.get_by_role("button", name="+ Filter").click()
        form = page.get_by_role("dialog")
        form.get_by_label("Operator").select_option(label="matches (regular expression)")
        form.get_by_label(re.compile("^Value")).fill("(")
        form.get_by_role("button", name="Apply filter").click()
        assert "Not a regular expression" in form.get_by_role("alert").inner_text()
        form.get_by_role("button", name="Cancel").click()
        assert errors == []
        browser.close()


def test_a_segment_saved_by_an_admin_applied_by_a_viewer(server: str, shots: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser, page, errors = _open(p, server)
        assert page.get_by_role("button", name="Save as segment").is_disabled()
        _build(page, "Page", "contains", "pric")
        _build(page, "Device", "is not", "Mobile")
        conditions: list[Any] = [["contains", "event:page", ["pric"]],
                                 ["is_not", "visit:device", ["Mobile"]]]
        _visitors(page, server, conditions)
        page.get_by_role("button", name="Save as segment").click()
        page.get_by_label("Segment name").fill("Desktop pricing")
        page.get_by_role("button", name="Save segment").click()
        page.wait_for_function("() => document.getElementById('segment').selectedOptions[0]"
                               ".text === 'Desktop pricing'")
        saved = page.request.get(f"{server}/api/v1/sites/{SITE}/segments").json()
        assert [(s["name"], s["filters"]) for s in saved] == [("Desktop pricing", conditions)]
        # the same name again is refused, saying so
        page.get_by_role("button", name="Remove filter Device is not Mobile").click()
        _build(page, "Device", "is not", "Tablet")
        page.get_by_role("button", name="Save as segment").click()
        page.get_by_label("Segment name").fill("Desktop pricing")
        page.get_by_role("button", name="Save segment").click()
        page.wait_for_function("() => document.getElementById('sg-error').textContent")
        assert "has a segment named 'Desktop pricing'" in page.locator("#sg-error").inner_text()
        page.get_by_role("button", name="Cancel").click()
        assert errors == []
        browser.close()

        browser, page, errors = _open(p, server, VIEWER)
        assert page.get_by_role("button", name="Save as segment").count() == 0
        page.get_by_label("Segment", exact=True).select_option(label="Desktop pricing")
        _visitors(page, server, conditions)
        assert len(page.locator(".chip").all_inner_texts()) == 2
        page.locator(".toolbar").screenshot(path=str(shots / "segments.png"))
        page.get_by_label("Segment", exact=True).select_option(label="None")
        _visitors(page, server, [])
        assert page.locator(".chip").count() == 0
        assert errors == []
        browser.close()

        browser, page, errors = _open(p, server)  # the admin deletes it, for everyone
        page.get_by_label("Segment", exact=True).select_option(label="Desktop pricing")
        page.once("dialog", lambda d: d.accept())
        page.get_by_role("button", name="Delete segment").click()
        page.wait_for_function("() => document.getElementById('segment').options.length === 1")
        assert page.request.get(f"{server}/api/v1/sites/{SITE}/segments").json() == []
        assert errors == []
        browser.close()
