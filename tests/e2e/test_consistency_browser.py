"""Every API and the dashboard agree on every number of a generated event set (issue 17).

A deterministic set (seeded): visitors (an address and a browser each: countries from the
addresses, devices, browsers and systems from the User-Agents), one or two visits each, from
several sources, over several pages, with goals converting (a page goal, an event goal, a
revenue goal in EUR) and props; most of it hours ago, a few visitors in the last minutes. It
is sent to the native collector (``POST /api/events`` with a server key: timestamps, address
and User-Agent per event) in time order. The expected figures are computed here from the set
alone (visits split at 30 idle minutes, bounces, durations, per-dimension rows); the stats
API v1 (aggregate, timeseries, breakdown), v2 (query), the realtime API (for the recent
part), the raw export and the dashboard (tiles and every card's rows, read in Chromium) must
each give exactly those.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import iptocc
import pytest

from tests.support import Server, api_key, sign_in, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ADMIN = ("admin@localhost", "e2e-consistency-password")
SITE = "consistency.example"
IDLE = timedelta(minutes=30)
PAGES = ["/", "/pricing", "/blog/", "/blog/launch", "/docs", "/signup", "/about"]
# referrer, utm_source, the source the product names
SOURCES = [("", "", "Direct / None"), ("https://www.google.com/", "", "Google"),
           ("https://duckduckgo.com/", "", "DuckDuckGo"),
           ("https://news.ycombinator.com/item?id=1", "", "Hacker News"),
           ("", "newsletter", "newsletter")]
# User-Agent, device, browser, OS
AGENTS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", "Desktop", "Chrome", "Windows"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
     "Desktop", "Firefox", "Linux"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
     "like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Mobile", "Safari", "iOS"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Mobile Safari/537.36", "Mobile", "Chrome", "Android"),
]
NETWORKS = ["8.8.8.", "81.2.69.", "5.9.10.", "1.1.1.", "200.160.2."]  # US GB DE AU BR
GOALS = {"Pricing page": ("--page", "/pricing"), "Signup": ("--event", "Signup"),
         "Purchase": ("--event", "Purchase")}


@dataclass
class Event:
    at: datetime
    name: str
    page: str
    referrer: str = ""
    props: dict[str, str] = field(default_factory=dict)
    revenue: Decimal | None = None


@dataclass
class Visit:
    visitor: int
    source: str
    events: list[Event]

    @property
    def pageviews(self) -> list[Event]:
        return [e for e in self.events if e.name == "pageview"]

    @property
    def bounce(self) -> bool:  # one pageview and nothing done (custom events are interactive)
        return len(self.events) == 1

    @property
    def duration(self) -> float:
        return (self.events[-1].at - self.events[0].at).total_seconds()


@dataclass
class Visitor:
    ip: str
    agent: tuple[str, str, str, str]
    visits: list[Visit] = field(default_factory=list)

    @property
    def country(self) -> str:
        return str(iptocc.country_code(self.ip))


def _visit(rng: random.Random, number: int, start: datetime) -> Visit:
    referrer, utm, source = rng.choice(SOURCES)
    at, events = start, []
    for i in range(rng.choice([1, 1, 2, 3, 4])):
        page = rng.choice(PAGES) if i else rng.choice(PAGES[:4])
        if utm and i == 0:
            page += f"?utm_source={utm}"
        events.append(Event(at, "pageview", page, referrer if i == 0 else ""))
        at += timedelta(seconds=rng.randint(5, 240))
    last = events[-1].page.split("?")[0]
    if rng.random() < 0.3:
        events.append(Event(at, "Signup", last, props={"plan": rng.choice(["pro", "free"])}))
        at += timedelta(seconds=rng.randint(5, 60))
    if rng.random() < 0.2:
        amount = Decimal(rng.choice(["19.99", "49.00", "5.50"]))
        events.append(Event(at, "Purchase", last, props={"sku": "A-1"}, revenue=amount))
    return Visit(number, source, events)


def generate(now: datetime) -> tuple[list[Visitor], datetime]:
    """The visitors and their visits (about 300 events); when the recent part starts."""
    rng = random.Random(17)
    visitors: list[Visitor] = []
    for n in range(90):
        visitor = Visitor(f"{NETWORKS[n % len(NETWORKS)]}{10 + n}", AGENTS[(n // 5) % 4])
        if n < 80:  # hours ago: one or two visits, the second after a long pause
            start = now - timedelta(hours=20) + timedelta(minutes=rng.randint(0, 900))
            visitor.visits.append(_visit(rng, n, start))
            if rng.random() < 0.4:
                pause = timedelta(minutes=rng.randint(45, 120))
                visitor.visits.append(_visit(rng, n, visitor.visits[0].events[-1].at + pause))
        else:  # in the last minutes: realtime's (read within a minute or two of now)
            start = now - timedelta(minutes=2) + timedelta(seconds=rng.randint(0, 30))
            visit = _visit(rng, n, start)
            visit.events = visit.events[:2]
            for i, event in enumerate(visit.events):  # short, so it ends before now
                event.at = start + timedelta(seconds=20 * i)
            visitor.visits.append(visit)
        visitors.append(visitor)
    return visitors, now - timedelta(minutes=2)


# --- the expected figures, from the set alone --------------------------------------------


def _round(x: float) -> int:
    return round(x)


def expected(visitors: list[Visitor]) -> dict[str, Any]:
    visits = [v for who in visitors for v in who.visits]
    events = [(who, visit, e) for who in visitors for visit in who.visits for e in visit.events]
    pageviews = [(who, e) for who, _, e in events if e.name == "pageview"]

    def visitors_by(key: Any) -> dict[str, int]:
        seen: dict[str, set[str]] = defaultdict(set)
        for who in visitors:
            seen[key(who)].add(who.ip)
        return {k: len(v) for k, v in seen.items()}

    def visits_by(key: Any) -> dict[str, int]:
        return dict(Counter(key(v) for v in visits))

    page_visitors: dict[str, set[str]] = defaultdict(set)
    for who, _, e in events:
        page_visitors[e.page.split("?")[0]].add(who.ip)
    goal_rows: dict[str, dict[str, Any]] = {}
    for goal, (kind, target) in GOALS.items():
        hits = [(who, e) for who, _, e in events if (
            (kind == "--page" and e.name == "pageview" and e.page.split("?")[0] == target)
            or (kind == "--event" and e.name == target))]
        amounts: list[Decimal] = [e.revenue for _, e in hits if e.revenue is not None]
        total = sum(amounts, Decimal(0))
        goal_rows[goal] = {
            "visitors": len({who.ip for who, _ in hits}), "events": len(hits),
            "conversion_rate": round(len({who.ip for who, _ in hits}) * 100 / len(visitors), 2),
            "total_revenue": float(total) if amounts else None,
            "average_revenue": float(round(total / len(amounts), 2)) if amounts else None,
        }
    custom = [(who, e) for who, _, e in events if e.name != "pageview"]
    return {
        "totals": {
            "visitors": len(visitors),
            "visits": len(visits),
            "pageviews": len(pageviews),
            "views_per_visit": round(len(pageviews) / len(visits), 2),
            "bounce_rate": _round(sum(v.bounce for v in visits) * 100 / len(visits)),
            "visit_duration": _round(sum(v.duration for v in visits) / len(visits)),
            "events": len(events),
        },
        "event:page": {p: {"visitors": len(page_visitors[p]),
                           "pageviews": sum(1 for _, e in pageviews
                                            if e.page.split("?")[0] == p)}
                       for p in {e.page.split("?")[0] for _, e in pageviews}},
        "visit:source": {"visitors": _visitors_of_visits(visits, lambda v: v.source),
                         "visits": visits_by(lambda v: v.source)},
        "visit:entry_page": visits_by(lambda v: v.pageviews[0].page.split("?")[0]),
        "visit:exit_page": visits_by(lambda v: v.pageviews[-1].page.split("?")[0]),
        "visit:country": visitors_by(lambda who: who.country),
        "visit:device": visitors_by(lambda who: who.agent[1]),
        "visit:browser": visitors_by(lambda who: who.agent[2]),
        "visit:os": visitors_by(lambda who: who.agent[3]),
        "event:goal": goal_rows,
        "event:name": {name: {"visitors": len({who.ip for who, e in custom if e.name == name}),
                              "events": sum(1 for _, e in custom if e.name == name)}
                       for name in {e.name for _, e in custom}},
        "plan": dict(Counter(e.props["plan"] for _, e in custom if e.name == "Signup")),
        "names": dict(Counter(e.name for _, _, e in events)),
    }


def _visitors_of_visits(visits: list[Visit], key: Any) -> dict[str, int]:
    seen: dict[str, set[int]] = defaultdict(set)
    for v in visits:
        seen[key(v)].add(v.visitor)
    return {k: len(s) for k, s in seen.items()}


def recent(visitors: list[Visitor], since: datetime) -> dict[str, Any]:
    """Realtime's numbers: visitors of the last 5 minutes, the pages of the last 30."""
    events = [(who, e) for who in visitors for v in who.visits for e in v.events
              if e.at >= since]
    pages: dict[str, set[str]] = defaultdict(set)
    for who, e in events:
        if e.name == "pageview":
            pages[e.page.split("?")[0]].add(who.ip)
    return {"visitors": len({who.ip for who, _ in events}),
            "top_pages": {p: len(s) for p, s in pages.items()},
            "pageviews": sum(1 for _, e in events if e.name == "pageview")}


