"""A visitor's journey with the real tracker, seen everywhere within a second (issue 17).

``liveinsight serve`` runs with its default settings (the writer's 500 ms flush, the log's
fsync every second); a test site on another loopback origin loads the tracker the server
serves. Chromium walks through it: a pageview, a custom event with props, an SPA navigation
(``history.pushState``), a file download, an outbound link click and the engaged time on
each page. After each step, the stats API (v1 and v2), the realtime API and a signed-in
dashboard open in another tab are polled until each shows the step; the time from the
moment the tracker sent the event (the browser's own request timing) to the moment each
showed it is measured and must stay within ``BOUND_S``. At the end the dashboard, loaded
again, shows the journey's numbers as the APIs do.

Each figure is printed (``pytest -s``) as ``latency <step> <surface> <ms>``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support import (
    DESKTOP_CHROME,
    Server,
    api_key,
    sign_in,
    static_site,
    tracker_snippet,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ADMIN = ("admin@localhost", "e2e-journey-password")
SITE = "journey.example"
# The design's promise: an event is visible to the realtime API within 1 s; the stats API
# and the dashboard read the same store, so the same bound holds for them.
BOUND_S = 1.0
# Past this load average per core (the highest seen after any step) the machine runs more
# than twice the work it has cores for (the suite's own workers fill every core in a
# parallel run; other suites, other sessions): every insert and query waits its turn, and
# the figures measure the queue, not the server. The bound checked is then this one, and
# the figures are printed with the load; docs/performance.md reports both kinds of runs.
# (A CI run at 2.6 per core once showed a stored event 1.27 s after it was sent.)
OVERSUBSCRIBED = 2.0
OVERSUBSCRIBED_BOUND_S = 5.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("journey")
    srv = Server(tmp / "data", tmp / "server.log")  # the defaults: what users get
    srv.cli_many(
        ["create-site", SITE],
        ["create-site", "warm.example"],
        ["create-user", ADMIN[0], "--password", ADMIN[1], "--role", "admin"],
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def key(server: Server) -> str:
    """A key reading stats, once the server has stored its first event: its first insert
    and queries (the engine's caches, the day's salt) are behind it, as for any server a
    visitor meets."""
    key = api_key(server, "stats")
    warm = httpx.post(server.url + "/api/event", timeout=10, json={
        "n": "pageview", "d": "warm.example", "u": "https://warm.example/"},
        headers={"user-agent": DESKTOP_CHROME})
    assert warm.status_code == 202, warm.text
    wait_until(lambda: httpx.get(server.url + "/api/realtime", timeout=10,
                                 params={"site_id": "warm.example"},
                                 headers={"authorization": f"Bearer {key}"}
                                 ).json()["visitors"] == 1, 60, "the first event stored")
    return key


@pytest.fixture(scope="module")
def site(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("journey-site")
    tracker = tracker_snippet(server.url, SITE)
    (root / "files").mkdir()
    (root / "files" / "report.pdf").write_text("%PDF-1.4 test")
    (root / "landing.html").write_text("<p>a partner's page, no tracker</p>")
    with static_site(root) as url:
        partner = url.replace("127.0.0.1", "localhost") + "/landing.html"
        (root / "index.html").write_text(f"""<!doctype html><html><body>{tracker}
