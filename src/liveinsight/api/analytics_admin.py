"""Behaviour analytics for instance administrators: ``/admin/analytics/...`` (any site,
named by ``site_id``), as the per-site ``/api/v2/...`` analyses answer them.

Every route needs the instance administrator (``instance_admin``: a logged-in admin or an
API key with the ``admin`` scope for every site), checked before anything else.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from liveinsight.api.access import instance_admin, resolve_site
from liveinsight.api.behaviour import answer
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses

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
