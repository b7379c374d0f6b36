"""The tracker in a real browser against the real server.

``liveinsight serve`` runs as a subprocess with its own data dir; a second origin (a small
``http.server`` thread) serves test pages that load the tracker from the server. Chromium
(Playwright) walks through them with real navigation and clicks; then the server is stopped
with SIGTERM, which moves its write-ahead log into chDB, and the data dir is opened here to
check what was stored.

The whole walk runs once per module (``journey``); each test checks one behaviour in it.
"""

from __future__ import annotations

import functools
import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from liveinsight.api.tracker import tracker_path
from liveinsight.storage.embedded import EmbeddedStore
from tests.support import DESKTOP_CHROME, Server, launch_chromium, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

# What the walk below stores: pageviews in order, custom events, and as each tracked page is
# left, an engagement event.
PAGEVIEWS = ["/index.html", "/app/settings", "/hash.html", "/hash.html#/pricing", "/signup.html",
             "/thanks.html", "/missing.html", "/plausible.html", "/plausible.html#/x",
             "/thanks.html"]
CUSTOM = ["Queued", "Signup", "Purchase", "File Download", "Outbound Link: Click", "Newsletter",
          "404", "Legacy", "Free Trial", "Outbound Link: Click"]
# Each tracked page sends an engagement event as it is left.
EXPECTED_MIN = len(PAGEVIEWS) + len(CUSTOM) + len(PAGEVIEWS)


# --- the server --------------------------------------------------------------------------


# --- the test site -----------------------------------------------------------------------


def _pages(server: str, site: str) -> dict[str, str]:
    """Test pages by path. ``{tracker}`` is the snippet with data-api and data-allow-local."""
    outbound = site.replace("127.0.0.1", "localhost") + "/landing.html?from=li"
    tall = '<div style="height:3000px">content</div>'
    return {
        "index.html": f"""
<script>window.liveinsight=window.liveinsight||function(){{(window.liveinsight.q=window.liveinsight.q||[]).push(arguments)}};
liveinsight('Queued', {{props: {{early: 'yes'}}}})</script>
{{tracker}}
<button id="signup"
  class="big liveinsight-event-name=Signup liveinsight-event-plan=pro+plus">Sign up</button>
<button id="buy" onclick="liveinsight('Purchase', {{props: {{sku: 'A-1'}},
  revenue: {{amount: '19.99', currency: 'EUR'}},
  callback: function (r) {{ window.bought = r }}}})">Buy</button>
<a id="download" download href="/files/report.pdf?v=2">Report</a>
<button id="spa" onclick="history.pushState({{}}, '', '/app/settings')">Settings</button>
<a id="outbound" href="{outbound}"><span>Partner</span></a>
{tall}""",
        "landing.html": "<p>landing, no tracker</p>",
        "hash.html": f'{{tracker_hash}}<a id="pricing" href="#/pricing">Pricing</a>{tall}',
        "signup.html": """{tracker}
<form class="liveinsight-event-name=Newsletter liveinsight-event-list=weekly" action="/thanks.html">
<input name="email" value="a@b.c"><button id="subscribe">Subscribe</button></form>""",
        "thanks.html": "{tracker}<p>thanks</p>",
        # No data-api: the tracker posts to its own origin.
        "missing.html": f'<script defer src="{server}{tracker_path()}" data-domain="example.com" '
                        'data-allow-local data-404></script><p>not found</p>',
        # No data-allow-local: a local page in an automated browser counts nothing.
        "local.html": f'<script defer src="{server}{tracker_path()}" data-domain="example.com" '
                      f'data-api="{server}/api/event"></script><p>local</p>',
        "optout.html": """{tracker}<button id="optout-event" onclick="liveinsight('Ignored',
  {callback: function (r) { window.ignoredResult = r === undefined ? 'no answer' : r }})"
>x</button>""",
        # A Plausible snippet with only the host changed: script.hash.local.js sets hash mode
        # and allows this local page; plausible() and plausible-event-* classes work.
        "plausible.html": f"""
<script>window.plausible = window.plausible || function () {{
  (window.plausible.q = window.plausible.q || []).push(arguments) }}
plausible('Legacy', {{props: {{via: 'plausible'}}}})</script>
<script defer data-domain="example.com" src="{server}/js/script.hash.local.js"></script>
<button id="trial" class="plausible-event-name--Free+Trial plausible-event-tier--gold">Try</button>
<a id="x" href="#/x">x</a> <a id="partner" href="{outbound}">partner</a>""",
        "files/report.pdf": "%PDF-1.4 test",
    }


