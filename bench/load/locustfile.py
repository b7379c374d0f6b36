"""Locust users for the load benchmarks (``bench/load/run.py`` starts the server and Locust).

- :class:`Visitor` — a person browsing one of the demo sites: a pageview, a few seconds to a
  minute of reading (an engagement event), the next page; a new visitor id (IP and user
  agent) per Locust user. With 1000 users and a mean think time of 10 s: about 100 events/s.
- :class:`DashboardViewer` — a person looking at a site's dashboard: it loads the cards the
  dashboard loads (aggregate with comparison, time series, four breakdowns, realtime), then
  after a few seconds changes the period, a filter or a card's tab, or switches site, and the
  dashboard loads again. Bearer API key with the stats scope.

Settings come from the environment (run.py sets them): ``LOAD_SITES`` (comma-separated
domains), ``LOAD_API_KEY``, ``LOAD_SCENARIO`` (``visitors``, ``dashboards`` or ``both``:
which classes run; Locust spreads ``--users`` over the classes by ``weight``).
"""

from __future__ import annotations

import itertools
import os
import random

from locust import HttpUser, between, events, task

SITES = [s for s in os.environ.get("LOAD_SITES", "").split(",") if s]
API_KEY = os.environ.get("LOAD_API_KEY", "")
SCENARIO = os.environ.get("LOAD_SCENARIO", "both")

PAGES = ["/", "/pricing", "/blog", "/docs", "/about", "/signup", "/login", "/contact"] + [
    f"/blog/post-{i}" for i in range(20)] + [f"/docs/page-{i}" for i in range(10)]
REFERRERS = ["", "", "https://www.google.com/", "https://news.ycombinator.com/",
             "https://twitter.com/", "https://duckduckgo.com/"]
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
]
PERIODS = ["day", "7d", "30d", "month", "day", "7d"]  # today and last week most often
FILTERS = ["", "", "", "visit:country==US", "visit:source==Google", "event:page==/pricing",
           "visit:device==Mobile"]
CARDS = {  # card → its tabs (property), as the dashboard has them
    "sources": ["visit:source", "visit:channel", "visit:utm_source"],
    "pages": ["event:page", "visit:entry_page", "visit:exit_page"],
    "locations": ["visit:country", "visit:region", "visit:city"],
    "devices": ["visit:browser", "visit:os", "visit:device"],
}
_ips = itertools.count(1)


class Visitor(HttpUser):
    weight = 1 if SCENARIO in ("visitors", "both") else 0
    wait_time = between(4, 16)  # reading a page: mean 10 s

    def on_start(self) -> None:
        n = next(_ips)
        self.ip = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        self.ua = random.choice(BROWSERS)
        self.site = random.choice(SITES)
        self.page = random.choice(PAGES)
        self.referrer = random.choice(REFERRERS)

    def _send(self, body: dict[str, object], name: str) -> None:
        self.client.post("/api/event", json=body, name=name, headers={
            "user-agent": self.ua, "x-forwarded-for": self.ip,
            "content-type": "text/plain"})

    @task
    def read_a_page(self) -> None:
        url = f"https://{self.site}{self.page}"
        self._send({"n": "pageview", "u": url, "d": self.site, "r": self.referrer},
                   "collect pageview")
        self.referrer = url
        # The engagement event a page sends when left (time on page, scroll depth).
        self._send({"n": "engagement", "u": url, "d": self.site, "sd": random.randint(10, 100),
                    "e": random.randint(2_000, 60_000)}, "collect engagement")
        self.page = random.choice(PAGES)


class DashboardViewer(HttpUser):
    weight = 1 if SCENARIO in ("dashboards", "both") else 0
    wait_time = between(3, 12)  # looking at the numbers before the next click

    def on_start(self) -> None:
        self.headers = {"authorization": f"Bearer {API_KEY}"}
        self.site = random.choice(SITES)
        self.period = random.choice(PERIODS)
        self.filter = ""
        self.tabs = {card: tabs[0] for card, tabs in CARDS.items()}
        self._load()

    def _get(self, path: str, name: str, **params: str) -> None:
        query = {"site_id": self.site, "period": self.period, **params}
        if self.filter and path != "/api/realtime":
            query["filters"] = self.filter
        self.client.get(path, params=query, headers=self.headers, name=name)

    def _load(self) -> None:
        """What one dashboard load asks for."""
        self._get("/api/stats/aggregate", "aggregate",
                  metrics="visitors,visits,pageviews,views_per_visit,bounce_rate,"
                          "visit_duration", compare="previous_period")
        self._get("/api/stats/timeseries", "timeseries", metrics="visitors")
        for card, prop in self.tabs.items():
            self._get("/api/stats/breakdown", f"breakdown {card}", property=prop,
                      metrics="visitors", limit="9")
        self._get("/api/realtime", "realtime")

    @task(4)
    def change_period(self) -> None:
        self.period = random.choice(PERIODS)
        self._load()

    @task(3)
    def change_filter(self) -> None:
        self.filter = random.choice(FILTERS)
        self._load()

    @task(3)
    def change_tab(self) -> None:
        card = random.choice(list(CARDS))
        self.tabs[card] = random.choice(CARDS[card])
        self._get("/api/stats/breakdown", f"breakdown {card}", property=self.tabs[card],
                  metrics="visitors", limit="9")

    @task(1)
    def change_site(self) -> None:
        self.site = random.choice(SITES)
        self._load()


@events.test_start.add_listener
def _check(environment: object, **_: object) -> None:
    if not SITES or (SCENARIO != "visitors" and not API_KEY):
        raise SystemExit("LOAD_SITES and LOAD_API_KEY must be set (bench/load/run.py does)")
