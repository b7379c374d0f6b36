"""Behaviour analytics API: funnels (ad hoc and saved), journeys, retention, user analysis.

- ``POST /api/v2/funnels``: a funnel's numbers over a range (``funnel``: a definition, or
  ``funnel_id``: a saved one), read access as for stats (``stats_access``); the same for
  ``POST /api/v2/journeys``, ``/api/v2/retention``, ``/api/v2/users`` and ``/api/v2/kpi``.
- ``/api/v1/sites/{site_id}/funnels``: saved funnels; reading takes read access, creating,
  changing and deleting an API key with the ``admin`` scope covering the site
  (``admin_access``); in the dashboard, site editors manage them through forms
  (``api/dashboard_funnels.py``).

Each handler: check access, then one domain call off the event loop.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from liveinsight.api.access import admin_access, stats_access
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.behaviour import funnels, kpi
from liveinsight.errors import Invalid

router = APIRouter(tags=["behaviour"])
_READ_ERRORS = error_responses(400, 401, 403, 404, 408, 413, 503)
_STEPS_DOC = ("2 to 8 steps: {type: page, path: '/blog/*'} (`*` any run but `/`, `**` any "
              "run) or {type: event, name: 'Signup'}, each with optional props {name: value}")


def answer(request: Request, body: bytes) -> Response:
    """JSON bytes with a strong ETag (``If-None-Match`` → 304), kept by the browser only."""
    tag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {"etag": tag, "cache-control": "private, no-cache", "vary": "Authorization, Cookie"}
    sent = request.headers.get("if-none-match", "")
    if tag in (t.strip().removeprefix("W/") for t in sent.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


class FunnelDefinition(BaseModel):
    model_config = ConfigDict(extra="allow")

    steps: list[dict[str, Any]] = Field(description=_STEPS_DOC)
    window: int | str = Field("1d", description="Seconds, or 30m, 2h, 7d (1 s to 90 days), "
                                                "from the first step.")
    order: str = Field("ordered", description="ordered (windowFunnel), strict (no other "
                                              "event between steps), any (steps in any order)")
    modes: list[str] = Field([], description="strict_deduplication, strict_increase")
    basis: str = Field("visitor", description="visitor or session")


def _body(model: type[BaseModel]) -> Any:
    """A JSON object body, checked by the domain after the caller's access (so a caller
    without access learns nothing from a 400), documented by ``model``'s schema."""
    schema = model.model_json_schema()
    return Body(description=f"An object: {', '.join(schema.get('properties', {}))}",
                examples=schema.get("examples"))


class FunnelQuery(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "site_id": "example.com", "date_range": "30d",
        "funnel": {"steps": [{"type": "page", "path": "/"},
                             {"type": "page", "path": "/pricing"},
                             {"type": "event", "name": "Signup"}], "window": "1d"},
        "breakdown": {"dimension": "visit:source", "limit": 5}}]})

    site_id: str | int | None = Field(None, description="The site's domain or id.")
    funnel: FunnelDefinition | None = Field(None, description="An ad-hoc funnel.")
    funnel_id: int | None = Field(None, description="A saved funnel of the site instead.")
    date_range: str | list[str] = Field("30d", description="As for /api/v2/query.")
    date: str | None = None
    filters: list[Any] = Field([], description="As for /api/v2/query; they select visits.")
    include: dict[str, Any] = Field({}, description="comparisons {mode: previous_period|"
                                                    "year_over_year}")
    breakdown: dict[str, Any] | None = Field(
        None, description="{dimension: a visit dimension, event:hostname or "
                          "event:props:<name>, limit: 1-100 (default 10)}")


_QUERY_BODY = _body(FunnelQuery)


class FunnelStep(BaseModel):
    step: int
    label: str
    count: int
    conversion_from_previous: float | None
    conversion_from_first: float | None
    dropoff: int
    dropoff_rate: float | None
    median_seconds_from_previous: float | None


class FunnelAnswer(BaseModel):
    date_range: list[str]
    counted: str = Field(description="visitors or sessions")
    steps: list[FunnelStep]
    conversion_rate: float | None
    median_seconds_to_convert: float | None
    funnel: dict[str, Any]
    breakdown: dict[str, Any] | None = None
    comparison: dict[str, Any] | None = None
    notes: list[str] | None = None


@router.post("/api/v2/funnels", summary="A funnel's conversion over a range",
             response_model=FunnelAnswer, response_model_exclude_none=True,
             responses=_READ_ERRORS)
