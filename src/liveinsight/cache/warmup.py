"""Warm-up: the answers people look at are recomputed before they ask again.

:class:`Popularity` counts, per site, the stats requests the dashboard and API clients make
(a score that halves every ``half_life`` seconds, at most ``per_site`` requests kept per
site, the least popular forgotten first), and is kept in a JSON file across restarts.
:class:`Warmer` replays a site's most popular requests through the cache:

- after each ingested segment of the site (the answers over ranges including "now" just got
  new keys), at most once every ``min_interval`` seconds per site, and only requests asked
  within the last ``active`` seconds (dashboards being looked at: no one watching, no work);
- after start, for every site in the file (the cache is empty then);
- on demand (``POST /admin/cache/warmup``): given sites, optionally with other periods.

Replays run on the warmer's own thread, one at a time, through the same code as a request
(so they fill L1 and L2 alike) and are not counted as views.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("liveinsight.cache")


@dataclass(frozen=True, slots=True)
class Asked:
    """A stats request as its endpoint kind (``v2``, ``aggregate``, ``timeseries``,
    ``breakdown``) and its parameters (the v2 body, or the query string's)."""

    kind: str
    params: tuple[tuple[str, str], ...] | str  # query parameters, or the v2 body as JSON

    @classmethod
    def of(cls, kind: str, params: dict[str, object]) -> Asked:
        if kind == "v2":
            return cls(kind, json.dumps(params, sort_keys=True, separators=(",", ":")))
        return cls(kind, tuple(sorted((k, str(v)) for k, v in params.items())))

    def with_period(self, period: str) -> Asked:
        """The same request over another period (relative periods: ``7d``, ``30d``...)."""
        if isinstance(self.params, str):
            body = json.loads(self.params)
            body["date_range"] = period
            body.pop("date", None)
            return Asked.of(self.kind, body)
        args = {k: v for k, v in self.params if k != "date"}
        args["period"] = period
        return Asked.of(self.kind, dict(args))

    def arguments(self) -> dict[str, object]:
        return json.loads(self.params) if isinstance(self.params, str) else dict(self.params)


class Popularity:
    """Thread-safe counts of the requests each site's viewers make."""

    def __init__(self, *, per_site: int = 100, half_life: float = 3600.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.per_site = per_site
        self.half_life = half_life
        self._clock = clock
        self._lock = threading.Lock()
        self._sites: dict[int, dict[Asked, tuple[float, float]]] = {}  # → (score, last seen)

    def seen(self, site_id: int, asked: Asked) -> None:
        now = self._clock()
        with self._lock:
            counts = self._sites.setdefault(site_id, {})
            score, last = counts.get(asked, (0.0, now))
            counts[asked] = (self._decayed(score, last, now) + 1.0, now)
            if len(counts) > self.per_site:
                del counts[min(counts, key=lambda a: self._decayed(*counts[a], now))]

    def top(self, site_id: int, n: int, *, active: float | None = None) -> list[Asked]:
        """The ``n`` most popular requests of the site (asked within ``active`` seconds)."""
        now = self._clock()
        with self._lock:
            counts = dict(self._sites.get(site_id, {}))
        kept = [(self._decayed(s, last, now), a) for a, (s, last) in counts.items()
                if active is None or now - last <= active]
        kept.sort(key=lambda item: -item[0])
        return [a for _, a in kept[:n]]

    def sites(self) -> list[int]:
        with self._lock:
            return sorted(self._sites)

    def _decayed(self, score: float, last: float, now: float) -> float:
        return score * math.pow(0.5, max(0.0, now - last) / self.half_life)

    # --- kept across restarts -------------------------------------------------------------

    def dump(self, path: Path) -> None:
        with self._lock:
            doc = {str(site): [[a.kind, a.params, s, last] for a, (s, last) in counts.items()]
                   for site, counts in self._sites.items()}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        tmp.replace(path)

    def load(self, path: Path) -> None:
        """Read a file :meth:`dump` wrote; a missing or unreadable one is ignored."""
        try:
            doc = json.loads(path.read_text())
            with self._lock:
                for site, items in doc.items():
                    counts = self._sites.setdefault(int(site), {})
                    for kind, params, score, last in items[: self.per_site]:
                        key = params if isinstance(params, str) else tuple(
                            (str(k), str(v)) for k, v in params)
                        counts[Asked(str(kind), key)] = (float(score), float(last))
        except FileNotFoundError:
            return
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("cache: ignoring an unreadable popularity file %s: %s", path, exc)


Replay = Callable[[int, Asked], None]


@dataclass(slots=True)
class WarmReport:
    requests: int = 0
    failed: int = 0
    sites: int = 0


class Warmer:
    def __init__(self, popularity: Popularity, replay: Replay, *, top: int = 10,
                 min_interval: float = 10.0, active: float = 1800.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``replay(site_id, asked)`` runs one request through the cache (raising what a
        request would raise)."""
        self.popularity = popularity
        self._replay = replay
        self.top = top
        self.min_interval = min_interval
        self.active = active
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[int, bool] = {}  # site → warm every tracked request (start)
        self._last: dict[int, float] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.replayed = 0
        self.failed = 0

    def start(self) -> None:
        with self._lock:
            for site in self.popularity.sites():
                self._pending[site] = True
        self._thread = threading.Thread(target=self._run, name="cache-warmer", daemon=True)
        self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def notify(self, site_ids: Iterable[int] | None) -> None:
        """New data for these sites (None: for any site) was ingested. Returns at once."""
        with self._lock:
            for site in self.popularity.sites() if site_ids is None else site_ids:
                self._pending.setdefault(site, False)
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            self.run_due()

    def run_due(self) -> int:
        """Warm the sites whose turn has come; how many requests were replayed."""
        now = self._clock()
        with self._lock:
            due = [(site, every) for site, every in self._pending.items()
                   if every or now - self._last.get(site, -math.inf) >= self.min_interval]
            for site, _ in due:
                del self._pending[site]
                self._last[site] = now
        done = 0
        for site, every in due:
            if self._stop.is_set():
                break
            asked = self.popularity.top(site, self.top, active=None if every else self.active)
            done += self._replay_all(site, asked).requests
        return done

    def warm(self, site_ids: Iterable[int], periods: list[str] | None = None,
             fallback: Callable[[int], list[Asked]] | None = None) -> WarmReport:
        """Replay each site's most popular requests now (over each of ``periods`` when
        given); a site with none tracked uses ``fallback(site)``. Blocking."""
        report = WarmReport()
        for site in site_ids:
            asked = self.popularity.top(site, self.top) or (fallback(site) if fallback else [])
            if periods:
                asked = list(dict.fromkeys(a.with_period(p) for a in asked for p in periods))
            one = self._replay_all(site, asked)
            report.requests += one.requests
            report.failed += one.failed
            report.sites += 1
        return report

    def _replay_all(self, site: int, asked: list[Asked]) -> WarmReport:
        report = WarmReport(sites=1)
        for one in asked:
            try:
                self._replay(site, one)
                report.requests += 1
            except Exception as exc:  # a request that fails when asked fails here too
                report.failed += 1
                log.debug("cache: warming %s for site %d failed: %s", one.kind, site, exc)
        with self._lock:
            self.replayed += report.requests
            self.failed += report.failed
        return report

    def save(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            self.popularity.dump(path)
