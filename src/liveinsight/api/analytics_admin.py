"""Behaviour analytics for instance administrators: ``/admin/analytics/...`` (any site,
named by ``site_id``), as the per-site ``/api/v2/...`` analyses answer them.

Every route needs the instance administrator (``instance_admin``: a logged-in admin or an
API key with the ``admin`` scope for every site), checked before anything else.

``GET /admin/analytics/kpi/stream`` keeps the KPI board fresh: Server-Sent Events fed by the
live feed of the board's sites (the one ``/api/realtime/stream`` reads), a new board once
events arrived and the writer stored them, at most every :data:`KPI_REFRESH_S` seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from liveinsight.api.access import instance_admin, resolve_site
from liveinsight.api.behaviour import answer
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.api.realtime import HEARTBEAT_S, sse
from liveinsight.behaviour import kpi
from liveinsight.errors import Invalid
from liveinsight.meta import kpi_targets
from liveinsight.meta.repo import SiteInfo
from liveinsight.services import Services

router = APIRouter(tags=["admin"], dependencies=[Depends(instance_admin)])
_ERRORS = error_responses(400, 401, 403, 503)
_Period = Query("30d", description="day, 7d, 28d, 30d, 91d, month, 6mo, 12mo, year, all, custom")
_Filters = Query(None, description="`dim==a|b;dim!=c` as for /api/stats/*")
_Sites = Query(None, description="Comma-separated domains or ids (default: every site, at "
               "most 50)")
_KpiPeriod = Query("30d", description="day, 7d, 28d, 30d, 91d, month, 6mo, 12mo, year")
KPI_REFRESH_S = 10.0  # at most one new board per stream this often


@router.get("/admin/analytics/journey", summary="Journeys of any site (next/previous pages, "
            "paths from entry, Sankey flows)", responses=_ERRORS)
async def journey(request: Request,
                  site_id: str = Query(description="The site's domain, id or UUID"),
                  kind: str = Query("next", description="next, previous, paths or sankey"),
                  page: str | None = Query(None, description="next/previous: the page"),
                  steps: str = "3", limit: str = "10", k: str = "5",
                  period: str = _Period, date: str | None = None,
                  filters: str | None = _Filters) -> Response:
    """As ``POST /api/v2/journeys``, with GET parameters."""
    svc = services(request)
    site = resolve_site(svc, site_id)
    given = {"kind": kind, "page": page, "steps": steps, "limit": limit, "k": k,
             "period": period, "date": date, "filters": filters}
    params = {key: value for key, value in given.items() if value is not None}
    return answer(request, await run_in_threadpool(svc.behaviour.journey_params, site, params))


@router.get("/admin/analytics/users", summary="User analysis of a site: new vs returning, "
            "visits per visitor, engagement, activity heatmap, event sequences",
            responses=_ERRORS)
async def users(request: Request,
                site_id: str = Query(description="The site's domain, id or UUID"),
                period: str = _Period, date: str | None = None,
                filters: str | None = _Filters) -> Response:
    """``returning`` means more than one visit under the same cookieless id (which lasts as
    long as the site's salt rotation); see ``notes``."""
    svc = services(request)
    site = resolve_site(svc, site_id)
    given = {"period": period, "date": date, "filters": filters}
    params = {key: value for key, value in given.items() if value is not None}
    return answer(request, await run_in_threadpool(svc.behaviour.users_params, site, params))


@router.get("/admin/analytics/kpi", summary="The KPI board: per site and across sites",
            responses=_ERRORS)
async def kpi_board(request: Request, site_id: str | None = _Sites,
                    period: str = _KpiPeriod,
                    date: str | None = Query(None, description="The period's anchor "
                                             "(default: each site's today)")) -> Response:
    """Visitors, visits, pageviews, bounce rate, visit duration, each goal's conversion
    rate (``goal:<name>``) and revenue per currency, with growth against the period
    before, a daily sparkline of the counts, and the status against the targets set with
    ``PUT /admin/analytics/kpi/targets``."""
    svc = services(request)
    sites = _sites(svc, site_id)
    given = {"period": period} if date is None else {"period": period, "date": date}
    period, anchor = kpi.parse_request(given)
    targets = await run_in_threadpool(svc.kpi_targets.all)
    board = await run_in_threadpool(svc.behaviour.kpi, sites, period, anchor, targets)
    return answer(request, orjson.dumps(board))


@router.get("/admin/analytics/kpi/stream", summary="Server-Sent Events: the KPI board again "
            "as new events arrive (at most every 10 s)", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description":
                             "`event: kpi` messages: the `/admin/analytics/kpi` document"},
                       **_ERRORS})
