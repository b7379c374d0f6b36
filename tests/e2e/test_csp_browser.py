"""The dashboard's pages run in Chromium under their Content-Security-Policy.

A real ``liveinsight serve`` with one site and a few events; headless Chromium signs in as
an instance admin and opens every kind of page (the live dashboard with its charts and map,
settings, account, alerting, the audit log, the API docs). Any CSP violation the browser
reports (a ``securitypolicyviolation`` event, a "Refused to ..." console message) fails the
test, as does a page that did not draw what its scripts draw. Events carry hostile page
paths, referrers and props: the dashboard shows them as text, and nothing of them runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import Server, launch_chromium, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

ADMIN = ("admin@localhost", "csp-chief-password-long")
# attacker-controlled values stored as events: drawn as text they set nothing; run as markup
# they would set window.__xss (and, blocked by the policy, be reported as a violation)
HOSTILE_PATH = "/x<svg/onload=window.__xss=1>"
_WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    tmp = tmp_path_factory.mktemp("csp")
    # the default limit per address (60 a minute, bursts of 120): a person browsing every
    # kind of page, the dashboard's dozen API calls included, stays under it
    srv = Server(tmp / "data", tmp / "server.log", wal_fsync="never",
                 rate_limit_per_minute="60")
    srv.cli_many(
        ["create-site", "example.com"],
        ["create-user", ADMIN[0], "--password", ADMIN[1], "--role", "admin"],
    )
    srv.start()
    try:
        for path in ("/", "/pricing", "/blog/", HOSTILE_PATH):
            sent = httpx.post(f"{srv.url}/api/event", json={
                "n": "pageview", "d": "example.com", "u": f"https://example.com{path}",
                "r": "https://evil.example/<script>window.__xss=2</script>",
                "p": {"<img src=x onerror=window.__xss=3>": "<svg onload=window.__xss=4>"}},
                headers={"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"})
            assert sent.status_code == 202, sent.text
        yield srv.url
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


def test_every_kind_of_page_runs_under_its_policy(server: str, browser: Any) -> None:
    context = browser.new_context()
    context.add_init_script(_WATCH)
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text)
            if "Content Security Policy" in m.text or "Refused to" in m.text else None)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def visit(path: str, drawn: str) -> None:
        response = page.goto(server + path)
        assert response is not None and response.status == 200, path
        assert "content-security-policy" in response.headers, path
        page.wait_for_selector(drawn, timeout=30_000)
        violations = page.evaluate("window.__csp")
        assert violations == [] and refused == [], (path, violations, refused)
        assert errors == [], (path, errors)

    page.goto(server + "/login")
    page.get_by_label("E-mail").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/sites")
    visit("/sites", "text=example.com")
    visit("/sites/1", "#graph canvas")
    page.wait_for_selector("#world-map svg")
    page.locator(".breakdown .row").first.wait_for()
    page.get_by_text("onload=window.__xss=1", exact=False).first.wait_for()  # as text
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("window.__csp") == [] and refused == []
    visit("/sites/1/realtime", "#rt-graph canvas")
    page.locator("[data-rt-card=pages] .row").first.wait_for()
    assert page.evaluate("window.__xss") is None
    visit("/sites/1/settings", "form")
    visit("/account", "form")
    visit("/alerting", "h1")
    visit("/audit", "table[aria-label=\"Audit records\"]")
    visit("/docs", ".swagger-ui .info .title")
    context.close()
