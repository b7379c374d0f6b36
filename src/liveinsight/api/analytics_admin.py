"""Behaviour analytics for instance administrators: ``/admin/analytics/...`` (any site,
named by ``site_id``), as the per-site ``/api/v2/...`` analyses answer them.

Every route needs the instance administrator (``instance_admin``: a logged-in admin or an
API key with the ``admin`` scope for every site), checked before anything else.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from liveinsight.api.access import instance_admin, resolve_site
from liveinsight.api.behaviour import answer
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.behaviour import kpi
from liveinsight.errors import Invalid
from liveinsight.meta import kpi_targets
from liveinsight.meta.repo import SiteInfo
from liveinsight.services import Services

router = APIRouter(tags=["admin"], dependencies=[Depends(instance_admin)])
_ERRORS = error_responses(400, 401, 403, 503)
_Period = Query("30d", description="day, 7d, 28d, 30d, 91d, month, 6mo, 12mo, year, all, custom")
_Filters = Query(None, description="`dim==a|b;dim!=c` as for /api/stats/*")


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
async def kpi_board(request: Request,
                    site_id: str | None = Query(None, description="Comma-separated domains "
                                                "or ids (default: every site, at most 50)"),
                    period: str = Query("30d", description="day, 7d, 28d, 30d, 91d, month, "
                                        "6mo, 12mo, year"),
                    date: str | None = Query(None, description="The period's anchor "
                                             "(default: each site's today)")) -> Response:
    """Visitors, visits, pageviews, bounce rate, visit duration, each goal's conversion
    rate (``goal:<name>``) and revenue per currency, with growth against the period
    before, a daily sparkline of the counts, and the status against the targets set with
    ``PUT /admin/analytics/kpi/targets``."""
    svc = services(request)
    sites = _sites(svc, site_id)
    if period not in kpi.PERIODS:
        raise Invalid(f"period is one of {', '.join(kpi.PERIODS)}", field="period")
    anchor = None
    if date is not None:
        try:
            anchor = dt.date.fromisoformat(date[:20])
        except ValueError:
            raise Invalid("date is YYYY-MM-DD", field="date") from None
    targets = await run_in_threadpool(svc.kpi_targets.all)
    board = await run_in_threadpool(svc.behaviour.kpi, sites, period, anchor, targets)
    return answer(request, orjson.dumps(board))


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