async def kpi_stream(request: Request, site_id: str | None = _Sites,
                     period: str = _KpiPeriod) -> StreamingResponse:
    """The board of ``GET /admin/analytics/kpi`` (each site's today as the anchor) as an
    ``event: kpi`` message whenever events of its sites arrived and were stored, at most
    every 10 seconds; comments keep the connection alive every 15 s."""
    svc = services(request)
    sites = _sites(svc, site_id)
    kpi.parse_request({"period": period})
    return StreamingResponse(_kpi_messages(svc, sites, period), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


async def _kpi_messages(svc: Services, sites: list[SiteInfo], period: str
                        ) -> AsyncIterator[bytes]:
    """Waits for any of ``sites``' live feeds; then for the writer to store what came (as
    the realtime stream does: ``svc.ingested`` moves, or a second past the flush interval),
    and for :data:`KPI_REFRESH_S` since the last board; then the board. Events arriving
    meanwhile make the next board."""
    loop = asyncio.get_running_loop()
    stored_within = svc.settings.writer_flush_ms / 1000 + 1.0
    arrived = asyncio.Event()
    queues = [(site.id, svc.feed.subscribe(site.id)) for site in sites]

    async def pump(queue: asyncio.Queue[list[dict[str, Any]]]) -> None:
        while True:
            await queue.get()
            arrived.set()

    pumps = [asyncio.create_task(pump(queue)) for _, queue in queues]
    last_board = -KPI_REFRESH_S
    try:
        yield b": kpi board updates follow\n\n"
        while True:
            try:
                await asyncio.wait_for(arrived.wait(), HEARTBEAT_S)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            arrived.clear()
            seen, give_up = svc.ingested.count, loop.time() + stored_within
            while svc.ingested.count == seen and loop.time() < give_up:
                await asyncio.sleep(0.05)
            await asyncio.sleep(max(0.0, last_board + KPI_REFRESH_S - loop.time()))
            targets = await run_in_threadpool(svc.kpi_targets.all)
            board = await run_in_threadpool(svc.behaviour.kpi, sites, period, None, targets)
            last_board = loop.time()
            yield sse("kpi", board)
    finally:
        for task in pumps:
            task.cancel()
        for site_id, queue in queues:
            svc.feed.unsubscribe(site_id, queue)


def _sites(svc: Services, raw: str | None) -> list[SiteInfo]:
    if raw is None or not raw.strip():
        sites = sorted(svc.sites.all(), key=lambda s: s.domain)
    else:
        names = [n.strip() for n in raw.split(",") if n.strip()]
        if len(names) > kpi.MAX_SITES:
            raise Invalid(f"at most {kpi.MAX_SITES} sites", field="site_id")
        sites = [resolve_site(svc, n) for n in dict.fromkeys(names)]
    if len(sites) > kpi.MAX_SITES:
        raise Invalid(f"{len(sites)} sites: name at most {kpi.MAX_SITES} with site_id",
                      field="site_id")
    return sites


@router.put("/admin/analytics/kpi/targets", summary="Set or remove a KPI target",
            status_code=204, responses=error_responses(400, 401, 403, 409))
async def set_target(request: Request, body: dict[str, Any] = Body(  # noqa: B008
        description="{site_id (null: across sites), metric, target (null removes)}",
        examples=[{"site_id": "example.com", "metric": "visitors", "target": 5000}])
        ) -> Response:
    svc = services(request)
    raw_site = body.get("site_id")
    site = None if raw_site is None else resolve_site(svc, raw_site)
    metric, target = kpi_targets.check(body.get("metric"), body.get("target"))
    await run_in_threadpool(svc.kpi_targets.set, site.id if site else None, metric, target)
    return Response(status_code=204)


@router.get("/admin/analytics/kpi/targets", summary="Every KPI target",
            responses=error_responses(401, 403))
async def list_targets(request: Request) -> list[dict[str, Any]]:
    svc = services(request)
    targets = await run_in_threadpool(svc.kpi_targets.all)
    domains = {s.id: s.domain for s in svc.sites.all()}
    return [{"site_id": domains.get(site_id) if site_id is not None else None,
             "metric": metric, "target": value}
            for site_id, kpis in targets.items() for metric, value in sorted(kpis.items())]
