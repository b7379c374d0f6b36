"""Stats read API: Plausible-compatible ``POST /api/v2/query`` and the simple
``GET /api/stats/{aggregate,timeseries,breakdown}``.

Each handler: check access to the site, then one call to the stats service
(``query/service.py``: parse, run, shape) off the event loop, and the answer serialised once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from liveinsight.api.access import Access, stats_access
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.query import model
from liveinsight.query.service import SimpleKind

router = APIRouter(tags=["stats"])


def _answer(request: Request, body: bytes, access: Access) -> Response:
    """The answer's JSON bytes (serialised once, cached by the stats service; the response
    models document them), with a strong ETag of its bytes: a client sending it back in
    ``If-None-Match`` gets a 304 without the body when the numbers have not changed.
    ``Cache-Control: private, no-cache``: kept by the browser only, asked again every time
    (the numbers move); an answer anyone with the URL may read (a public site, a shared
    link without a password) is ``public, max-age=0, s-maxage=N`` when
    ``public_stats_cache_seconds`` is set, so a CDN may keep it N seconds."""
    tag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    shared_for = services(request).settings.public_stats_cache_seconds
    cache = (f"public, max-age=0, s-maxage={shared_for}" if access.public and shared_for
             else "private, no-cache")
    headers = {"etag": tag, "cache-control": cache, "vary": "Authorization, Cookie"}
    sent = request.headers.get("if-none-match", "")
    if tag in (t.strip().removeprefix("W/") for t in sent.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


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
    sampling: str | None = Field(
        None, description="auto (default: ranges holding more events than "
        "LIVEINSIGHT_QUERY_SAMPLE_ROWS are read from a sample; meta.sampled and "
        "meta.sample_factor then say so) or exact.")


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
async def v2_query(request: Request, body: V2Query = Body()) -> Response:  # noqa: B008
    """Answers a Plausible Stats API v2 query. Auth: ``Authorization: Bearer <API key>`` with
    the ``stats`` scope (or a dashboard session, a shared link's ``?auth=``, nothing for a
    public site). Errors are 400 with ``error.field`` naming the bad part."""
    raw = body.model_dump(exclude_unset=True)
    svc = services(request)
    access = await stats_access(request, raw.pop("site_id", None), shared=True)
    return _answer(request, await run_in_threadpool(svc.stats.v2, access.site, raw), access)


# --- simple GET endpoints --------------------------------------------------------------------

_Period = Query("30d", description="day, 7d, 28d, 30d, 91d, month, 6mo, 12mo, year, all, custom")
_Date = Query(None, description="Anchor date, or `first,last` with period=custom")
_Filters = Query(None, description="`dim==a|b;dim!=c;dim~contains` (`*` wildcards) or a v2 "
                                   "JSON filter list")
_Sampling = Query(None, description="auto (default: event-based answers over more events "
                  "than LIVEINSIGHT_QUERY_SAMPLE_ROWS come from a sample, marked `sampled`) or "
                  "exact")

_Compare = Query(None, description="previous_period, year_over_year or custom (with "
                 "compare_from and compare_to); a period in progress is compared over its "
                 "elapsed part")
_CompareFrom = Query(None, description="First day of a custom comparison (YYYY-MM-DD)")
_CompareTo = Query(None, description="Last day of a custom comparison (YYYY-MM-DD)")
_MatchDay = Query(None, description="true: the comparison starts on the same weekday")
_WithImported = Query(None, description="true: imported data (Plausible / GA4 imports) is "
                      "mixed in where the query allows it (imports_included says whether)")


def _comparing(compare: str | None, compare_from: str | None, compare_to: str | None,
               match_day_of_week: str | None) -> dict[str, str | None]:
    return {"compare": compare, "compare_from": compare_from, "compare_to": compare_to,
            "match_day_of_week": match_day_of_week}


async def _simple(request: Request, kind: SimpleKind,
                  params: Mapping[str, str | None]) -> Response:
    svc = services(request)
    access = await stats_access(request, params.get("site_id"), shared=True)
    given = {k: v for k, v in params.items() if v is not None and k != "site_id"}
    return _answer(request, await run_in_threadpool(svc.stats.simple, access.site, kind, given),
                   access)


class MetricValue(BaseModel):
    value: Any
    comparison_value: Any = None
    change: Any = None


class AggregateResponse(BaseModel):
    results: dict[str, MetricValue]
    sampled: bool | None = Field(None, description="true when the counts are estimates from "
                                 "a sample of the events")
    sample_factor: float | None = Field(None, description="events each sampled one stands for")
    comparison_date_range: list[str] | None = None
    warnings: dict[str, dict[str, str]] | None = Field(
        None, description="Why a metric is null (revenue metrics: no single currency, no "
                          "revenue goal), as Plausible's meta.metric_warnings.")
    imports_included: bool | None = Field(None, description="With with_imported=true: "
                                          "whether imported data is in the numbers")
    imports_skip_reason: str | None = None
    warning: str | None = Field(None, description="Why imported data was left out")


SUMMARY_METRICS = "visitors,visits,pageviews,views_per_visit,bounce_rate,visit_duration"


@router.get("/api/stats", summary="A site's summary: the main numbers over a period",
            response_model=AggregateResponse, response_model_exclude_none=True,
            responses=_READ_ERRORS)
async def summary(request: Request, site_id: str | None = Query(
                      None, description="The site's domain or id; may be left out when the "
                      "credentials read one site only"), period: str = _Period,
                  date: str | None = _Date, filters: str | None = _Filters,
                  compare: str | None = _Compare, sampling: str | None = _Sampling,
                  compare_from: str | None = _CompareFrom, compare_to: str | None = _CompareTo,
                  match_day_of_week: str | None = _MatchDay,
                  with_imported: str | None = _WithImported) -> Response:
    """Visitors, visits, pageviews, views per visit, bounce rate and visit duration, as
    ``/api/stats/aggregate`` answers them."""
    return await _simple(request, "aggregate", {
        "site_id": site_id, "period": period, "date": date, "metrics": SUMMARY_METRICS,
        "filters": filters, "sampling": sampling,
        "with_imported": with_imported,
        **_comparing(compare, compare_from, compare_to, match_day_of_week)})


@router.get("/api/stats/aggregate", summary="Totals over a period, with an optional comparison",
            response_model=AggregateResponse, response_model_exclude_none=True,
            responses=_READ_ERRORS)
async def aggregate(request: Request, site_id: str | None = None, period: str = _Period,
                    date: str | None = _Date, metrics: str = "visitors",
                    filters: str | None = _Filters, compare: str | None = _Compare,
                    sampling: str | None = _Sampling, compare_from: str | None = _CompareFrom,
                    compare_to: str | None = _CompareTo,
                    match_day_of_week: str | None = _MatchDay,
                    with_imported: str | None = _WithImported) -> Response:
    return await _simple(request, "aggregate", {
        "site_id": site_id, "period": period, "date": date, "metrics": metrics,
        "filters": filters, "sampling": sampling,
        "with_imported": with_imported,
        **_comparing(compare, compare_from, compare_to, match_day_of_week)})


@router.get("/api/stats/timeseries", summary="Metrics per time bucket in the site's time zone",
            responses=_READ_ERRORS)
async def timeseries(request: Request, site_id: str | None = None, period: str = _Period,
                     date: str | None = _Date, metrics: str = "visitors",
                     interval: str | None = Query(None, description="minute, hour, day, week, "
                                                  "month (default by period)"),
                     filters: str | None = _Filters, compare: str | None = _Compare,
                     sampling: str | None = _Sampling, compare_from: str | None = _CompareFrom,
                     compare_to: str | None = _CompareTo,
                     match_day_of_week: str | None = _MatchDay,
                     with_imported: str | None = _WithImported) -> Response:
    return await _simple(request, "timeseries", {
        "site_id": site_id, "period": period, "date": date, "metrics": metrics,
        "interval": interval, "filters": filters, "sampling": sampling,
        "with_imported": with_imported,
        **_comparing(compare, compare_from, compare_to, match_day_of_week)})


@router.get("/api/stats/breakdown", summary="Metrics grouped by one property",
            responses=_READ_ERRORS)
async def breakdown(request: Request, site_id: str | None = None, period: str = _Period,
                    date: str | None = _Date, metrics: str = "visitors,pageviews",
                    property: str | None = Query(None, description="A dimension, e.g. "
                                                 "event:page, visit:source, event:props:plan"),
                    filters: str | None = _Filters, limit: str = "100", page: str = "1",
                    compare: str | None = _Compare, sampling: str | None = _Sampling,
                    compare_from: str | None = _CompareFrom,
                    compare_to: str | None = _CompareTo,
                    match_day_of_week: str | None = _MatchDay,
                    with_imported: str | None = _WithImported) -> Response:
    return await _simple(request, "breakdown", {
        "site_id": site_id, "period": period, "date": date, "metrics": metrics,
        "property": property, "filters": filters, "limit": limit, "page": page,
        "sampling": sampling, "with_imported": with_imported,
        **_comparing(compare, compare_from, compare_to, match_day_of_week)})

