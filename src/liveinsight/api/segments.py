"""Saved segments: named filter sets of a site, shared with everyone holding a role on it.

API (``/api/v1/sites/{site_id}/segments``): reading takes what reading the site's stats
takes (an API key with the ``stats`` scope, or a session; not a shared link); saving and
deleting an API key with the ``admin`` scope covering the site. Dashboard (its scripts, with
the session's CSRF token): ``POST /sites/{id}/segments`` and ``.../{segment_id}/delete``,
for editors and up; both answer JSON.

A segment's ``filters`` are v2 filter conditions (``[op, dimension, [values]]``, op one of
is, is_not, contains, contains_not, matches, matches_not), checked by the stats parser (a
dimension it does not know is a 400 naming it) and kept to what the dashboard shows as
chips: a flat list (no and / or / not), no modifiers, and for the other operators than
matches no ``|``, ``;`` or ``*`` in values (the dashboard's filter syntax reads them).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from liveinsight.api.access import admin_access, stats_access
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.api.forms import site_form
from liveinsight.errors import Invalid
from liveinsight.meta.repo import SiteInfo
from liveinsight.query import parser
from liveinsight.security.roles import Role
from liveinsight.services import Services

router = APIRouter(tags=["management"])
MAX_CONDITIONS = 20


class Segment(BaseModel):
    id: int
    name: str
    filters: list[Any]
    created_at: str


class NewSegment(BaseModel):
    name: str | None = Field(None, description="1 to 120 characters, unique in the site.")
    filters: list[Any] | None = Field(None, description="v2 filter conditions, e.g. "
                                      "[[\"is\", \"visit:country\", [\"DE\"]]].")


def check_filters(svc: Services, site: SiteInfo, raw: Any) -> list[Any]:
    """``raw`` as a segment's filters, or ``Invalid`` naming the part at fault."""
    if not isinstance(raw, list) or not raw:
        raise Invalid("a segment's filters are a non-empty list of conditions", field="filters")
    if len(raw) > MAX_CONDITIONS:
        raise Invalid(f"a segment has at most {MAX_CONDITIONS} conditions", field="filters")
    for i, item in enumerate(raw):
        field = f"filters[{i}]"
        if not isinstance(item, list) or len(item) != 3 or item[0] in ("and", "or", "not"):
            raise Invalid("a segment's condition is [operator, dimension, [values]] (no "
                          "and / or / not, no modifiers)", field=field)
        if item[0] not in ("matches", "matches_not") and isinstance(item[2], list):
            for value in item[2]:
                if any(c in str(value) for c in "|;*"):
                    raise Invalid("values cannot contain |, ; or * (use matches)",
                                  field=field)
    # the stats parser decides the rest (operators, dimensions, values, regexes' size)
    parser.parse_v2({"metrics": ["visitors"], "date_range": "day", "filters": raw},
                    site_id=site.id, timezone=site.timezone, goals=svc.stats.goals(site),
                    today=svc.stats.today(site))
    return raw


async def _create(request: Request, site: SiteInfo, name: Any, filters: Any,
                  user_id: int | None) -> dict[str, Any]:
    svc = services(request)
    checked = check_filters(svc, site, filters)
    made = await run_in_threadpool(svc.segments.create, site.id, name, checked, user_id)
    return made.doc()


_BASE = "/api/v1/sites/{site_id}/segments"


@router.get(_BASE, summary="A site's saved segments", response_model=list[Segment],
            responses=error_responses(400, 401, 403))
async def list_segments(request: Request, site_id: str) -> list[dict[str, Any]]:
    site = (await stats_access(request, site_id)).site
    found = await run_in_threadpool(services(request).segments.of_site, site.id)
    return [s.doc() for s in found]


@router.post(_BASE, summary="Save a segment", status_code=201, response_model=Segment,
             responses=error_responses(400, 401, 403, 409, 413))
async def add_segment(request: Request, site_id: str, body: NewSegment) -> dict[str, Any]:
    site = await admin_access(request, site_id)
    return await _create(request, site, body.name, body.filters, None)


@router.delete(_BASE + "/{segment_id}", summary="Delete a segment", status_code=204,
               responses=error_responses(400, 401, 403, 404))
async def delete_segment(request: Request, site_id: str, segment_id: int) -> Response:
    site = await admin_access(request, site_id)
    await run_in_threadpool(services(request).segments.delete, site.id, segment_id)
    return Response(status_code=204)


# --- the dashboard's scripts -----------------------------------------------------------------


@router.post("/sites/{site_id}/segments", include_in_schema=False)
async def save_from_dashboard(request: Request, site_id: int) -> Response:
    """An editor saves the dashboard's filters (``filters``: JSON v2 conditions) as
    ``name``; answers the segment (201) or the error, as JSON."""
    viewer, site, _, form = await site_form(request, site_id, Role.EDITOR)
    try:
        filters = orjson.loads(str(form.get("filters", ""))[:20000])
    except orjson.JSONDecodeError:
        raise Invalid("filters is not valid JSON", field="filters") from None
    made = await _create(request, site, str(form.get("name", ""))[:200], filters,
                         viewer.user.id)
    return JSONResponse(made, status_code=201)


@router.post("/sites/{site_id}/segments/{segment_id}/delete", include_in_schema=False)
async def delete_from_dashboard(request: Request, site_id: int, segment_id: int) -> Response:
    _, site, _, _ = await site_form(request, site_id, Role.EDITOR)
    await run_in_threadpool(services(request).segments.delete, site.id, segment_id)
    return Response(status_code=204)