<button id="signup" onclick="liveinsight('Signup', {{props: {{plan: 'pro', seats: '3'}}}})"
>Sign up</button>
<button id="spa" onclick="history.pushState({{}}, '', '/app/settings')">Settings</button>
<a id="download" download href="/files/report.pdf">Report</a>
<a id="outbound" href="{partner}">Partner</a>
</body></html>""")
        yield url


class Surfaces:
    """Where a step must show: the stats API v1 and v2 and the realtime API (with an API
    key), and the dashboard tab's live feed."""

    def __init__(self, server: Server, key: str, dashboard: Any) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=10,
                                 headers={"authorization": f"Bearer {key}"})
        self.dashboard = dashboard
        self.streamed: list[tuple[str, str]] = []
        self.closed = False
        self.stream_error = ""

    def v1(self, kind: str, **params: str) -> Any:
        res = self.http.get(f"/api/stats/{kind}", params={"site_id": SITE, "period": "7d",
                                                           **params})
        assert res.status_code == 200, res.text
        return res.json()["results"]

    def v2(self, **query: Any) -> Any:
        res = self.http.post("/api/v2/query", json={"site_id": SITE, "date_range": "7d",
                                                    **query})
        assert res.status_code == 200, res.text
        return res.json()["results"]

    def realtime(self) -> Any:
        res = self.http.get("/api/realtime", params={"site_id": SITE, "window": "30"})
        assert res.status_code == 200, res.text
        return res.json()

    def stream(self) -> None:
        """Read the realtime stream (``/api/realtime/stream``) until closed, keeping each
        event it pushes as ``(name, pathname)`` in :attr:`streamed`."""
        try:
            with httpx.Client(base_url=self.http.base_url, headers=self.http.headers,
                              timeout=httpx.Timeout(10, read=None)) as client, client.stream(
                    "GET", "/api/realtime/stream", params={"site_id": SITE}) as res:
                kind = ""
                for line in res.iter_lines():
                    if self.closed:
                        return
                    if line.startswith("event: "):
                        kind = line.removeprefix("event: ")
                    elif line.startswith("data: ") and kind == "events":
                        self.streamed += [(e["name"], e["pathname"])
                                          for e in json.loads(line.removeprefix("data: "))]
        except httpx.HTTPError as exc:  # the checks fail on what is then missing
            self.stream_error = str(exc)

    def feed(self) -> list[str]:
        items: list[str] = self.dashboard.eval_on_selector_all(
            "#feed li .what", "items => items.map(i => i.textContent)")
        return items


def _sent_at(response: Any) -> float:
    """When the browser started sending the request (epoch seconds, the browser's timing)."""
    return float(response.request.timing["startTime"]) / 1000


def _load_per_core() -> float:
    return os.getloadavg()[0] / (os.cpu_count() or 1)


def _until_shown(step: str, sent_at: float, checks: dict[str, Callable[[], bool]],
                 latencies: dict[tuple[str, str], float], loads: list[float],
                 timeout: float = 20) -> None:
    """Poll every check until each holds; record each one's delay after ``sent_at`` and
    the machine's load per core once all hold. The API checks poll in threads of their own
    (a slow answer of one does not delay seeing another); the dashboard's, which drives the
    browser, on this thread."""
    deadline = time.monotonic() + timeout

    def poll(name: str, check: Callable[[], bool]) -> None:
        while time.monotonic() < deadline:
            if check():
                latencies[(step, name)] = time.time() - sent_at
                return
            time.sleep(0.02)

    threads = [threading.Thread(target=poll, args=item, daemon=True)
               for item in checks.items() if item[0] != "dashboard"]
    for thread in threads:
        thread.start()
    if "dashboard" in checks:
        poll("dashboard", checks["dashboard"])
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 1)
    for name in checks:
        if (step, name) not in latencies:
            pytest.fail(f"{step}: not shown by {name} after {timeout:g} s")
        print(f"latency {step} {name} {latencies[(step, name)] * 1000:.0f}")
    loads.append(_load_per_core())


def _tracker_post(name: str) -> Callable[[Any], bool]:
    """A predicate for the tracker's request sending ``name`` (or the answer to it)."""
    def matches(message: Any) -> bool:
        request = getattr(message, "request", message)
        if not request.url.endswith("/api/event") or request.method != "POST":
            return False
        return bool(json.loads(request.post_data or "{}").get("n") == name)
    return matches


