"""The behaviour page in a real browser against ``liveinsight serve`` with demo data: an
admin builds a funnel with the form, and the numbers on the page are the API's for the
same funnel (asked with the same session); the flows tab draws a Sankey; no page error."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import Server, launch_chromium, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ADMIN = ("admin@localhost", "e2e-chief-password")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    tmp = tmp_path_factory.mktemp("behaviour")
    srv = Server(tmp / "data", tmp / "server.log", wal_fsync="never")
    srv.cli_many(
        ["demo", "--days", "3", "--scale", "0.1"],
        ["create-user", ADMIN[0], "--password", ADMIN[1], "--role", "admin"],
    )
    srv.start()
    yield srv.url
    srv.stop()


def test_build_a_funnel_in_the_page_and_match_the_api(server: str) -> None:
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
        href = page.locator("a.site-link").first.get_attribute("href")
        assert href is not None
        site_id = int(href.rsplit("/", 1)[1])
        page.goto(f"{server}/sites/{site_id}/behaviour")
        page.get_by_label("Steps, one per line").fill("page /\npage /pricing\npage /signup")
        page.get_by_label("Window").fill("1h")
        page.get_by_label("Period").select_option("7d")
        page.get_by_role("button", name="Show funnel").click()
        page.wait_for_selector("[data-funnel-result]")
        shown = [int(x) for x in page.locator("td[data-count]").all_inner_texts()]
        domain = page.evaluate("() => document.title")  # "Behaviour · <name> · LiveInsight"
        assert "Behaviour" in domain
        answer: dict[str, Any] = page.request.post(f"{server}/api/v2/funnels", data={
            "site_id": site_id, "date_range": "7d", "funnel": {
                "window": "1h", "steps": [{"type": "page", "path": path}
                                          for path in ("/", "/pricing", "/signup")]}}).json()
        assert shown == [s["count"] for s in answer["steps"]]
        assert shown[0] > shown[1] > 0  # demo visits go / → /pricing, fewer on to /signup
        page.get_by_role("link", name="Journeys").click()
        page.get_by_label("View").select_option("sankey")
        page.get_by_role("button", name="Show journeys").click()
        svg = page.locator("[data-sankey]")
        assert svg.locator("rect").count() > 2 and svg.locator("path").count() > 1
        assert re.search(r"\(\d+\)", svg.text_content() or "")
        assert errors == []
        browser.close()


def _log_in(page: Any, server: str) -> int:
    page.goto(f"{server}/login")
    page.get_by_label("E-mail").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/sites")
    href = page.locator("a.site-link").first.get_attribute("href")
    assert href is not None
    return int(href.rsplit("/", 1)[1])


def _preview(page: Any, rows: int) -> list[int]:
    """The preview's counts once it shows ``rows`` steps (locators: the page's CSP forbids
    the string evaluation wait_for_function uses)."""
    from playwright.sync_api import expect

    expect(page.locator("[data-funnel-preview][data-state=ready] [data-preview-count]")
           ).to_have_count(rows)
    return [int(x.replace(",", "")) for x in
            page.locator("[data-preview-count]").all_inner_texts()]


def test_the_funnel_builder_previews_its_numbers_while_steps_are_edited(server: str) -> None:
    from playwright.sync_api import sync_playwright

    def api(site_id: int, paths: tuple[str, ...]) -> list[int]:
        answer = page.request.post(f"{server}/api/v2/funnels", data={
            "site_id": site_id, "date_range": "7d", "funnel": {
                "window": "1d", "steps": [{"type": "page", "path": p} for p in paths]}}).json()
        return [s["count"] for s in answer["steps"]]

    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        site_id = _log_in(page, server)
        page.goto(f"{server}/sites/{site_id}/behaviour")
        page.evaluate("window.notReloaded = true")
        page.get_by_label("Period").select_option("7d")
        steps = page.get_by_label("Steps, one per line")
        steps.fill("page /")
        page.locator("[data-funnel-preview][data-state=idle]").wait_for()
        steps.fill("page /\npage /pricing")
        two = _preview(page, 2)
        assert two == api(site_id, ("/", "/pricing"))
        steps.fill("page /\npage /pricing\npage /signup")  # a third step typed in
        three = _preview(page, 3)
        assert three == api(site_id, ("/", "/pricing", "/signup"))
        assert three[:2] == two and three[0] > three[2] > 0
        steps.fill("page /\npage /pricing\npage /nowhere")  # the step edited
        edited = _preview(page, 3)
        assert edited == api(site_id, ("/", "/pricing", "/nowhere")) and edited[2] == 0
        page.get_by_label("Window").fill("0")  # refused by the API: its reason is shown
        page.locator("[data-funnel-preview][data-state=error]").wait_for()
        assert "funnel.window" in page.locator("[data-funnel-preview]").inner_text()
        assert page.evaluate("window.notReloaded") is True
        assert page.locator("[data-funnel-result]").count() == 0  # no form was submitted

        page.goto(f"{server}/sites/{site_id}/settings")  # the saved-funnel form too
        page.get_by_label("Steps (2 to 8, one per line)").fill("page /\npage /pricing")
        assert _preview(page, 2) == api_30d(page, server, site_id)
        assert errors == []
        browser.close()


def api_30d(page: Any, server: str, site_id: int) -> list[int]:
    answer = page.request.post(f"{server}/api/v2/funnels", data={
        "site_id": site_id, "date_range": "30d", "funnel": {
            "window": "1d", "steps": [{"type": "page", "path": "/"},
                                      {"type": "page", "path": "/pricing"}]}}).json()
    return [s["count"] for s in answer["steps"]]