# --- the server, fed -----------------------------------------------------------------------


@dataclass
class Fed:
    server: Server
    stats_key: str
    admin_key: str
    want: dict[str, Any]
    live: dict[str, Any]


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fed]:
    tmp = tmp_path_factory.mktemp("consistency")
    srv = Server(tmp / "data", tmp / "server.log", wal_fsync="never")
    srv.cli("create-site", SITE)
    for goal, (kind, target) in GOALS.items():
        currency = ["--currency", "EUR"] if goal == "Purchase" else []
        srv.cli("goals", "add", SITE, kind, target, "--name", goal, *currency)
    srv.cli("create-user", ADMIN[0], "--password", ADMIN[1], "--role", "admin")
    ingest, stats, admin = (api_key(srv, s) for s in ("ingest", "stats", "admin"))
    srv.start()
    now = datetime.now(UTC).replace(microsecond=0)
    visitors, since = generate(now)
    batch = sorted(((e, who) for who in visitors for v in who.visits for e in v.events),
                   key=lambda pair: pair[0].at)
    body = [{"event_type": e.name, "domain": SITE, "page_url": f"https://{SITE}{e.page}",
             "timestamp": e.at.isoformat().replace("+00:00", "Z"), "ip": who.ip,
             "user_agent": who.agent[0], "props": e.props,
             **({"referrer": e.referrer} if e.referrer else {}),
             **({"revenue": {"amount": str(e.revenue), "currency": "EUR"}}
                if e.revenue is not None else {})} for e, who in batch]
    for at in range(0, len(body), 100):  # in order, in batches under the 64 KB body limit
        sent = httpx.post(srv.url + "/api/events", json=body[at:at + 100], timeout=60,
                          headers={"authorization": f"Bearer {ingest}"})
        assert sent.status_code == 202, sent.text
        assert sent.json() == {"received": len(body[at:at + 100])}
    srv.settle(len(body))
    try:
        yield Fed(srv, stats, admin, expected(visitors), recent(visitors, since))
    finally:
        srv.stop()


