"""The tracker's user identification in a real browser against the real server.

A page names its signed-in user with ``data-user-id`` on the snippet; ``liveinsight.identify``
changes the id for the page's later events and ``identify(null)`` clears it; nothing is kept
in the browser, so the next page is anonymous unless it names the user again. The stored
events carry the id as their ``user_id`` property, and the retention API counts the users
(``identity: user``) from them.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from liveinsight.api.tracker import tracker_path
from liveinsight.storage.embedded import EmbeddedStore
from tests.support import DESKTOP_CHROME, Server, launch_chromium, require_browser, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

# pageview /known.html, Switched, Own, Anonymous, pageview /app (+ its engagement),
# pageview /plain.html, Later; and an engagement event as /known.html is left.
EXPECTED_MIN = 8


def _write_site(root: Path, server: str) -> None:
    snippet = (f'<script defer src="{server}{tracker_path()}" data-domain="example.com" '
               f'data-api="{server}/api/event" data-allow-local{{extra}}></script>')
    pages = {
        "known.html": snippet.format(extra=' data-user-id="u-1"') + """
<button id="switch" onclick="liveinsight.identify('u-2'); liveinsight('Switched')">a</button>
<button id="own" onclick="liveinsight('Own', {props: {user_id: 'given', plan: 'pro'}})">b</button>
<button id="logout" onclick="liveinsight.identify(null); liveinsight('Anonymous')">c</button>
<button id="spa" onclick="liveinsight.identify('u-3'); history.pushState({}, '', '/app')">d</button>
<button id="sent" onclick="liveinsight('Marker', {callback: function () { window.sent = 1 }})"
>e</button>""",
        "plain.html": snippet.format(extra="") + """
<button id="later" onclick="liveinsight('Later', {callback: function () { window.sent = 1 }})"
>f</button>""",
    }
    root.mkdir(parents=True, exist_ok=True)
    for path, body in pages.items():
        (root / path).write_text(f"<!doctype html><html><body>{body}</body></html>")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Walk:
    events: list[dict[str, Any]]
    cookies: list[Any]
    storage_keys: int
    retention: dict[str, Any]
    plain_bodies: list[str]  # what the page without an id sent


def _walk(server: Server, site: str) -> tuple[list[Any], int, list[str]]:
    from playwright.sync_api import sync_playwright

    plain_bodies: list[str] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw, DESKTOP_CHROME)
        try:
            page = browser.new_page()
            page.on("request", lambda r: r.url.endswith("/api/event") and "/plain.html"
                    in (r.post_data or "") and plain_bodies.append(r.post_data or ""))
            page.goto(site + "/known.html")
            page.wait_for_function("window.liveinsight && window.liveinsight.l === 1")
            for button in ("#switch", "#own", "#logout", "#spa"):
                page.click(button)
            page.wait_for_url("**/app")
            page.click("#sent")
            page.wait_for_function("window.sent === 1")
            page.goto(site + "/plain.html")
            page.wait_for_function("window.liveinsight && window.liveinsight.l === 1")
            page.click("#later")
            page.wait_for_function("window.sent === 1")
            cookies = page.context.cookies()
            storage_keys = int(page.evaluate("localStorage.length + sessionStorage.length"))
            page.close()
            server.settle(EXPECTED_MIN)
        finally:
            browser.close()
    return cookies, storage_keys, plain_bodies


def _retention(server: Server, key: str) -> dict[str, Any]:
    def answer() -> dict[str, Any] | None:
        r = httpx.post(server.url + "/api/v2/retention", timeout=30,
                       headers={"authorization": f"Bearer {key}"},
                       json={"site_id": "example.com", "period": "day", "identity": "user",
                             "date_range": "day"})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body if body["cohorts"][0]["visitors"] else None

    found = wait_until(answer, 30, "the identified events in the retention answer", every=0.5)
    assert isinstance(found, dict)
    return found


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walk]:
    require_browser()
    tmp = tmp_path_factory.mktemp("identify")
    server = Server(tmp / "data", tmp / "server.log", wal_fsync="never")
    server.cli("create-site", "example.com")
    key = server.cli("create-api-key", "e2e", "--scope", "stats").strip().splitlines()[-1]
    root = tmp / "site"
    _write_site(root, server.url)
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    site = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        server.start()
        cookies, storage_keys, plain_bodies = _walk(server, site)
        retention = _retention(server, key)
    finally:
        httpd.shutdown()
        httpd.server_close()
        server.stop()
    store = EmbeddedStore(server.data_dir / "chdb", "liveinsight")
    try:
        events = store.query("SELECT name, pathname, props FROM liveinsight.events "
                             "ORDER BY timestamp").dicts()
    finally:
        store.close()
    yield Walk(events, cookies, storage_keys, retention, plain_bodies)


def _user(walk: Walk, name: str, path: str | None = None) -> list[str | None]:
    return [dict(e["props"]).get("user_id") for e in walk.events
            if e["name"] == name and (path is None or e["pathname"] == path)]


def test_the_snippets_user_id_is_on_the_first_pageview(walk: Walk) -> None:
    assert _user(walk, "pageview", "/known.html") == ["u-1"]
    assert _user(walk, "engagement", "/known.html") == ["u-1"]  # the pageview's, as sent


def test_identify_changes_the_id_of_later_events(walk: Walk) -> None:
    assert _user(walk, "Switched") == ["u-2"]
    assert _user(walk, "pageview", "/app") == ["u-3"]  # an SPA navigation after identify
    assert _user(walk, "Marker") == ["u-3"]


def test_an_events_own_user_id_property_wins(walk: Walk) -> None:
    [own] = [dict(e["props"]) for e in walk.events if e["name"] == "Own"]
    assert own == {"user_id": "given", "plan": "pro"}


def test_identify_null_clears_the_id(walk: Walk) -> None:
    assert _user(walk, "Anonymous") == [None]


def test_nothing_is_kept_in_the_browser(walk: Walk) -> None:
    assert _user(walk, "pageview", "/plain.html") == [None]
    assert _user(walk, "Later") == [None]
    assert walk.cookies == []
    assert walk.storage_keys == 0
    assert len(walk.plain_bodies) >= 2  # its pageview and event: no user_id key at all
    assert not [b for b in walk.plain_bodies if "user_id" in b]


def test_retention_by_user_counts_the_identified_users(walk: Walk) -> None:
    [today] = walk.retention["cohorts"]
    assert today["visitors"] == 4  # u-1, u-2, given, u-3
    assert today["retention"][0] == {"offset": 0, "visitors": 4, "percentage": 100.0}