def _write_site(root: Path, server: str, site: str) -> None:
    snippet = (f'<script defer src="{server}{tracker_path()}" data-domain="example.com" '
               f'data-api="{server}/api/event" data-allow-local{{extra}}></script>')
    for path, body in _pages(server, site).items():
        html = body.replace("{tracker}", snippet.format(extra="")).replace(
            "{tracker_hash}", snippet.format(extra=" data-hash"))
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html if path.endswith(".pdf") else f"<!doctype html><html><body>"
                          f"{html}</body></html>")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@functools.cache
def _handler(root: str) -> Any:
    return functools.partial(_Quiet, directory=root)


# --- the walk ----------------------------------------------------------------------------


@dataclass
class Journey:
    events: list[dict[str, Any]]
    bought: Any
    ignored_result: Any
    script_requests: list[str]


def _walk(server: Server, site: str) -> tuple[Any, Any, list[str]]:
    from playwright.sync_api import sync_playwright

    script_requests: list[str] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw, DESKTOP_CHROME)
        try:
            context = browser.new_context(accept_downloads=True,
                                          viewport={"width": 1280, "height": 720})
            context.on("request", lambda r: r.url.startswith(server.url + "/js/")
                       and script_requests.append(r.url))
            page = context.new_page()

            page.goto(site + "/index.html")
            page.wait_for_function("window.liveinsight && window.liveinsight.l === 1")
            page.click("#signup")
            page.click("#buy")
            page.wait_for_function("window.bought !== undefined")
            bought = page.evaluate("window.bought")
            with page.expect_download():
                page.click("#download")
            page.mouse.wheel(0, 1500)
            page.wait_for_function("scrollY >= 1000")
            time.sleep(1.2)  # engaged time on /index.html
            page.click("#spa")
            page.wait_for_url("**/app/settings")
            time.sleep(0.3)
            with page.expect_navigation():
                page.click("#outbound span")  # the click lands on a child of the link

            page.goto(site + "/hash.html")
            page.click("#pricing")
            page.wait_for_url("**/hash.html#/pricing")
            time.sleep(0.3)

            page.goto(site + "/signup.html")
            with page.expect_navigation():
                page.click("#subscribe")
            page.wait_for_url("**/thanks.html*")

            page.goto(site + "/missing.html")
            page.wait_for_function("window.liveinsight && window.liveinsight.l === 1")

            page.goto(site + "/local.html")
            page.wait_for_function("window.liveinsight && window.liveinsight.l === 1")

            page.evaluate("localStorage.liveinsight_ignore = 'true'")
            page.goto(site + "/optout.html")
            page.wait_for_function("window.liveinsight && window.liveinsight.l === 1")
            page.click("#optout-event")
            ignored_result = page.evaluate("window.ignoredResult")
            page.evaluate("localStorage.removeItem('liveinsight_ignore')")

            page.goto(site + "/plausible.html")
            page.wait_for_function("window.plausible && window.plausible.l === 1")
            page.click("#trial")
            page.click("#x")
            page.wait_for_url("**/plausible.html#/x")
            with page.context.expect_page() as opened:
                page.click("#partner", button="middle")  # auxclick: opens a background tab
            opened.value.close()

            page.goto(site + "/thanks.html?again=1")
            page.wait_for_function("window.liveinsight && window.liveinsight.l === 1")
            time.sleep(0.2)
            page.close()  # the tab is closed: the page is hidden, engagement is sent
            server.settle(EXPECTED_MIN)  # before the browser, and its keepalive requests, go
        finally:
            browser.close()
    return bought, ignored_result, script_requests


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    require_browser()
    tmp = tmp_path_factory.mktemp("tracker")
    server = Server(tmp / "data", tmp / "server.log", wal_fsync="never")
    server.cli("create-site", "example.com")
    root = tmp / "site"
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(str(root)))
    site = f"http://127.0.0.1:{httpd.server_address[1]}"
    _write_site(root, server.url, site)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        server.start()
        bought, ignored_result, script_requests = _walk(server, site)
    finally:
        httpd.shutdown()
        httpd.server_close()
        server.stop()
    store = EmbeddedStore(server.data_dir / "chdb", "liveinsight")
    try:
        events = store.query(
            "SELECT name, pathname, hostname, props, revenue, revenue_currency, engagement_ms, "
            "scroll_depth, session_id, visitor_id, referrer "
            "FROM liveinsight.events ORDER BY timestamp").dicts()
    finally:
        store.close()
    yield Journey(events, bought, ignored_result, script_requests)


