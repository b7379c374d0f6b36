"""Imports in a real browser against ``liveinsight serve``: an admin uploads a Plausible
export zip on the settings page, sees the import complete, and the dashboard's totals
include the imported days (exactly the zip's) until *Imported data* is unticked."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.imports.exports import TOTALS, plausible_zip
from tests.support import Server, launch_chromium, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ADMIN = ("admin@localhost", "e2e-chief-password")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    tmp = tmp_path_factory.mktemp("imports")
    srv = Server(tmp / "data", tmp / "server.log", wal_fsync="never")
    srv.cli_many(
        ["create-site", "example.com", "--timezone", "UTC"],
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


def _visitors(page: Any) -> str:
    page.wait_for_function("() => { const v = document.querySelector("
                           "'.tile[data-metric=visitors] [data-value]'); "
                           "return v && v.dataset.raw && v.dataset.raw !== 'undefined'; }",
                           timeout=30_000)
    return str(page.locator(".tile[data-metric=visitors] [data-value]").get_attribute(
        "data-raw"))


def test_upload_a_plausible_zip_and_see_it_in_the_totals(server: str, browser: Any,
                                                         tmp_path: Path) -> None:
    export = plausible_zip(tmp_path / "plausible-export.zip")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/login")
    page.get_by_label("E-mail").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/sites")
    href = page.locator("a.site-link").first.get_attribute("href")
    site_id = int(str(href).rsplit("/", 1)[1])
    page.goto(f"{server}/sites/{site_id}/settings")
    page.locator("#import-source").select_option("plausible")
    page.locator("#import-file").set_input_files(str(export))
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_url("**/settings?saved=1*")
    status = page.get_by_test_id("import-status")
    status.filter(has_text="completed").wait_for(timeout=60_000)  # the page follows the job
    row = page.locator("tr[data-import]")
    assert "2024-01-01 – 2024-01-03" in row.inner_text() and "54" in row.inner_text()
    shots = os.environ.get("LIVEINSIGHT_SCREENSHOT_DIR")
    if shots:
        page.locator("section[aria-labelledby=imports-title]").screenshot(
            path=str(Path(shots) / "imports.png"))

    page.goto(f"{server}/sites/{site_id}?period=custom&from=2024-01-01&to=2024-01-03")
    assert _visitors(page) == str(TOTALS["visitors"])
    pageviews = page.locator(".tile[data-metric=pageviews] [data-value]")
    assert pageviews.get_attribute("data-raw") == str(TOTALS["pageviews"])
    assert page.get_by_test_id("imports-note").inner_text() == "with imported data"
    page.get_by_test_id("imports-toggle").uncheck()
    page.wait_for_function("() => document.querySelector("
                           "'.tile[data-metric=visitors] [data-value]').dataset.raw === '0'",
                           timeout=30_000)
    assert "imports=0" in page.url
    page.get_by_test_id("imports-toggle").check()
    assert _visitors(page) in (str(TOTALS["visitors"]), "0")
    page.wait_for_function("() => document.querySelector("
                           "'.tile[data-metric=visitors] [data-value]').dataset.raw === '33'",
                           timeout=30_000)
    assert not errors, errors

    # deleting the import on the settings page takes its data away
    page.goto(f"{server}/sites/{site_id}/settings")
    page.locator("tr[data-import]").get_by_role("button", name="Delete").click()
    page.wait_for_url("**/settings?saved=1*")
    assert page.locator("tr[data-import]").count() == 0
    context.close()
