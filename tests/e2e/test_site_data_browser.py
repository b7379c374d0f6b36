"""A site's export, reset and deletion in a real browser against ``liveinsight serve`` with
demo data: the settings page's export downloads Plausible's zip, whose numbers are the stats
API's; the danger zone refuses a mistyped domain, resets the stats (the API then reads 0)
and deletes the site (gone from the list)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import Server, launch_chromium, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ADMIN = ("admin@localhost", "e2e-chief-password")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    tmp = tmp_path_factory.mktemp("site-data")
    srv = Server(tmp / "data", tmp / "server.log", wal_fsync="never")
    srv.cli_many(
        ["demo", "--days", "3", "--scale", "0.1"],
        ["create-user", ADMIN[0], "--password", ADMIN[1], "--role", "admin"],
    )
    srv.start()
    yield srv.url
    srv.stop()


def _pageviews(page: Any, server: str, domain: str, first: str, last: str) -> int:
    answer = page.request.get(f"{server}/api/stats/aggregate", params={
        "site_id": domain, "period": "custom", "date": f"{first},{last}",
        "metrics": "pageviews"})
    assert answer.ok, answer.text()
    return int(answer.json()["results"]["pageviews"]["value"])


def test_export_reset_and_delete_from_the_settings_page(server: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_context(accept_downloads=True).new_page()
        page.goto(f"{server}/login")
        page.get_by_label("E-mail").fill(ADMIN[0])
        page.get_by_label("Password").fill(ADMIN[1])
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/sites")
        href = page.locator("a.site-link").first.get_attribute("href")
        assert href is not None
        site_id = int(href.rsplit("/", 1)[1])
        page.goto(f"{server}/sites/{site_id}/settings")
        domain = page.locator("label[for=reset-confirm] code").inner_text()

        with page.expect_download() as download:
            page.get_by_role("button", name="Export as a zip of CSVs").click()
        data = download.value.path().read_bytes()
        assert download.value.suggested_filename.startswith(domain.replace(".", "_"))
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
            visitors = next(n for n in names if n.startswith("imported_visitors_"))
            days = list(csv.DictReader(io.StringIO(zf.read(visitors).decode())))
        assert len(names) == 10
        first, last = visitors.removesuffix(".csv").split("_")[-2:]
        first, last = f"{first[:4]}-{first[4:6]}-{first[6:]}", f"{last[:4]}-{last[4:6]}-{last[6:]}"
        exported = sum(int(d["pageviews"]) for d in days)
        assert exported == _pageviews(page, server, domain, first, last) > 0

        page.get_by_label("Type", exact=False).first.fill(domain + "x")
        page.get_by_role("button", name="Reset the stats").click()
        assert "confirm" in page.get_by_role("alert").inner_text()
        assert _pageviews(page, server, domain, first, last) == exported
        page.locator("#reset-confirm").fill(domain)
        page.get_by_role("button", name="Reset the stats").click()
        page.wait_for_url("**/settings?saved=1*")
        assert _pageviews(page, server, domain, first, last) == 0

        page.locator("#delete-confirm").fill(domain)
        page.get_by_role("button", name="Delete the site").click()
        page.wait_for_url("**/sites?deleted=*")
        assert f"{domain} was deleted" in page.get_by_role("status").inner_text()
        assert page.locator(f"a.site-link[href='/sites/{site_id}']").count() == 0
        browser.close()
