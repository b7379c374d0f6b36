"""Realtime: ``GET /api/realtime`` (a snapshot) and ``GET /api/realtime/stream`` (Server-Sent
Events pushing the snapshot and a live event feed as events arrive, no polling).

The stream is fed by the ingestor (``svc.feed``, wired in ``services.py``), so an accepted
event reaches subscribers at once (``events`` messages); the numbers (``realtime``
messages, ``query/realtime.py``) are re-read once the writer has moved the event into
ClickHouse (``writer_flush_ms`` later) and every 15 s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from liveinsight.api.access import stats_access
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.errors import bad_request
from liveinsight.meta.repo import SiteInfo
from liveinsight.services import Services

router = APIRouter(tags=["realtime"])
HEARTBEAT_S = 15.0


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
    site = (await stats_access(request, site_id, shared=True)).site
    if window not in (5, 30):
        raise bad_request("window must be 5 or 30", "window")
    return svc, site


@router.get("/api/realtime", summary="Visitors now, pageviews per minute, top pages and sources",
            response_model=Realtime, responses=error_responses(400, 401, 403, 503))
async def realtime(request: Request, site_id: str | None = None, window: int = _Window
                   ) -> Response:
    """Shared by every viewer of the site asking within the same second (cached until
    the writer moves new data of the site into the store)."""
    svc, site = await _access(request, site_id, window)
    body = await run_in_threadpool(svc.stats.realtime, site, window)
    return Response(body, media_type="application/json",
                    headers={"cache-control": "private, no-cache"})


@router.get("/api/realtime/stream", summary="Server-Sent Events: realtime numbers and live events",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description":
                             "`event: realtime` (the /api/realtime document) and `event: "
                             "events` (a list of new events) messages"},
                       **error_responses(400, 401, 403, 503)})
async def stream(request: Request, site_id: str | None = None, window: int = _Window
                 ) -> StreamingResponse:
    svc, site = await _access(request, site_id, window)
    queue = svc.feed.subscribe(site.id)
    return StreamingResponse(_messages(svc, site, window, queue),
                             media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


async def _messages(svc: Services, site: SiteInfo, window: int,
                    queue: asyncio.Queue[list[dict[str, Any]]]) -> AsyncIterator[bytes]:
    """The snapshot, then each batch of new events as it is appended, and the numbers again
    once the writer has moved a log segment into the store after those events arrived
    (``svc.ingested``; at most a second past the time that normally takes), and every
    ``HEARTBEAT_S``."""
    loop = asyncio.get_running_loop()
    visible_after = svc.settings.writer_flush_ms / 1000 + 0.1

    async def numbers(max_age: float = 0.0) -> bytes:
        not_before = time.monotonic() - max_age
        doc = await run_in_threadpool(svc.snapshots.get, site, window, not_before)
        return sse("realtime", doc)

    try:
        yield await numbers(max_age=1.0)
        refresh_at: float | None = None
        give_up_at = 0.0
        seen = svc.ingested.count
        next_beat = loop.time() + HEARTBEAT_S
        while True:
            wake = min(refresh_at or next_beat, next_beat)
            try:
                items = await asyncio.wait_for(queue.get(), max(0.0, wake - loop.time()))
                yield sse("events", items)
                if refresh_at is None:
                    refresh_at = loop.time() + visible_after
                    give_up_at = refresh_at + 1.0
                    seen = svc.ingested.count
                continue
            except TimeoutError:
                pass
            now = loop.time()
            if refresh_at is not None and now >= refresh_at:
                # Until the writer has moved a segment into the store since the events came,
                # look again shortly (and stop waiting soon: the store may be down).
                if svc.ingested.count == seen and now < give_up_at:
                    refresh_at = now + 0.05
                else:
                    refresh_at = None
                    yield await numbers()
            if loop.time() >= next_beat:
                next_beat = loop.time() + HEARTBEAT_S
                yield await numbers(max_age=1.0)
    finally:
        svc.feed.unsubscribe(site.id, queue)


def sse(event: str, data: Any) -> bytes:
    """One Server-Sent Events message: ``event`` with ``data`` as JSON."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
