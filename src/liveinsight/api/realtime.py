"""Realtime: ``GET /api/realtime`` (a snapshot) and ``GET /api/realtime/stream`` (Server-Sent
Events pushing the snapshot and a live event feed as events arrive, no polling).

The stream is fed by the ingestor: at start, a :class:`LiveFeed` is hooked to its
``subscribe`` hook, so an accepted event reaches subscribers at once (``events``
messages); the numbers (``realtime`` messages) are re-read once the writer has moved the
event into ClickHouse (``writer_flush_ms`` later) and every 15 s.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from liveinsight.api import routers
from liveinsight.api.errors import error_responses
from liveinsight.api.stats import runner_of
from liveinsight.app import Services, services
from liveinsight.errors import bad_request
from liveinsight.meta.repo import SiteInfo
from liveinsight.query import model
from liveinsight.query.live import LiveFeed
from liveinsight.query.runner import QueryRunner
from liveinsight.query.timeline import time_labels
from liveinsight.security.access import stats_access

router = APIRouter(tags=["realtime"])
_FEED = "live_feed"
_SHARED = "realtime_snapshots"
HEARTBEAT_S = 15.0


async def _open(svc: Services) -> None:
    feed = LiveFeed(asyncio.get_running_loop())
    svc.extras[_FEED] = feed
    svc.extras[_SHARED] = SharedSnapshots()
    svc.ingestor.subscribe(feed.publish)


routers.STARTUP.append(_open)


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

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[int, int], threading.Lock] = {}
        self._docs: dict[tuple[int, int], tuple[float, dict[str, Any]]] = {}

    def get(self, svc: Services, site: SiteInfo, window: int, not_before: float
            ) -> dict[str, Any]:
        """A snapshot taken at ``time.monotonic() >= not_before``. Blocking."""
        key = (site.id, window)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            taken = self._docs.get(key)
            if taken is not None and taken[0] >= not_before:
                return taken[1]
            began = time.monotonic()
            doc = snapshot(runner_of(svc), site, svc.clock(), window)
            self._docs[key] = (began, doc)
            return doc


class MinuteCount(BaseModel):
    time: str
    pageviews: int


class PageCount(BaseModel):
    page: str
    visitors: int


class SourceCount(BaseModel):
    source: str
    visitors: int


class Realtime(BaseModel):
    site_id: str
    generated_at: str
    visitors: int
    pageviews_per_minute: list[MinuteCount]
    window_minutes: int
    top_pages: list[PageCount]
    top_sources: list[SourceCount]


_Window = Query(5, description="Minutes the top pages and sources cover: 5 or 30.")


async def _access(request: Request, site_id: str | None, window: int
                  ) -> tuple[Services, SiteInfo]:
    svc = services(request)
    site = (await stats_access(request, site_id)).site
    if window not in (5, 30):
        raise bad_request("window must be 5 or 30", "window")
    return svc, site


@router.get("/api/realtime", summary="Visitors now, pageviews per minute, top pages and sources",
            response_model=Realtime, responses=error_responses(400, 401, 403, 503))
async def realtime(request: Request, site_id: str | None = None, window: int = _Window
                   ) -> dict[str, Any]:
    svc, site = await _access(request, site_id, window)
    return await run_in_threadpool(snapshot, runner_of(svc), site, svc.clock(), window)


@router.get("/api/realtime/stream", summary="Server-Sent Events: realtime numbers and live events",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description":
                             "`event: realtime` (the /api/realtime document) and `event: "
                             "events` (a list of new events) messages"},
                       **error_responses(400, 401, 403, 503)})
async def stream(request: Request, site_id: str | None = None, window: int = _Window
                 ) -> StreamingResponse:
    svc, site = await _access(request, site_id, window)
    feed: LiveFeed = svc.extras[_FEED]
    queue = feed.subscribe(site.id)
    return StreamingResponse(_messages(svc, site, window, feed, queue),
                             media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


async def _messages(svc: Services, site: SiteInfo, window: int, feed: LiveFeed,
                    queue: asyncio.Queue[list[dict[str, Any]]]) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    visible_after = svc.settings.writer_flush_ms / 1000 + 0.1

    shared: SharedSnapshots = svc.extras[_SHARED]

    async def numbers(max_age: float = 0.0) -> bytes:
        not_before = time.monotonic() - max_age
        doc = await run_in_threadpool(shared.get, svc, site, window, not_before)
        return _sse("realtime", doc)

    try:
        yield await numbers(max_age=1.0)
        refresh_at: float | None = None
        give_up_at = 0.0
        next_beat = loop.time() + HEARTBEAT_S
        while True:
            wake = min(refresh_at or next_beat, next_beat)
            try:
                items = await asyncio.wait_for(queue.get(), max(0.0, wake - loop.time()))
                yield _sse("events", items)
                if refresh_at is None:
                    refresh_at = loop.time() + visible_after
                    give_up_at = refresh_at + 1.0
                continue
            except TimeoutError:
                pass
            now = loop.time()
            if refresh_at is not None and now >= refresh_at:
                # While the writer has not taken the rows into the store yet, look again
                # shortly (under steady traffic the log is never empty: stop waiting soon).
                if (svc.wal.pending_rows or svc.wal.closed_segments()) and now < give_up_at:
                    refresh_at = now + 0.05
                else:
                    refresh_at = None
                    yield await numbers()
            if loop.time() >= next_beat:
                next_beat = loop.time() + HEARTBEAT_S
                yield await numbers(max_age=1.0)
    finally:
        feed.unsubscribe(site.id, queue)


def _sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