def _client(fed: Fed, key: str) -> httpx.Client:
    return httpx.Client(base_url=fed.server.url, timeout=60,
                        headers={"authorization": f"Bearer {key}"})


# --- each surface ------------------------------------------------------------------------

def test_realtime_for_the_last_minutes(fed: Fed) -> None:
    """First, while the recent part is a minute or two old (realtime counts 5 minutes)."""
    with _client(fed, fed.stats_key) as http:
        doc = http.get("/api/realtime", params={"site_id": SITE, "window": "30"}).json()
    assert doc["visitors"] == fed.live["visitors"]
    assert {r["page"]: r["visitors"] for r in doc["top_pages"]} == fed.live["top_pages"]
    assert sum(m["pageviews"] for m in doc["pageviews_per_minute"]) == fed.live["pageviews"]


TOTALS = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate",
          "visit_duration", "events"]


def test_v1_aggregate_and_timeseries(fed: Fed) -> None:
    with _client(fed, fed.stats_key) as http:
        wait_until(lambda: http.get("/api/stats/aggregate", params={
            "site_id": SITE, "period": "7d", "metrics": "events"}).json()["results"][
            "events"]["value"] == fed.want["totals"]["events"], 30, "every event stored")
        got = http.get("/api/stats/aggregate", params={
            "site_id": SITE, "period": "7d", "metrics": ",".join(TOTALS)}).json()["results"]
        assert {m: got[m]["value"] for m in TOTALS} == fed.want["totals"]
        series = http.get("/api/stats/timeseries", params={
            "site_id": SITE, "period": "7d", "metrics": "pageviews,visits"}).json()["results"]
        assert sum(r["pageviews"] for r in series) == fed.want["totals"]["pageviews"]
        assert sum(r["visits"] for r in series) == fed.want["totals"]["visits"]


