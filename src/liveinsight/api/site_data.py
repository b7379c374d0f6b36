"""Resetting a site's stats and deleting a site: the API and the settings page's forms.

API (an API key with the ``admin`` scope covering the site; keys are made by instance
administrators, who hold the owner's rights on every site):
``POST /api/v1/sites/{site_id}/reset`` and ``DELETE /api/v1/sites/{site_id}``, each with
``confirm`` (JSON body or query) equal to the site's domain, else 400 naming ``confirm``.
Dashboard: ``POST /sites/{site_id}/reset`` (the site's admins and owners) and
``POST /sites/{site_id}/delete`` (owners), the form's ``confirm`` typed by the user.

The work is a job (``ops/site_data.py``: flush the log, delete the rows, drop cached
answers; for a delete, the metadata first and a sweep later) on a thread of its own; the
API answers once the rows are gone (200), or after :data:`WAIT_S` with the job still
running (202; instance administrators follow it at ``GET /admin/db/jobs/{job_id}``).
Both are recorded in the audit log, with the rows deleted.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from liveinsight.api.access import admin_access
from liveinsight.api.dashboard import settings_page
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.api.forms import site_form
from liveinsight.api.notes import note_details
from liveinsight.errors import Invalid, Unavailable
from liveinsight.meta.repo import SiteInfo
from liveinsight.ops.jobs import Job
from liveinsight.security.roles import Role

router = APIRouter(tags=["management"])
WAIT_S = 60.0
MAX_BODY = 4096

_CONFIRM_DOC = "The site's domain, typed again: nothing happens without it."
_RESPONSES = {200: {"description": "Done: the job with the rows deleted per table"},
              202: {"description": "Still running: the job (`GET /admin/db/jobs/{id}`)"},
              **error_responses(400, 401, 403, 409, 503)}


def check_confirm(site: SiteInfo, given: object) -> None:
    """400 naming ``confirm`` unless ``given`` is the site's domain."""
    if not isinstance(given, str) or given.strip().lower() != site.domain:
        raise Invalid(f"confirm must be the site's domain ({site.domain}), typed again",
                      field="confirm")


async def _confirm_of(request: Request, query: str | None) -> object:
    if query is not None:
        return query
    body = await request.body()
    if not body.strip():
        return None
    if len(body) > MAX_BODY:
        raise Invalid(f"the body is over {MAX_BODY} bytes", field="body")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Invalid("the body must be JSON: {\"confirm\": \"<domain>\"}",
                      field="body") from None
    return doc.get("confirm") if isinstance(doc, dict) else None


def start(request: Request, site: SiteInfo, action: str) -> Job:
    """Start the reset or delete job of ``site`` (409 when one runs for it already)."""
    data = services(request).site_data
    steps = data.delete_steps(site.id) if action == "delete" else data.reset_steps(site.id)
    job = services(request).jobs.start(f"site-data:{site.id}", steps)
    note_details(request, job=job.id, domain=site.domain, action=action)
    return job


async def finished(job: Job, wait_s: float = WAIT_S) -> bool:
    """Wait (without blocking the loop) until the job has deleted the rows (its sweep may
    still be waiting) or failed; False after ``wait_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while loop.time() < deadline:
        if job.status != "running" or job.current == "sweep":
            return True
        await asyncio.sleep(0.05)
    return False


async def _api(request: Request, site_id: str, confirm: str | None, action: str) -> Response:
    site = await admin_access(request, site_id)
    check_confirm(site, await _confirm_of(request, confirm))
    job = start(request, site, action)
    done = await finished(job)
    doc: dict[str, Any] = {"site": site.domain, "action": action, "job": job.describe()}
    if job.status == "failed":
        note_details(request, error=job.error)
        raise Unavailable(f"the {action} failed ({job.error}); run it again", field="job")
    note_details(request, rows=job.results.get("delete rows"))
    return JSONResponse(doc, status_code=200 if done else 202)


@router.post("/api/v1/sites/{site_id}/reset", summary="Reset a site's stats (delete its "
             "stored data, keep its settings)", responses=_RESPONSES)
async def reset_stats_api(
        request: Request, site_id: str,
        confirm: str | None = Query(None, description=_CONFIRM_DOC)) -> Response:
    """Deletes every stored event, session, rollup and imported row of the site; its
    settings, goals, people and links stay. ``confirm`` may also be given in a JSON body."""
    return await _api(request, site_id, confirm, "reset")


@router.delete("/api/v1/sites/{site_id}", summary="Delete a site with all its data",
               responses=_RESPONSES)
async def delete_site_api(
        request: Request, site_id: str,
        confirm: str | None = Query(None, description=_CONFIRM_DOC)) -> Response:
    """Deletes the site, its goals, funnels, segments, shared links, guests, invitations
    and its stored data; API keys limited to it lose it (revoked when it was their only
    site). ``confirm`` may also be given in a JSON body."""
    return await _api(request, site_id, confirm, "delete")


# --- the settings page's danger zone ---------------------------------------------------------


async def _form(request: Request, site_id: int, needs: Role, action: str) -> Response:
    viewer, site, role, form = await site_form(request, site_id, needs)
    try:
        check_confirm(site, form.get("confirm"))
    except Invalid as exc:
        return await settings_page(request, viewer, site, role, f"confirm: {exc.message}",
                                   400)
    job = start(request, site, action)
    await finished(job)
    if job.status == "failed":
        return await settings_page(request, viewer, site, role,
                                   f"The {action} failed: {job.error}", 503)
    if action == "delete":
        return RedirectResponse("/sites?deleted=" + site.domain, status_code=303)
    return RedirectResponse(f"/sites/{site.id}/settings?saved=1#danger-title",
                            status_code=303)


@router.post("/sites/{site_id}/reset", include_in_schema=False)
async def reset_stats_form(request: Request, site_id: int) -> Response:
    return await _form(request, site_id, Role.ADMIN, "reset")


@router.post("/sites/{site_id}/delete", include_in_schema=False)
async def delete_site_form(request: Request, site_id: int) -> Response:
    return await _form(request, site_id, Role.OWNER, "delete")
