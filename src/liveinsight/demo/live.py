"""A live trickle of demo visits sent to a running server through the real collector
(``POST /api/event``, the Plausible-compatible body), so the realtime view moves.

Each simulated visitor has a browser user agent and a public IP address (sent as
``X-Forwarded-For``: the server believes it only when ``LIVEINSIGHT_TRUSTED_PROXIES`` includes
this machine, as ``scripts/quickstart.sh`` sets; otherwise every visit comes from 127.0.0.1),
lands on a page with a referrer and sometimes UTM tags, browses a few pages and fires the
site's custom events. The visit planning is pure (:meth:`Trickle.due`); :meth:`Trickle.run`
does the HTTP.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlencode

from liveinsight.demo import catalog as cat

log = logging.getLogger("liveinsight.demo")

# First octets of address blocks allocated to ISPs and clouds in America, Europe and Asia.
_OCTETS = [3, 8, 12, 18, 23, 24, 31, 37, 45, 46, 50, 62, 66, 68, 71, 73, 76, 77, 78, 79,
           80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 98, 99, 104, 108,
           109, 110, 112, 113, 114, 116, 118, 121, 122, 125, 151, 176, 177, 178, 179, 180,
           181, 185, 186, 187, 188, 189, 190, 193, 194, 195, 200, 201, 203, 212, 213, 217]


@dataclass
class Visitor:
    site: cat.DemoSite
    ip: str
    user_agent: str
    source: cat.Source
    page: str
    pageviews_left: int
    next_at: float
    first: bool = True


@dataclass
class Hit:
    """One collector request: the JSON body and the headers of a visitor's browser."""

    body: dict[str, object]
    user_agent: str
    ip: str


@dataclass
class Trickle:
    """Plans visits: about ``visits_per_second`` new visitors in total across ``sites``."""

    sites: list[cat.DemoSite]
    visits_per_second: float = 0.5
    rng: random.Random = field(default_factory=random.Random)
    active: list[Visitor] = field(default_factory=list)
    _next_arrival: float | None = None

    def _new_visitor(self, now: float) -> Visitor:
        site = self.rng.choices(self.sites, weights=[s.visitors_per_day for s in self.sites])[0]
        pages = [p for p in site.pages if p[0] not in cat.DEEP_PAGES]
        bounce = self.rng.random() < site.bounce_rate
        return Visitor(
            site=site,
            ip=f"{self.rng.choice(_OCTETS)}.{self.rng.randrange(256)}."
               f"{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}",
            user_agent=self.rng.choice(cat.USER_AGENTS),
            source=self.rng.choices(site.sources, weights=[s[8] for s in site.sources])[0],
            page=self.rng.choices([p for p, _ in pages], weights=[w for _, w in pages])[0],
            pageviews_left=1 if bounce else self.rng.randint(2, 6),
            next_at=now,
        )

    def due(self, now: float) -> list[Hit]:
        """The requests to send at monotonic time ``now``: new arrivals (a Poisson process)
        and the next page of each visitor whose think time is over."""
        if self._next_arrival is None:
            self._next_arrival = now
        while self._next_arrival <= now:
            self.active.append(self._new_visitor(now))
            self._next_arrival += self.rng.expovariate(self.visits_per_second)
        hits: list[Hit] = []
        for visitor in list(self.active):
            if visitor.next_at > now:
                continue
            hits.extend(self._visit_page(visitor))
            visitor.pageviews_left -= 1
            if visitor.pageviews_left <= 0:
                self.active.remove(visitor)
                continue
            flow = visitor.site.flows.get(visitor.page)
            choices = flow if flow and self.rng.random() < 0.65 else visitor.site.pages
            visitor.page = self.rng.choices([p for p, _ in choices],
                                            weights=[w for _, w in choices])[0]
            visitor.next_at = now + min(self.rng.lognormvariate(3.2, 0.7), 240.0)
        return hits

    def _visit_page(self, v: Visitor) -> list[Hit]:
        url = f"https://{v.site.domain}{v.page}"
        body: dict[str, object] = {"n": "pageview", "u": url, "d": v.site.domain}
        if v.first:
            src = v.source
            if src[3]:
                tags = {"utm_source": src[3], "utm_medium": src[4], "utm_campaign": src[5]}
                url += "?" + urlencode({k: x for k, x in tags.items() if x})
                body["u"] = url
            body["r"] = src[0]
            v.first = False
        hits = [Hit(body, v.user_agent, v.ip)]
        for name, props, chance, revenue in v.site.events.get(v.page, ()):
            if self.rng.random() < chance:
                custom: dict[str, object] = {"n": name, "u": url, "d": v.site.domain,
                                             "p": self.rng.choice(props)}
                if revenue:
                    custom["revenue"] = {"amount": self.rng.choice(revenue), "currency": "USD"}
                hits.append(Hit(custom, v.user_agent, v.ip))
        return hits

    def run(self, base_url: str, stop: threading.Event, *, tick: float = 0.5) -> int:
        """Send visits to ``base_url`` until ``stop`` is set; returns the requests accepted.
        Waits for the server's ``/health`` first; failures are logged and skipped."""
        if not wait_for_server(base_url, stop):
            return 0
        sent = 0
        while not stop.is_set():
            for hit in self.due(time.monotonic()):
                sent += _send(base_url, hit)
            stop.wait(tick)
        return sent


def wait_for_server(base_url: str, stop: threading.Event, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base_url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        stop.wait(0.5)
    return False


def _send(base_url: str, hit: Hit) -> int:
    request = urllib.request.Request(
        f"{base_url}/api/event",
        data=json.dumps(hit.body).encode(),
        headers={"Content-Type": "text/plain", "User-Agent": hit.user_agent,
                 "X-Forwarded-For": hit.ip},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return 1 if resp.status < 300 else 0
    except (urllib.error.URLError, OSError) as exc:
        log.warning("live demo: %s", exc)
        return 0


def start(base_url: str, *, visits_per_second: float = 0.5) -> threading.Event:
    """Run a trickle on a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    trickle = Trickle(list(cat.SITES), visits_per_second)
    threading.Thread(target=trickle.run, args=(base_url, stop), name="demo-live",
                     daemon=True).start()
    return stop