BREAKDOWNS = {  # property: metrics compared
    "event:page": ["visitors", "pageviews"],
    "visit:source": ["visitors", "visits"],
    "visit:entry_page": ["visits"],
    "visit:exit_page": ["visits"],
    "visit:country": ["visitors"],
    "visit:device": ["visitors"],
    "visit:browser": ["visitors"],
    "visit:os": ["visitors"],
    "event:goal": ["visitors", "events", "conversion_rate"],
}


def _want_rows(fed: Fed, prop: str, metrics: list[str]) -> dict[str, list[Any]]:
    want = fed.want[prop]
    if prop == "visit:source":
        return {k: [want[m][k] for m in metrics] for k in want["visits"]}
    if prop in ("event:page", "event:goal"):
        return {k: [row[m] for m in metrics] for k, row in want.items()}
    return {k: [v] for k, v in want.items()}


def test_v1_breakdowns(fed: Fed) -> None:
    with _client(fed, fed.stats_key) as http:
        for prop, metrics in BREAKDOWNS.items():
            rows = http.get("/api/stats/breakdown", params={
                "site_id": SITE, "period": "7d", "property": prop,
                "metrics": ",".join(metrics)}).json()["results"]
            key = prop.split(":")[1]
            got = {r[key]: [r[m] for m in metrics] for r in rows}
            assert got == _want_rows(fed, prop, metrics), prop