def _pages_and_engagement(look: Surfaces) -> dict[str, tuple[int, bool]]:
    """Pageviews by page, and whether its engaged time is a second or more (the engagement
    event sent as the page was left: /index.html was seen for 1.5 s)."""
    rows = look.v2(metrics=["pageviews", "time_on_page"], dimensions=["event:page"])
    return {r["dimensions"][0]: (r["metrics"][0], (r["metrics"][1] or 0) >= 1) for r in rows}


def _names(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {r["name"]: r["events"] for r in rows}


def test_a_journey_shows_in_stats_realtime_and_dashboard_within_a_second(
        server: Server, key: str, site: str, chromium: Any) -> None:
    board = chromium.new_context(viewport={"width": 1280, "height": 900})
    dashboard = board.new_page()
    errors: list[str] = []
    dashboard.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(dashboard, server.url, ADMIN)
    dashboard.locator("a.site-link").first.click()
    dashboard.wait_for_url("**/sites/*")
    dashboard.wait_for_function("() => document.getElementById('live-count').dataset.value "
                                "=== '0'")
    look = Surfaces(server, key, dashboard)
    threading.Thread(target=look.stream, daemon=True).start()
    latencies: dict[tuple[str, str], float] = {}
    loads: list[float] = []

    visitor = chromium.new_context(accept_downloads=True)
    page = visitor.new_page()

    # 1. a pageview
    with page.expect_response(_tracker_post("pageview")) as sent:
        page.goto(site + "/index.html")
    _until_shown("pageview", _sent_at(sent.value), {
        "v1": lambda: look.v1("aggregate", metrics="visitors,pageviews") == {
            "visitors": {"value": 1}, "pageviews": {"value": 1}},
        "v2": lambda: look.v2(metrics=["visitors", "pageviews"])[0]["metrics"] == [1, 1],
        "realtime": lambda: (doc := look.realtime())["visitors"] == 1
        and doc["top_pages"] == [{"page": "/index.html", "visitors": 1}]
        and ("pageview", "/index.html") in look.streamed,
        "dashboard": lambda: "/index.html" in look.feed()
        and dashboard.locator("#live-count").get_attribute("data-value") == "1",
    }, latencies, loads)

    # 2. a custom event with props
    with page.expect_response(_tracker_post("Signup")) as sent:
        page.click("#signup")
    _until_shown("custom event", _sent_at(sent.value), {
        "v1": lambda: _names(look.v1("breakdown", property="event:name",
                                     metrics="visitors,events",
                                     filters="event:name!=pageview|engagement"))
        == {"Signup": 1},
        "v2": lambda: look.v2(metrics=["events"], dimensions=["event:props:plan"],
                              filters=[["is", "event:name", ["Signup"]]])
        == [{"metrics": [1], "dimensions": ["pro"]}],
        "realtime": lambda: ("Signup", "/index.html") in look.streamed,
        "dashboard": lambda: "Signup on /index.html" in look.feed(),
    }, latencies, loads)

    # 3. time on the page, then an SPA navigation (which sends the page's engagement)
    time.sleep(1.5)
    with page.expect_response(_tracker_post("pageview")) as sent:
        page.click("#spa")
    pages = {"/index.html": 1, "/app/settings": 1}
    _until_shown("SPA navigation", _sent_at(sent.value), {
        "v1": lambda: {r["page"]: r["pageviews"] for r in look.v1(
            "breakdown", property="event:page", metrics="visitors,pageviews")} == pages,
        "v2": lambda: _pages_and_engagement(look) == {"/index.html": (1, True),
                                                      "/app/settings": (1, False)},
        "realtime": lambda: sum(m["pageviews"] for m in look.realtime()[
            "pageviews_per_minute"]) == 2 and ("pageview", "/app/settings") in look.streamed,
        "dashboard": lambda: "/app/settings" in look.feed(),
    }, latencies, loads)

    # 4. a file download
    with page.expect_response(_tracker_post("File Download")) as sent, \
            page.expect_download():
        page.click("#download")
    _until_shown("file download", _sent_at(sent.value), {
        "v1": lambda: _names(look.v1("breakdown", property="event:name",
                                     metrics="visitors,events",
                                     filters="event:name!=pageview|engagement"))
        == {"Signup": 1, "File Download": 1},
        "v2": lambda: look.v2(metrics=["events"], dimensions=["event:props:url"],
                              filters=[["is", "event:name", ["File Download"]]])
        == [{"metrics": [1], "dimensions": [site + "/files/report.pdf"]}],
        "realtime": lambda: ("File Download", "/app/settings") in look.streamed,
        "dashboard": lambda: "File Download on /app/settings" in look.feed(),
    }, latencies, loads)

    # 5. an outbound link: the click is sent while the page navigates away
    # (its answer is not read by the page that left: the time is taken before the click)
    clicked = time.time()
    with page.expect_request(_tracker_post("Outbound Link: Click")), \
            page.expect_navigation():
        page.click("#outbound")
    partner = site.replace("127.0.0.1", "localhost") + "/landing.html"
    _until_shown("outbound link", clicked, {
        "v1": lambda: _names(look.v1("breakdown", property="event:name",
                                     metrics="visitors,events",
                                     filters="event:name!=pageview|engagement"))
        == {"Signup": 1, "File Download": 1, "Outbound Link: Click": 1},
        "v2": lambda: look.v2(metrics=["visitors"], dimensions=["event:props:url"],
                              filters=[["is", "event:name", ["Outbound Link: Click"]]])
        == [{"metrics": [1], "dimensions": [partner]}],
        "realtime": lambda: ("Outbound Link: Click", "/app/settings") in look.streamed,
        "dashboard": lambda: "Outbound Link: Click on /app/settings" in look.feed(),
    }, latencies, loads)
    visitor.close()

    # the whole visit, as every API tells it
    server.settle(7)  # 2 pageviews, 3 custom events, the engagement of each page
    totals = look.v1("aggregate", metrics="visitors,visits,pageviews,views_per_visit,"
                     "bounce_rate,visit_duration")
    v2 = look.v2(metrics=["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate",
                          "visit_duration"])[0]["metrics"]
    assert [totals[m]["value"] for m in ("visitors", "visits", "pageviews", "views_per_visit",
                                         "bounce_rate", "visit_duration")] == v2
    assert v2[:5] == [1, 1, 2, 2, 0] and v2[5] >= 1

    # the dashboard, loaded again, shows those numbers
    loaded = time.monotonic()
    dashboard.goto(dashboard.url.split("?")[0] + "?period=7d&tab_events=1")
    for metric, value in zip(("visitors", "visits", "pageviews", "views_per_visit",
                              "bounce_rate", "visit_duration"), v2, strict=True):
        dashboard.wait_for_function(
            "([m, v]) => document.querySelector(`.tile[data-metric=${m}] [data-value]`)"
            "?.dataset.raw === String(v)", arg=[metric, value], timeout=20_000)
    dashboard.locator("[data-card=events] button.row").nth(2).wait_for()
    labels = dashboard.eval_on_selector_all("[data-card=events] button.row .label",
                                            "rows => rows.map(r => r.textContent)")
    assert sorted(labels) == ["File Download", "Outbound Link: Click", "Signup"]
    print(f"latency dashboard-reload tiles {(time.monotonic() - loaded) * 1000:.0f}")
    assert errors == []
    board.close()
    look.closed = True
    look.http.close()

    slowest = max(latencies.values())
    worst = max(latencies, key=lambda k: latencies[k])
    load = max(loads)
    bound = BOUND_S if load <= OVERSUBSCRIBED else OVERSUBSCRIBED_BOUND_S
    print(f"latency slowest {worst} {slowest * 1000:.0f} ms; load per core {load:.1f}, "
          f"bound {bound:g} s")
    assert slowest <= bound, (f"{worst} showed {slowest * 1000:.0f} ms after the tracker "
                              f"sent it (load per core {load:.1f}): {latencies}")
