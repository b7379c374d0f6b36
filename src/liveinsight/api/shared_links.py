"""The sharing API: a site's shared links (``/api/v1/sites/{site_id}/shared-links``) and
whether it is public (``PUT /api/v1/sites/{site_id}/public``).

Every call takes an API key with the ``admin`` scope covering the site (as the site's
admins manage sharing on its settings page). A new link's URL is in the answer once; only
its token's hash is kept (``meta/shares.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from liveinsight.api.access import admin_access
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.api.sharing import share_url
from liveinsight.errors import Invalid

router = APIRouter(tags=["management"])


class SharedLink(BaseModel):
    id: int
    label: str
    password_protected: bool
    allowed_origins: list[str]
    created_at: str
    url: str | None = Field(None, description="Only in the answer creating the link.")


class NewSharedLink(BaseModel):
    label: str | None = Field(None, description="What the link is for (default: "
                              "\"Shared link\"), at most 120 characters.")
    password: str | None = Field(None, description="Asked before the dashboard shows "
                                 "(the password policy applies); none: anyone with the link.")
    allowed_origins: list[str] = Field([], description="Origins (`https://blog.example.com`) "
                                       "whose pages may embed it (`?embed=true`), at most 20.")


class Visibility(BaseModel):
    public: bool | None = Field(None, description="true: anyone may read the site's "
                                "dashboard and stats without signing in (required).")


_BASE = "/api/v1/sites/{site_id}"


@router.get(_BASE + "/shared-links", summary="A site's shared links",
            response_model=list[SharedLink], response_model_exclude_none=True,
            responses=error_responses(400, 401, 403))
async def list_links(request: Request, site_id: str) -> list[dict[str, Any]]:
    site = await admin_access(request, site_id)
    found = await run_in_threadpool(services(request).shares.of_site, site.id)
    return [link.doc() for link in found]


@router.post(_BASE + "/shared-links", summary="Make a shared link", status_code=201,
             response_model=SharedLink, responses=error_responses(400, 401, 403, 409, 413))
async def create_link(request: Request, site_id: str, body: NewSharedLink) -> dict[str, Any]:
    site = await admin_access(request, site_id)
    token, link = await run_in_threadpool(
        lambda: services(request).shares.create(site.id, body.label, body.password or None,
                                                body.allowed_origins))
    return {**link.doc(), "url": share_url(request, token)}


@router.delete(_BASE + "/shared-links/{link_id}", summary="Revoke a shared link",
               status_code=204, responses=error_responses(400, 401, 403, 404))
async def revoke_link(request: Request, site_id: str, link_id: int) -> Response:
    site = await admin_access(request, site_id)
    await run_in_threadpool(services(request).shares.revoke, site.id, link_id)
    return Response(status_code=204)


@router.put(_BASE + "/public", summary="Make a site public or private",
            response_model=Visibility, responses=error_responses(400, 401, 403, 413))
async def set_public(request: Request, site_id: str, body: Visibility) -> dict[str, bool]:
    """Checked after the key (a missing ``public`` is a 400 naming it)."""
    site = await admin_access(request, site_id)
    if body.public is None:
        raise Invalid("public is required: true or false", field="public")
    changed = await run_in_threadpool(
        lambda: services(request).meta.update_site(site.id, public=body.public))
    return {"public": changed.public}
