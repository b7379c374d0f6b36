"""Sharing in a real browser against ``liveinsight serve`` with demo data: an admin makes a
password-protected shared link on the settings page; a signed-out browser is refused with a
wrong password and then reads the dashboard (numbers as the stats API gives them for the
link, no settings or management links); the link embedded in a page of an allowed origin
shows, in one of another origin is refused by the browser; a revoked link is gone; a site
made public is read signed out at its dashboard URL."""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import Server, launch_chromium, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ADMIN = ("admin@localhost", "e2e-chief-password")
SITE = "demo.liveinsight.dev"
LINK_PASSWORD = "board meeting thursday"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    tmp = tmp_path_factory.mktemp("sharing")
    srv = Server(tmp / "data", tmp / "server.log", wal_fsync="never")
    srv.cli_many(
        ["demo", "--days", "3", "--scale", "0.1"],
        ["create-user", ADMIN[0], "--password", ADMIN[1], "--role", "admin"],
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


@pytest.fixture(scope="module")
def parents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[tuple[str, Path]]]:
    """Two pages' servers on loopback (origins other than LiveInsight's: ``localhost`` and
    a port of their own; a real server, as Chromium refuses to frame a loopback page in a
    page it did not fetch from the network): their base URL and the directory served."""
    servers = []
    for name in ("allowed", "other"):
        root = tmp_path_factory.mktemp(name)
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append((httpd, root))
    yield [(f"http://localhost:{httpd.server_address[1]}", root) for httpd, root in servers]
    for httpd, _ in servers:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


def _login(page: Any, server: str) -> int:
    page.goto(f"{server}/login")
    page.get_by_label("E-mail").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/sites")
    href = page.locator("a.site-link").first.get_attribute("href")
    assert href is not None
    return int(href.rsplit("/", 1)[1])


def _visitors(page: Any) -> str:
    page.wait_for_function("() => { const v = document.querySelector("
                           "'.tile[data-metric=visitors] [data-value]'); "
                           "return v && v.dataset.raw && v.dataset.raw !== 'undefined'; }",
                           timeout=30_000)
    return str(page.locator(".tile[data-metric=visitors] [data-value]").get_attribute(
        "data-raw"))


def test_a_protected_link_shared_embedded_and_revoked(server: str, browser: Any,
                                                      parents: list[tuple[str, Path]],
                                                      shots: Path) -> None:
    (allowed, allowed_dir), (other_origin, other_dir) = parents
    admin = browser.new_context()
    page = admin.new_page()
    site_id = _login(page, server)
    page.goto(f"{server}/sites/{site_id}/settings")
    page.get_by_label("Label").fill("Board")
    page.get_by_label("Password (optional)").fill(LINK_PASSWORD)
    page.get_by_label(re.compile("May be embedded on")).fill(allowed)
    page.get_by_role("button", name="Make a shared link").click()
    url = page.get_by_test_id("new-share-url").input_value()
    page.locator("#sharing-title").scroll_into_view_if_needed()
    page.locator("section[aria-labelledby=sharing-title]").screenshot(
        path=str(shots / "sharing.png"))
    assert url.startswith(f"{server}/share/")
    assert page.locator("tr[data-shared-link]").count() == 1

    visitor = browser.new_context(viewport={"width": 1280, "height": 900})  # signed out
    shared = visitor.new_page()
    errors: list[str] = []
    shared.on("pageerror", lambda exc: errors.append(str(exc)))
    shared.goto(url)
    shared.get_by_label("Password").fill("a wrong password")
    shared.get_by_role("button", name="Show the dashboard").click()
    assert shared.get_by_role("alert").inner_text() == "Wrong password."
    assert shared.locator("#dash").count() == 0
    shared.get_by_label("Password").fill(LINK_PASSWORD)
    shared.get_by_role("button", name="Show the dashboard").click()
    shown = _visitors(shared)
    auth = shared.locator("#dash").get_attribute("data-auth")
    answer = httpx.get(f"{server}/api/stats/aggregate", params={
        "site_id": SITE, "period": "30d", "auth": auth,
        "metrics": "visitors,visits,pageviews,views_per_visit,bounce_rate,visit_duration"},
        timeout=30).json()
    assert shown == str(answer["results"]["visitors"]["value"]) and int(shown) > 0
    assert shared.get_by_test_id("read-only").is_visible()
    hrefs = shared.eval_on_selector_all("a[href]", "as => as.map(a => a.getAttribute('href'))")
    assert not [h for h in hrefs if "/settings" in h or "/behaviour" in h or "/account" in h]
    assert shared.locator("form[action='/logout']").count() == 0
    shared.wait_for_selector("[data-card=pages] .rows")
    shared.screenshot(path=str(shots / "shared-dashboard.png"))
    shared.reload()  # the password is remembered for the link
    assert _visitors(shared) == shown
    # the page's grant reads this site only
    other = httpx.get(f"{server}/api/stats/aggregate", params={"site_id": "nope.example",
                                                               "auth": auth}, timeout=30)
    assert other.status_code == 403
    assert errors == []

    # embedded: shown in a page of the allowed origin, refused in another's
    for root in (allowed_dir, other_dir):
        (root / "index.html").write_text(f'<!doctype html><iframe id="f" src="{url}?embed=true"'
                                         ' width="900" height="700"></iframe>')
    frame_page = visitor.new_page()
    frame_page.goto(f"{allowed}/")
    inner = frame_page.frame_locator("#f")
    inner.get_by_label("Password").fill(LINK_PASSWORD)
    inner.get_by_role("button", name="Show the dashboard").click()
    inner.locator(".tile[data-metric=visitors] [data-value][data-raw]").wait_for(timeout=30_000)
    assert inner.locator(".tile[data-metric=visitors] [data-value]").get_attribute(
        "data-raw") == shown
    assert inner.locator("footer.foot").is_hidden()
    blocked = visitor.new_page()
    blocked.goto(f"{other_origin}/")
    child = [f for f in blocked.frames if f != blocked.main_frame]
    assert len(child) == 1 and child[0].query_selector("#share-password") is None
    assert not child[0].url.startswith(server)  # the browser showed its error page instead

    # revoked: gone at once
    page.get_by_role("button", name="Revoke").click()
    page.wait_for_url("**/settings?saved=1*")
    assert page.get_by_text("No shared links.").is_visible()
    gone = shared.goto(url)
    assert gone is not None and gone.status == 404
    admin.close()
    visitor.close()


def test_a_public_site_is_read_signed_out(server: str, browser: Any) -> None:
    admin = browser.new_context()
    page = admin.new_page()
    site_id = _login(page, server)
    anonymous = browser.new_context().new_page()
    anonymous.goto(f"{server}/sites/{site_id}")
    assert "/login" in anonymous.url
    page.goto(f"{server}/sites/{site_id}/settings")
    page.get_by_label(re.compile("Public: anyone")).check()
    page.get_by_role("button", name="Save settings").click()
    page.wait_for_url("**/settings?saved=1")
    anonymous.goto(f"{server}/sites/{site_id}")
    shown = _visitors(anonymous)
    answer = httpx.get(f"{server}/api/stats/aggregate", params={
        "site_id": SITE, "period": "30d"}, timeout=30).json()
    assert shown == str(answer["results"]["visitors"]["value"])
    assert anonymous.locator("a[href$='/settings']").count() == 0
    page.get_by_label(re.compile("Public: anyone")).uncheck()
    page.get_by_role("button", name="Save settings").click()
    page.wait_for_url("**/settings?saved=1")
    anonymous.goto(f"{server}/sites/{site_id}")
    assert "/login" in anonymous.url
    admin.close()