def test_v2_query(fed: Fed) -> None:
    with _client(fed, fed.stats_key) as http:
        def query(**q: Any) -> Any:
            res = http.post("/api/v2/query", json={"site_id": SITE, "date_range": "7d", **q})
            assert res.status_code == 200, res.text
            return res.json()["results"]

        [row] = query(metrics=TOTALS)
        assert dict(zip(TOTALS, row["metrics"], strict=True)) == fed.want["totals"]
        for prop, metrics in BREAKDOWNS.items():
            got = {r["dimensions"][0]: r["metrics"] for r in query(metrics=metrics,
                                                                  dimensions=[prop])}
            assert got == _want_rows(fed, prop, metrics), prop
        got = {r["dimensions"][0]: r["metrics"] for r in query(
            metrics=["visitors", "events"], dimensions=["event:name"],
            filters=[["is_not", "event:name", ["pageview"]]])}
        assert got == {k: [v["visitors"], v["events"]]
                       for k, v in fed.want["event:name"].items()}
        got = {r["dimensions"][0]: r["metrics"][0] for r in query(
            metrics=["events"], dimensions=["event:props:plan"],
            filters=[["is", "event:name", ["Signup"]]])}
        assert got == fed.want["plan"]
        # amounts to the cent (an average's value is not rounded, as Plausible's; its "long"
        # text is)
        revenue = {r["dimensions"][0]: [m and round(m["value"], 2) for m in r["metrics"]]
                   for r in query(metrics=["total_revenue", "average_revenue"],
                                  dimensions=["event:goal"])}
        assert revenue == {g: [row["total_revenue"], row["average_revenue"]]
                           for g, row in fed.want["event:goal"].items()}


def test_raw_export_totals(fed: Fed) -> None:
    with _client(fed, fed.admin_key) as http:
        res = http.get(f"/api/v1/sites/{SITE}/export/events", params={"limit": "50000"})
        assert res.status_code == 200, res.text
        assert "x-next-cursor" not in res.headers
    rows = [json.loads(line) for line in res.text.splitlines()]
    assert dict(Counter(r["name"] for r in rows)) == fed.want["names"]
    assert len({r["visitor_id"] for r in rows}) == fed.want["totals"]["visitors"]
    assert len({r["session_id"] for r in rows}) == fed.want["totals"]["visits"]


def _number(text: str) -> float | int | None:
    if text in ("null", "undefined"):
        return None
    return float(text) if "." in text else int(text)


DASHBOARD = [  # card, tab, property (as the card shows it), metrics
    ("pages", 0, "event:page", ["visitors", "pageviews"]),
    ("pages", 1, "visit:entry_page", ["visitors", "visits"]),
    ("pages", 2, "visit:exit_page", ["visitors", "visits"]),
    ("sources", 1, "visit:source", ["visitors"]),
    ("locations", 1, "visit:country", ["visitors"]),
    ("devices", 0, "visit:browser", ["visitors"]),
    ("devices", 1, "visit:os", ["visitors"]),
    ("devices", 2, "visit:device", ["visitors"]),
    ("events", 0, "event:goal", ["visitors", "events", "conversion_rate"]),
]


def test_the_dashboard_shows_the_same_numbers(fed: Fed, chromium: Any) -> None:
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, fed.server.url, ADMIN)
    page.locator("a.site-link").first.click()
    page.wait_for_url("**/sites/*")
    base = page.url.split("?")[0]
    # entry and exit pages: their visits (the card's second metric), compared as such
    entry_visits = {"visit:entry_page", "visit:exit_page"}
    for tab in range(3):
        tabs = "&".join(f"tab_{card}={t}" for card, t, _, _ in DASHBOARD if t == tab)
        page.goto(f"{base}?period=7d&{tabs}")
        for metric in TOTALS[:-1]:
            page.wait_for_function(
                "([m, v]) => document.querySelector(`.tile[data-metric=${m}] [data-value]`)"
                "?.dataset.raw === String(v)", arg=[metric, fed.want["totals"][metric]],
                timeout=30_000)
        for card, t, prop, metrics in DASHBOARD:
            if t != tab:
                continue
            want = _want_rows(fed, prop, metrics[1:] if prop in entry_visits else metrics)
            section = page.locator(f"[data-card={card}]")
            section.locator("button.row").first.wait_for(timeout=30_000)
            rows = section.locator("button.row").evaluate_all(
                "rows => rows.map(r => [r.dataset.value, r.dataset.raw])")
            got = {value: [_number(x) for x in raw.split(",")][:len(metrics)]
                   for value, raw in rows}
            if prop in entry_visits:
                got = {k: v[1:] for k, v in got.items()}
            assert got == want, (card, prop)
    assert errors == []
    page.close()