async def funnel_query(request: Request,
                       body: dict[str, Any] = _QUERY_BODY) -> Response:
    """Visitors (or visits) reaching each step, conversion from the previous and the first
    step, drop-off and median time between steps; ``breakdown`` splits it by a dimension,
    ``include.comparisons`` adds the period before. Auth as for ``/api/v2/query``; the
    body's fields are those of ``FunnelQuery``."""
    raw = dict(body)
    svc = services(request)
    site = (await stats_access(request, raw.pop("site_id", None))).site
    funnel_id = raw.pop("funnel_id", None)
    if funnel_id is not None:
        if not isinstance(funnel_id, int) or isinstance(funnel_id, bool):
            raise Invalid("funnel_id is a saved funnel's id (an integer)", field="funnel_id")
        if "funnel" in raw:
            raise Invalid("give funnel or funnel_id, not both", field="funnel_id")
        saved = await run_in_threadpool(svc.funnels.get, site.id, funnel_id)
        raw["funnel"] = saved.definition
    return answer(request, await run_in_threadpool(svc.behaviour.funnel, site, raw))


# --- saved funnels -------------------------------------------------------------------------


class NewFunnel(FunnelDefinition):
    name: str = Field(description="Unique in the site, 1 to 120 characters.")


_SAVED_BODY = _body(NewFunnel)


class SavedFunnel(BaseModel):
    id: int
    name: str
    steps: list[dict[str, Any]]
    window: int
    order: str
    modes: list[str]
    basis: str
    created_at: str
    updated_at: str


def _definition(body: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The name and the checked, canonical definition of a saved funnel's body."""
    raw = dict(body)
    name = raw.pop("name", None)
    return name, funnels.parse_funnel(raw, "body").doc()


@router.get("/api/v1/sites/{site_id}/funnels", summary="A site's saved funnels",
            response_model=list[SavedFunnel], responses=error_responses(400, 401, 403))
async def list_funnels(request: Request, site_id: str) -> list[dict[str, Any]]:
    site = (await stats_access(request, site_id)).site
    saved = await run_in_threadpool(services(request).funnels.of_site, site.id)
    return [f.doc() for f in saved]


@router.get("/api/v1/sites/{site_id}/funnels/{funnel_id}", summary="A saved funnel",
            response_model=SavedFunnel, responses=error_responses(400, 401, 403, 404))
async def get_funnel(request: Request, site_id: str, funnel_id: int) -> dict[str, Any]:
    site = (await stats_access(request, site_id)).site
    return (await run_in_threadpool(services(request).funnels.get, site.id, funnel_id)).doc()


@router.post("/api/v1/sites/{site_id}/funnels", summary="Save a funnel", status_code=201,
             response_model=SavedFunnel, responses=error_responses(400, 401, 403, 409, 413))
async def create_funnel(request: Request, site_id: str,
                        body: dict[str, Any] = _SAVED_BODY) -> dict[str, Any]:
    site = await admin_access(request, site_id)
    name, definition = _definition(body)
    saved = await run_in_threadpool(services(request).funnels.create, site.id, name,
                                    definition)
    return saved.doc()


@router.put("/api/v1/sites/{site_id}/funnels/{funnel_id}", summary="Change a saved funnel",
            response_model=SavedFunnel, responses=error_responses(400, 401, 403, 404, 409, 413))
async def update_funnel(request: Request, site_id: str, funnel_id: int,
                        body: dict[str, Any] = _SAVED_BODY) -> dict[str, Any]:
    site = await admin_access(request, site_id)
    name, definition = _definition(body)
    saved = await run_in_threadpool(services(request).funnels.update, site.id, funnel_id,
                                    name, definition)
    return saved.doc()


@router.delete("/api/v1/sites/{site_id}/funnels/{funnel_id}", summary="Delete a saved funnel",
               status_code=204, responses=error_responses(400, 401, 403, 404))
async def delete_funnel(request: Request, site_id: str, funnel_id: int) -> Response:
    site = await admin_access(request, site_id)
    await run_in_threadpool(services(request).funnels.delete, site.id, funnel_id)
    return Response(status_code=204)


# --- journeys ------------------------------------------------------------------------------


class JourneyQuery(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "site_id": "example.com", "kind": "next", "page": "/pricing", "steps": 3,
        "date_range": "30d"}]})

    site_id: str | int | None = Field(None, description="The site's domain or id.")
    kind: str = Field("next", description="next, previous, paths (from entry) or sankey")
    page: str | None = Field(None, description="next/previous: the page (`*`, `**`).")
    steps: int = Field(3, description="Pages after/before/from entry: 1-10 (sankey 2-10).")
    limit: int = Field(10, description="Rows per depth and sequences: 1-100.")
    k: int = Field(5, description="sankey: pages kept per position, 1-20; the rest (other).")
    date_range: str | list[str] = Field("30d", description="As for /api/v2/query.")
    date: str | None = None
    filters: list[Any] = Field([], description="As for /api/v2/query; they select visits.")


_JOURNEY_BODY = _body(JourneyQuery)


@router.post("/api/v2/journeys", summary="The paths visits take: next/previous pages, "
             "top paths from entry, Sankey flows", responses=_READ_ERRORS)
