"""Stats read API: Plausible-compatible ``POST /api/v2/query`` and the simple
``GET /api/stats/{aggregate,timeseries,breakdown}``.

Each handler: resolve the site, check access, parse (400 naming the bad field), run one query
through the runner (in a worker thread), shape the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from liveinsight.api.access import stats_access
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.meta.repo import SiteInfo
from liveinsight.query import model, parser, response
from liveinsight.query.runner import Result
from liveinsight.services import Services

router = APIRouter(tags=["stats"])


def site_today(svc: Services, site: SiteInfo) -> date:
    return svc.clock().astimezone(ZoneInfo(site.timezone)).date()


def site_goals(svc: Services, site_id: int) -> tuple[model.Goal, ...]:
    return tuple(
        model.Goal(g.display_name, event_name=g.event_name, page_path=g.page_path)
        for g in svc.sites.goals(site_id)
    )


async def _site_and_goals(request: Request, raw_site: object
                          ) -> tuple[Services, SiteInfo, tuple[model.Goal, ...]]:
    svc = services(request)
    site = (await stats_access(request, raw_site)).site
    goals = site_goals(svc, site.id)
    return svc, site, goals


async def _run(svc: Services, q: model.Query, kind: str) -> Result:
    return await run_in_threadpool(svc.runner.run, q, kind)


# --- v2 ------------------------------------------------------------------------------------


class V2Query(BaseModel):
    """A Plausible Stats API v2 query."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "site_id": "example.com", "metrics": ["visitors", "bounce_rate"],
        "date_range": "7d", "dimensions": ["visit:source"],
        "filters": [["is", "visit:country", ["DE", "FR"]]],
        "include": {"comparisons": {"mode": "previous_period"}},
        "pagination": {"limit": 10},
    }]})

    site_id: str | int = Field(description="The site's domain (or numeric id).")
    metrics: list[str] = Field(description=f"Any of {', '.join(model.METRICS)}.")
    date_range: str | list[str] = Field(
        description="day, 7d, 28d, 30d, 91d, month, 6mo, 12mo, year, all, or "
                    "[first, last] dates (YYYY-MM-DD) or ISO 8601 datetimes.")
    date: str | None = Field(None, description="Anchor for relative ranges (default today).")
    dimensions: list[str] = []
    filters: list[Any] = Field(
        [], description="[op, dimension, [values], {case_sensitive}?] with op in is, is_not, "
                        "contains, contains_not, matches, matches_not; or [and|or, [...]], "
                        "[not, filter].")
    order_by: list[list[str]] = []
    include: dict[str, Any] = Field(
        {}, description="comparisons {mode: previous_period|year_over_year}, time_labels, "
                        "total_rows, imports.")
    pagination: dict[str, int] = Field({}, description="limit (≤ 10000), offset.")


class V2Comparison(BaseModel):
    dimensions: list[Any]
    metrics: list[Any]
    change: list[Any]


class V2Row(BaseModel):
    metrics: list[Any]
    dimensions: list[Any]
    comparison: V2Comparison | None = None


class V2Response(BaseModel):
    results: list[V2Row]
    meta: dict[str, Any]
    query: dict[str, Any]


_READ_ERRORS = error_responses(400, 401, 403, 408, 413, 503)


@router.post("/api/v2/query", summary="Plausible-compatible stats query",
             response_model=V2Response, response_model_exclude_none=True,
             responses=_READ_ERRORS)
async def v2_query(request: Request, body: V2Query = Body()) -> dict[str, Any]:  # noqa: B008
    """Answers a Plausible Stats API v2 query. Auth: ``Authorization: Bearer <API key>`` with
    the ``stats`` scope. Errors are 400 with ``error.field`` naming the bad part."""
    raw = body.model_dump(exclude_unset=True)
    svc, site, goals = await _site_and_goals(request, raw.pop("site_id", None))
    q = parser.parse_v2(raw, site_id=site.id, timezone=site.timezone, goals=goals,
                        today=site_today(svc, site))
    result = await _run(svc, q, "v2")
    return response.v2(result, {"site_id": site.domain, **raw})


# --- simple GET endpoints --------------------------------------------------------------------

_Period = Query("30d", description="day, 7d, 28d, 30d, 91d, month, 6mo, 12mo, year, all, custom")
_Date = Query(None, description="Anchor date, or `first,last` with period=custom")
_Filters = Query(None, description="`dim==a|b;dim!=c;dim~contains` (`*` wildcards) or a v2 "
                                   "JSON filter list")


async def _simple(request: Request, kind: Literal["aggregate", "timeseries", "breakdown"],
                  params: Mapping[str, str | None]) -> Result:
    svc, site, goals = await _site_and_goals(request, params.get("site_id"))
    given = {k: v for k, v in params.items() if v is not None and k != "site_id"}
    q = parser.parse_simple(given, kind, site_id=site.id, timezone=site.timezone, goals=goals,
                            today=site_today(svc, site))
    return await _run(svc, q, kind)


class MetricValue(BaseModel):
    value: Any
    comparison_value: Any = None
    change: Any = None


class AggregateResponse(BaseModel):
    results: dict[str, MetricValue]
    comparison_date_range: list[str] | None = None


@router.get("/api/stats/aggregate", summary="Totals over a period, with an optional comparison",
            response_model=AggregateResponse, response_model_exclude_none=True,
            responses=_READ_ERRORS)
async def aggregate(request: Request, site_id: str | None = None, period: str = _Period,
                    date: str | None = _Date, metrics: str = "visitors",
                    filters: str | None = _Filters, compare: str | None = None
                    ) -> dict[str, Any]:
    result = await _simple(request, "aggregate", {
        "site_id": site_id, "period": period, "date": date, "metrics": metrics,
        "filters": filters, "compare": compare})
    return response.aggregate(result)


@router.get("/api/stats/timeseries", summary="Metrics per time bucket in the site's time zone",
            responses=_READ_ERRORS)
async def timeseries(request: Request, site_id: str | None = None, period: str = _Period,
                     date: str | None = _Date, metrics: str = "visitors",
                     interval: str | None = Query(None, description="minute, hour, day, week, "
                                                  "month (default by period)"),
                     filters: str | None = _Filters, compare: str | None = None
                     ) -> dict[str, Any]:
    result = await _simple(request, "timeseries", {
        "site_id": site_id, "period": period, "date": date, "metrics": metrics,
        "interval": interval, "filters": filters, "compare": compare})
    return response.timeseries(result)


@router.get("/api/stats/breakdown", summary="Metrics grouped by one property",
            responses=_READ_ERRORS)
async def breakdown(request: Request, site_id: str | None = None, period: str = _Period,
                    date: str | None = _Date, metrics: str = "visitors,pageviews",
                    property: str | None = Query(None, description="A dimension, e.g. "
                                                 "event:page, visit:source, event:props:plan"),
                    filters: str | None = _Filters, limit: str = "100", page: str = "1",
                    compare: str | None = None) -> dict[str, Any]:
    result = await _simple(request, "breakdown", {
        "site_id": site_id, "period": period, "date": date, "metrics": metrics,
        "property": property, "filters": filters, "limit": limit, "page": page,
        "compare": compare})
    return response.breakdown(result)