def _named(journey: Journey, name: str) -> list[dict[str, Any]]:
    return [e for e in journey.events if e["name"] == name]


def _props(event: dict[str, Any]) -> dict[str, str]:
    return dict(event["props"])


# --- what was stored ---------------------------------------------------------------------


def test_pageviews_on_load_history_and_hash_navigation(journey: Journey) -> None:
    assert [e["pathname"] for e in _named(journey, "pageview")] == PAGEVIEWS
    assert {e["hostname"] for e in _named(journey, "pageview")} == {"127.0.0.1"}


def test_every_event_was_stored(journey: Journey) -> None:
    assert sorted({e["name"] for e in journey.events}) == sorted(
        {"pageview", "engagement", *CUSTOM})
    assert len(journey.events) >= EXPECTED_MIN


def test_one_visitor_one_session(journey: Journey) -> None:
    assert len({e["visitor_id"] for e in journey.events}) == 1
    assert len({e["session_id"] for e in journey.events}) == 1


def test_calls_queued_before_the_script_loaded_are_sent(journey: Journey) -> None:
    [queued] = _named(journey, "Queued")
    assert queued["pathname"] == "/index.html"
    assert _props(queued) == {"early": "yes"}


def test_class_tagged_button(journey: Journey) -> None:
    [signup] = _named(journey, "Signup")
    assert signup["pathname"] == "/index.html"
    assert _props(signup) == {"plan": "pro plus"}


def test_js_api_with_props_revenue_and_callback(journey: Journey) -> None:
    [purchase] = _named(journey, "Purchase")
    assert _props(purchase) == {"sku": "A-1"}
    assert Decimal(str(purchase["revenue"])) == Decimal("19.99")
    assert purchase["revenue_currency"] == "EUR"
    assert journey.bought == {"status": 202}


def test_file_download(journey: Journey) -> None:
    [download] = _named(journey, "File Download")
    assert download["pathname"] == "/index.html"
    assert _props(download)["url"].endswith("/files/report.pdf")  # without the query


def test_outbound_link_click_sent_while_the_page_navigates_away(journey: Journey) -> None:
    clicked, middle_clicked = _named(journey, "Outbound Link: Click")
    assert clicked["pathname"] == "/app/settings"
    assert middle_clicked["pathname"] == "/plausible.html#/x"
    for event in (clicked, middle_clicked):
        url = _props(event)["url"]
        assert url.startswith("http://localhost:") and url.endswith("/landing.html?from=li")


def test_tagged_form_submission(journey: Journey) -> None:
    [newsletter] = _named(journey, "Newsletter")
    assert newsletter["pathname"] == "/signup.html"
    assert _props(newsletter) == {"list": "weekly"}


def test_404_page_posts_to_the_scripts_own_origin(journey: Journey) -> None:
    [missing] = _named(journey, "404")
    assert missing["pathname"] == "/missing.html"
    assert _props(missing) == {"path": "/missing.html"}


def test_engagement_time_and_scroll_depth(journey: Journey) -> None:
    engagements = _named(journey, "engagement")
    by_path = {e["pathname"]: e for e in engagements}
    index = by_path["/index.html"]  # sent on the pushState navigation
    assert 1000 <= index["engagement_ms"] < 60_000
    assert 50 <= index["scroll_depth"] <= 100
    # The others: leaving for another site, a hash navigation, form submission, closing the tab.
    assert set(by_path) == set(PAGEVIEWS)
    assert all(0 < e["scroll_depth"] <= 100 for e in engagements)


def test_plausible_snippets_work_with_only_the_host_changed(journey: Journey) -> None:
    [legacy] = _named(journey, "Legacy")
    assert (legacy["pathname"], _props(legacy)) == ("/plausible.html", {"via": "plausible"})
    [trial] = _named(journey, "Free Trial")
    assert _props(trial) == {"tier": "gold"}
    assert "/plausible.html#/x" in [e["pathname"] for e in _named(journey, "pageview")]


def test_local_pages_in_automation_and_opted_out_visitors_send_nothing(
        journey: Journey) -> None:
    paths = {e["pathname"] for e in journey.events}
    assert "/local.html" not in paths
    assert "/optout.html" not in paths
    assert not _named(journey, "Ignored")
    assert journey.ignored_result == "no answer"  # the callback still runs


def test_pages_load_the_versioned_script(journey: Journey) -> None:
    assert journey.script_requests
    assert {url.split("/js/")[1] for url in journey.script_requests} == {
        tracker_path().removeprefix("/js/"), "script.hash.local.js"}
