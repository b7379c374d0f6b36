"""The KPI board in a real browser against ``liveinsight serve``: events posted to the
collector while the page is open change its numbers without a reload (the board's stream,
fed by the live feed)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support import DESKTOP_CHROME, Server, launch_chromium, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ADMIN = ("admin@localhost", "e2e-chief-password")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_browser()
    tmp = tmp_path_factory.mktemp("kpi")
    srv = Server(tmp / "data", tmp / "server.log", wal_fsync="never")
    srv.cli_many(
        ["create-site", "kpi.example"],
        ["create-site", "other.example"],
        ["create-user", ADMIN[0], "--password", ADMIN[1], "--role", "admin"],
    )
    srv.start()
    yield srv
    srv.stop()


def _visit(server: Server, ip: str) -> None:
    r = httpx.post(server.url + "/api/event", timeout=10, json={
        "n": "pageview", "u": "https://kpi.example/pricing", "d": "kpi.example"},
        headers={"user-agent": DESKTOP_CHROME, "x-forwarded-for": ip})
    assert r.status_code == 202, r.text


def test_new_events_change_the_boards_numbers_without_a_reload(server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{server.url}/login")
        page.get_by_label("E-mail").fill(ADMIN[0])
        page.get_by_label("Password").fill(ADMIN[1])
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/sites")
        with page.expect_response(lambda r: "/admin/analytics/kpi/stream" in r.url) as stream:
            page.goto(f"{server.url}/analytics/kpi?period=day")
        assert stream.value.status == 200
        page.evaluate("window.notReloaded = true")
        card = page.locator('[data-kpi-site="kpi.example"]')
        visitors = card.locator('tr[data-kpi="visitors"] [data-value]')
        total = page.locator('[data-kpi-site="All sites"] tr[data-kpi="visitors"] [data-value]')
        expect(visitors).to_have_text("0")
        _visit(server, "203.0.113.7")
        expect(visitors).to_have_text("1", timeout=30_000)
        expect(total).to_have_text("1")
        expect(page.locator("[data-kpi-live]")).to_contain_text("Updated at")
        _visit(server, "203.0.113.8")  # a later board: the stream keeps going
        expect(visitors).to_have_text("2", timeout=30_000)
        expect(card.locator('tr[data-kpi="pageviews"] [data-value]')).to_have_text("2")
        other = page.locator('[data-kpi-site="other.example"] tr[data-kpi="visitors"] '
                             '[data-value]')
        expect(other).to_have_text("0")
        assert page.evaluate("window.notReloaded") is True
        assert errors == []
        browser.close()
