"""The goals API: ``/api/v1/sites/{site_id}/goals``.

Reading a site's goals takes what reading its stats takes (an API key with the ``stats``
scope covering the site, or a dashboard session). Creating and deleting take an API key
with the ``admin`` scope covering the site (``liveinsight create-api-key ... --scope
admin``); a browser manages goals on the site's settings page, whose forms carry CSRF
tokens. ``site_id`` is the site's domain, numeric id or UUID.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from liveinsight.api.access import admin_access, stats_access
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.errors import Invalid, NotFound
from liveinsight.meta.repo import GoalInfo, MetaError

router = APIRouter(tags=["management"])


class Goal(BaseModel):
    id: int
    display_name: str
    event_name: str | None = None
    page_path: str | None = None
    currency: str | None = None


class NewGoal(BaseModel):
    event_name: str | None = Field(None, description="A custom event's name.")
    page_path: str | None = Field(None, description="A path (`*`, `**` wildcards).")
    display_name: str | None = Field(None, description="Default: the event or `Visit <path>`.")
    currency: str | None = Field(None, description="ISO 4217: makes it a revenue goal.")


def _shown(goal: GoalInfo) -> dict[str, Any]:
    doc = asdict(goal)
    doc.pop("site_id")
    return doc


@router.get("/api/v1/sites/{site_id}/goals", summary="A site's goals",
            response_model=list[Goal], responses=error_responses(400, 401, 403))
async def list_goals(request: Request, site_id: str) -> list[dict[str, Any]]:
    site = (await stats_access(request, site_id)).site
    return [_shown(g) for g in services(request).sites.goals(site.id)]


@router.post("/api/v1/sites/{site_id}/goals", summary="Add a goal", status_code=201,
             response_model=Goal, responses=error_responses(400, 401, 403, 413))
async def add_goal(request: Request, site_id: str, body: NewGoal) -> dict[str, Any]:
    site = await admin_access(request, site_id)
    try:
        goal = await run_in_threadpool(lambda: services(request).meta.create_goal(
            site.id, event_name=body.event_name, page_path=body.page_path,
            display_name=body.display_name, currency=body.currency))
    except MetaError as exc:
        raise Invalid(str(exc), field="body") from None
    return _shown(goal)


@router.delete("/api/v1/sites/{site_id}/goals/{goal_id}", summary="Delete a goal",
               status_code=204, responses=error_responses(400, 401, 403, 404))
async def delete_goal(request: Request, site_id: str, goal_id: int) -> Response:
    site = await admin_access(request, site_id)
    try:
        await run_in_threadpool(services(request).meta.delete_goal, site.id, goal_id)
    except MetaError as exc:
        raise NotFound(str(exc)) from None
    return Response(status_code=204)