async def journey_query(request: Request,
                        body: dict[str, Any] = _JOURNEY_BODY) -> Response:
    """Counted in visits. ``next``/``previous``: from the first view of ``page`` in a
    visit, the most common page at each depth and the most common sequences; ``paths``: the
    same from the entry page; ``sankey``: ``nodes`` and ``links`` between positions, the
    ``k`` most common pages per position named, the rest ``(other)``. Auth as for
    ``/api/v2/query``; the body's fields are those of ``JourneyQuery``."""
    raw = dict(body)
    svc = services(request)
    site = (await stats_access(request, raw.pop("site_id", None))).site
    return answer(request, await run_in_threadpool(svc.behaviour.journey, site, raw))


# --- retention -----------------------------------------------------------------------------


class RetentionQuery(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "site_id": "example.com", "period": "week", "date_range": "91d"}]})

    site_id: str | int | None = Field(None, description="The site's domain or id.")
    period: str = Field("week", description="Cohorts by first-visit day, week or month.")
    identity: str = Field("visitor", description="visitor (cookieless id) or user (the "
                                                 "user_id property sent by the site)")
    date_range: str | list[str] = Field("91d", description="As for /api/v2/query (at most "
                                                           "92 days, 104 weeks, 36 months).")
    date: str | None = None
    filters: list[Any] = Field([], description="As for /api/v2/query; they select visits.")


_RETENTION_BODY = _body(RetentionQuery)


@router.post("/api/v2/retention", summary="Cohorts by first visit and their returns "
             "(a triangle table)", responses=_READ_ERRORS)
async def retention_query(request: Request,
                          body: dict[str, Any] = _RETENTION_BODY) -> Response:
    """Each cohort's visitors and, per later period, how many were seen again (counts and
    percentages of the cohort). Read the ``notes``: cookieless visitor ids change with the
    site's salt rotation. Auth as for ``/api/v2/query``."""
    raw = dict(body)
    svc = services(request)
    site = (await stats_access(request, raw.pop("site_id", None))).site
    return answer(request, await run_in_threadpool(svc.behaviour.retention, site, raw))


# --- user analysis -------------------------------------------------------------------------


class UsersQuery(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "site_id": "example.com", "date_range": "30d"}]})

    site_id: str | int | None = Field(None, description="The site's domain or id.")
    date_range: str | list[str] = Field("30d", description="As for /api/v2/query.")
    date: str | None = None
    filters: list[Any] = Field([], description="As for /api/v2/query; they select visits.")


_USERS_BODY = _body(UsersQuery)


@router.post("/api/v2/users", summary="User analysis: new vs returning, visits per visitor, "
             "engagement, activity heatmap, event sequences", responses=_READ_ERRORS)
async def users_query(request: Request, body: dict[str, Any] = _USERS_BODY) -> Response:
    """What ``GET /admin/analytics/users`` answers an instance administrator, for one site
    to whoever may read its stats. ``returning`` means more than one visit under the same
    cookieless id (which lasts as long as the site's salt rotation); see ``notes``. Auth as
    for ``/api/v2/query``; the body's fields are those of ``UsersQuery``."""
    raw = dict(body)
    svc = services(request)
    site = (await stats_access(request, raw.pop("site_id", None))).site
    return answer(request, await run_in_threadpool(svc.behaviour.users, site, raw))


# --- the KPI board of one site ---------------------------------------------------------------


class KpiQuery(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "site_id": "example.com", "period": "30d"}]})

    site_id: str | int | None = Field(None, description="The site's domain or id.")
    period: str = Field("30d", description="day, 7d, 28d, 30d, 91d, month, 6mo, 12mo, year")
    date: str | None = Field(None, description="The period's anchor (default: the site's "
                                               "today)")


_KPI_BODY = _body(KpiQuery)


@router.post("/api/v2/kpi", summary="The KPI board of one site: headline numbers, growth, "
             "sparklines, goal conversions, revenue, target statuses", responses=_READ_ERRORS)
async def kpi_query(request: Request, body: dict[str, Any] = _KPI_BODY) -> Response:
    """What ``GET /admin/analytics/kpi`` answers an instance administrator, for one site to
    whoever may read its stats (its targets, set by instance administrators, included).
    Auth as for ``/api/v2/query``; the body's fields are those of ``KpiQuery``."""
    raw = dict(body)
    svc = services(request)
    site = (await stats_access(request, raw.pop("site_id", None))).site
    period, anchor = kpi.parse_request(raw)
    targets = await run_in_threadpool(svc.kpi_targets.all)
    board = await run_in_threadpool(svc.behaviour.kpi, [site], period, anchor,
                                    {site.id: targets.get(site.id, {})})
    return answer(request, orjson.dumps(board))
