"""An Umami-shaped request from a real browser page lands as an enriched row.

The page (on a second origin) sends what Umami's script sends — ``fetch`` of
``{type: "event", payload: {website, hostname, url, referrer, ...}}`` as JSON to
``/api/send``, which makes Chromium send a CORS preflight first — and reads the JSON answer as
Umami's script does. The server is then stopped (SIGTERM flushes its log) and the row is read
from chDB.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
from pathlib import Path

import pytest

from liveinsight.storage.embedded import EmbeddedStore
from tests.e2e.test_tracker import _handler
from tests.support import DESKTOP_CHROME, LIVEINSIGHT, Server, launch_chromium, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

PAGE = """<!doctype html><html><head><title>Pricing</title></head><body>
<script>
async function send(website, host) {
  const payload = {website, hostname: location.hostname, screen: '1920x1080', language: 'en-GB',
    title: document.title, url: '/pricing?utm_source=newsletter&utm_medium=email',
    referrer: 'https://news.ycombinator.com/item?id=1'};
  const res = await fetch(host + '/api/send', {method: 'POST',
    body: JSON.stringify({type: 'event', payload}),
    headers: {'Content-Type': 'application/json'}});
  const named = await fetch(host + '/api/send', {method: 'POST',
    body: JSON.stringify({type: 'event', payload: {...payload, name: 'signup',
                                                     data: {plan: 'pro', seats: 3}}}),
    headers: {'Content-Type': 'application/json'}});
  return [res.status, await res.json(), named.status];
}
</script></body></html>"""


def _site_uuid(server: Server) -> str:
    done = subprocess.run([str(LIVEINSIGHT), "list-sites", "--json"], env=server.env,
                          capture_output=True, text=True, timeout=60, check=True)
    return str(json.loads(done.stdout)[0]["uuid"])


def test_umami_request_from_a_browser_page_is_stored_enriched(tmp_path: Path) -> None:
    require_browser()
    from playwright.sync_api import sync_playwright

    server = Server(tmp_path / "data", tmp_path / "server.log", wal_fsync="never")
    server.cli("create-site", "127.0.0.1")  # the page's hostname is the site's domain
    website = _site_uuid(server)
    root = tmp_path / "site"
    root.mkdir()
    (root / "pricing.html").write_text(PAGE)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        server.start()
        with sync_playwright() as pw:
            browser = launch_chromium(pw, DESKTOP_CHROME)
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/pricing.html")
                status, answer, named_status = page.evaluate(
                    "([w, h]) => send(w, h)", [website, server.url])
            finally:
                browser.close()
        server.settle(2)
    finally:
        httpd.shutdown()
        httpd.server_close()
        server.stop()

    assert (status, named_status) == (200, 200)
    assert answer == {"disabled": False}
    store = EmbeddedStore(server.data_dir / "chdb", "liveinsight")
    try:
        rows = store.query(
            "SELECT name, hostname, pathname, referrer_source, channel, utm_source, utm_medium,"
            " browser, os, device, screen, props, session_id FROM liveinsight.events "
            "ORDER BY timestamp, name").dicts()
    finally:
        store.close()
    assert [r["name"] for r in rows] == ["pageview", "signup"]
    view, signup = rows
    assert view["hostname"] == "127.0.0.1"
    assert view["pathname"] == "/pricing"
    assert (view["utm_source"], view["utm_medium"]) == ("newsletter", "email")
    assert view["channel"] == "Email"
    assert view["browser"] == "Chrome" and view["os"] == "Linux"
    assert view["device"] == "Desktop"
    assert view["screen"] == "1920x1080"
    assert signup["props"] == {"plan": "pro", "seats": "3"}
    assert signup["session_id"] == view["session_id"]
