"""The members API: ``/api/v1/sites/{site_id}/members``, who holds a role on a site.

Every call takes an API key with the ``admin`` scope covering the site (the same 403 for
another site and an unknown one). Team members are listed with ``via: "team"`` (their role
comes from the team owning the site and is changed on the team's page); guests with
``via: "guest"`` are changed and removed here.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from liveinsight.api.access import admin_access
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.api.notes import note_details
from liveinsight.errors import Invalid, NotFound
from liveinsight.meta.people import Member
from liveinsight.meta.repo import MetaError
from liveinsight.security.roles import GUEST_ROLES, parse_role

router = APIRouter(tags=["management"])


class MemberOut(BaseModel):
    user_id: int
    email: str
    role: Literal["owner", "admin", "editor", "viewer"]
    via: Literal["team", "guest"]


class RoleChange(BaseModel):
    role: str = Field(description="The guest's new role: admin, editor or viewer.")


def _shown(member: Member) -> dict[str, Any]:
    return {**asdict(member), "role": member.role.label}


@router.get("/api/v1/sites/{site_id}/members", summary="Who holds a role on a site",
            response_model=list[MemberOut], responses=error_responses(400, 401, 403))
async def list_members(request: Request, site_id: str) -> list[dict[str, Any]]:
    site = await admin_access(request, site_id)
    return [_shown(m) for m in await run_in_threadpool(services(request).people.site_people,
                                                       site.id)]


@router.patch("/api/v1/sites/{site_id}/members/{user_id}", summary="Change a guest's role",
              response_model=MemberOut, responses=error_responses(400, 401, 403, 404))
async def change_member(request: Request, site_id: str, user_id: int, body: RoleChange
                        ) -> dict[str, Any]:
    site = await admin_access(request, site_id)
    try:
        role = parse_role(body.role, GUEST_ROLES)
    except ValueError as exc:
        raise Invalid(str(exc), field="role") from None
    people = services(request).people
    guests = {m.user_id for m in await run_in_threadpool(people.site_people, site.id)
              if m.via == "guest"}
    if user_id not in guests:
        raise NotFound("that person is not a guest of the site")
    try:
        member = await run_in_threadpool(people.set_guest_role, site.id, user_id, role.label)
    except MetaError as exc:
        raise Invalid(str(exc), field="role") from None
    note_details(request, user_id=user_id, role_after=role.label)
    return _shown(member)


@router.delete("/api/v1/sites/{site_id}/members/{user_id}", summary="Remove a guest",
               status_code=204, responses=error_responses(400, 401, 403, 404))
async def remove_member(request: Request, site_id: str, user_id: int) -> Response:
    site = await admin_access(request, site_id)
    try:
        await run_in_threadpool(services(request).people.remove_guest, site.id, user_id)
    except MetaError as exc:
        raise NotFound(str(exc)) from None
    return Response(status_code=204)
