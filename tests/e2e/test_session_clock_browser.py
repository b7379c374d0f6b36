"""A session idle past 30 minutes starts a new one, on a clock the test moves (issue 17).

The server is the app on a fake clock (tests/e2e/fake_clock_app.py: real time plus an
offset the test writes in a file; a test-only factory run on granian, nothing over HTTP
moves it). Chromium, one visitor throughout, views /a.html; the clock moves 31 minutes on;
it views /b.html, then 29 minutes later /c.html. The visitor's two visits — /a.html alone, a
bounce, and /b.html → /c.html — are what the raw export, the stats API (v1 and v2) and the
dashboard show.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.fake_clock_app import CLOCK_FILE_ENV
from tests.support import Server, api_key, sign_in, static_site, tracker_snippet

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

ADMIN = ("admin@localhost", "e2e-clock-password")
SITE = "clock.example"
MINUTE = 60.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("clock")
    srv = Server(tmp / "data", tmp / "server.log", factory="tests.e2e.fake_clock_app:app",
                 wal_fsync="never")
    srv.env[CLOCK_FILE_ENV] = str(tmp / "clock-offset")
    srv.cli_many(
        ["create-site", SITE],
        ["create-user", ADMIN[0], "--password", ADMIN[1], "--role", "admin"],
    )
    srv.start()
    yield srv
    srv.stop()


def _move_clock(server: Server, offset_s: float) -> None:
    Path(server.env[CLOCK_FILE_ENV]).write_text(str(offset_s))


def _view(context: Any, site: str, path: str, server: Server, seen: float) -> float:
    """Open ``path`` in a new tab, wait for its pageview, close the tab (its engagement is
    sent) and wait until the server has both; the events seen so far."""
    page = context.new_page()
    with page.expect_response(lambda r: r.url.endswith("/api/event")):
        page.goto(site + path)
    page.close()
    server.settle(int(seen) + 2)
    return server.events_seen()


def test_a_session_idle_past_30_minutes_starts_a_new_one(
        server: Server, chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("clock-site")
    for name in ("a", "b", "c"):
        (root / f"{name}.html").write_text(
            f"<!doctype html><title>{name}</title>{tracker_snippet(server.url, SITE)}")
    # every fake moment on one UTC day (the visitor's daily salt): an hour back, unless
    # that is yesterday
    base = 0.0 if datetime.now(UTC).hour >= 1 else 60 * MINUTE
    context = chromium.new_context()
    with static_site(root) as site:
        seen = server.events_seen()
        _move_clock(server, base - 60 * MINUTE)
        seen = _view(context, site, "/a.html", server, seen)
        _move_clock(server, base - 29 * MINUTE)  # 31 minutes later: a new visit
        seen = _view(context, site, "/b.html", server, seen)
        _move_clock(server, base)  # 29 minutes later: the same visit
        _view(context, site, "/c.html", server, seen)
    context.close()

    admin, stats = api_key(server, "admin"), api_key(server, "stats")
    rows = httpx.get(f"{server.url}/api/v1/sites/{SITE}/export/events", timeout=30,
                     headers={"authorization": f"Bearer {admin}"}).text.splitlines()
    events = [json.loads(line) for line in rows]
    views = [e for e in events if e["name"] == "pageview"]
    assert [e["pathname"] for e in views] == ["/a.html", "/b.html", "/c.html"]
    assert len({e["visitor_id"] for e in events}) == 1
    first, second, third = (e["session_id"] for e in views)
    assert first != second == third
    gap = (datetime.fromisoformat(views[1]["timestamp"])
           - datetime.fromisoformat(views[0]["timestamp"])).total_seconds()
    assert 31 * MINUTE <= gap < 32 * MINUTE

    http = httpx.Client(base_url=server.url, timeout=30,
                        headers={"authorization": f"Bearer {stats}"})
    totals = http.get("/api/stats/aggregate", params={
        "site_id": SITE, "period": "7d",
        "metrics": "visitors,visits,pageviews,bounce_rate,views_per_visit"}).json()["results"]
    assert {k: v["value"] for k, v in totals.items()} == {
        "visitors": 1, "visits": 2, "pageviews": 3, "bounce_rate": 50, "views_per_visit": 1.5}
    for dimension, expected in (("visit:entry_page", {"/a.html": 1, "/b.html": 1}),
                                ("visit:exit_page", {"/a.html": 1, "/c.html": 1})):
        answer = http.post("/api/v2/query", json={
            "site_id": SITE, "date_range": "7d", "metrics": ["visits"],
            "dimensions": [dimension]}).json()["results"]
        assert {r["dimensions"][0]: r["metrics"][0] for r in answer} == expected, dimension
    duration = http.post("/api/v2/query", json={
        "site_id": SITE, "date_range": "7d", "metrics": ["visit_duration"]}).json()
    # the second visit lasted 29 minutes (and seconds); the first, one pageview, none
    assert 29 * MINUTE / 2 <= duration["results"][0]["metrics"][0] < 31 * MINUTE / 2
    http.close()

    # the dashboard, on the same clock, says so too
    page = chromium.new_page()
    sign_in(page, server.url, ADMIN)
    page.locator("a.site-link").first.click()
    page.wait_for_url("**/sites/*")
    for metric, value in (("visitors", 1), ("visits", 2), ("pageviews", 3),
                          ("bounce_rate", 50)):
        page.wait_for_function(
            "([m, v]) => document.querySelector(`.tile[data-metric=${m}] [data-value]`)"
            "?.dataset.raw === String(v)", arg=[metric, value], timeout=20_000)
    page.close()
