"""Realtime numbers: the snapshot ``GET /api/realtime`` answers and the stream re-sends, and
snapshots shared by the stream's subscribers of one site.

Pure query building plus the runner: the HTTP layer (``api/realtime.py``) parses, calls
:func:`snapshot` or :meth:`SharedSnapshots.get` off the event loop, and responds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from liveinsight.meta.repo import SiteInfo
from liveinsight.query import model
from liveinsight.query.runner import QueryRunner
from liveinsight.query.timeline import time_labels


def _query(site: SiteInfo, metrics: list[str], start: datetime, end: datetime,
           dimensions: tuple[str, ...] = (), limit: int = 10) -> model.Query:
    return model.Query(
        site_id=site.id, timezone=site.timezone, metrics=tuple(metrics),
        date_range=model.instant_range(start, end, site.timezone), dimensions=dimensions,
        limit=limit, interval="minute",
    )


def snapshot(runner: QueryRunner, site: SiteInfo, now: datetime, window: int) -> dict[str, Any]:
    """Current visitors (distinct, last 5 minutes), pageviews per minute (last 30 minutes,
    oldest first, zeros included), top pages and sources over the last ``window`` minutes."""
    end = now + timedelta(seconds=1)
    visitors = runner.run(_query(site, ["visitors"], now - timedelta(minutes=5), end),
                          "realtime")
    this_minute = now.replace(second=0, microsecond=0)
    series_q = _query(site, ["pageviews"], this_minute - timedelta(minutes=29),
                      this_minute + timedelta(minutes=1), ("time:minute",), 100)
    series = {r.dimensions[0]: r.metrics[0] for r in runner.run(series_q, "realtime").rows}
    since = now - timedelta(minutes=window)
    pages = runner.run(_query(site, ["visitors"], since, end, ("event:page",)), "realtime")
    sources = runner.run(_query(site, ["visitors"], since, end, ("visit:source",)), "realtime")
    return {
        "site_id": site.domain,
        "generated_at": now.isoformat(),
        "visitors": visitors.rows[0].metrics[0] if visitors.rows else 0,
        "pageviews_per_minute": [{"time": t, "pageviews": series.get(t, 0)}
                                 for t in time_labels(series_q)],
        "window_minutes": window,
        "top_pages": [{"page": r.dimensions[0], "visitors": r.metrics[0]} for r in pages.rows],
        "top_sources": [{"source": r.dimensions[0], "visitors": r.metrics[0]}
                        for r in sources.rows],
    }


class SharedSnapshots:
    """Stream subscribers of one site share snapshots: one taken at or after the moment a
    caller needs is reused, and concurrent callers wait for the one being taken, so many
    open dashboards on a busy site cost one set of queries, not one per viewer."""

    def __init__(self, runner: QueryRunner, clock: Callable[[], datetime]) -> None:
        self._runner = runner
        self._clock = clock
        self._guard = threading.Lock()
        self._locks: dict[tuple[int, int], threading.Lock] = {}
        self._docs: dict[tuple[int, int], tuple[float, dict[str, Any]]] = {}

    def get(self, site: SiteInfo, window: int, not_before: float) -> dict[str, Any]:
        """A snapshot taken at ``time.monotonic() >= not_before``. Blocking."""
        key = (site.id, window)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            taken = self._docs.get(key)
            if taken is not None and taken[0] >= not_before:
                return taken[1]
            began = time.monotonic()
            doc = snapshot(self._runner, site, self._clock(), window)
            self._docs[key] = (began, doc)
            return doc
