"""Imports of another tool's aggregates (Plausible's CSV export, GA4 CSV reports).

API (``/api/v1/sites/{site_id}/imports``), with an API key holding the ``admin`` scope for
the site: ``POST`` (multipart: ``source`` = plausible | ga4, ``file`` = the zip or CSV)
checks the whole upload (400 naming the file, line and column; 413 past a limit; 409 when
every day is taken or an import of the site is running) and answers 202 with the import,
whose rows a job stores; ``GET`` lists the site's imports (status, progress), ``GET
.../{import_id}`` one, ``DELETE .../{import_id}`` removes it and its rows. Dashboard (the
settings page, admins and owners of the site): ``POST /sites/{id}/imports`` and
``POST /sites/{id}/imports/{import_id}/delete``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.responses import Response

from liveinsight.api.access import admin_access
from liveinsight.api.dashboard import settings_page
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses, status_of
from liveinsight.api.forms import site_form
from liveinsight.errors import Invalid, Problem
from liveinsight.imports.service import save_upload
from liveinsight.meta.repo import SiteInfo
from liveinsight.security.roles import Role
from liveinsight.settings import Settings

router = APIRouter(tags=["management"])
_BASE = "/api/v1/sites/{site_id}/imports"
_MULTIPART_OVERHEAD = 64 << 10


def body_limits(settings: Settings) -> dict[str, int]:
    """The uploads' body limits for the front door (paths with a ``{site_id}`` part)."""
    size = settings.import_max_upload_bytes + _MULTIPART_OVERHEAD
    return {_BASE: size, "/sites/{site_id}/imports": size}


class ImportProgress(BaseModel):
    step: str
    done: int
    total: int
    progress: float
    job_id: str | None


class SiteImport(BaseModel):
    id: int
    source: str
    filename: str
    status: str
    start_date: str | None
    end_date: str | None
    rows: int
    skipped_rows: int
    error: str | None
    created_at: str
    finished_at: str | None
    progress: ImportProgress | None


async def _start(request: Request, site: SiteInfo, source: Any, upload: Any,
                 user_id: int | None) -> dict[str, Any]:
    svc = services(request)
    if not isinstance(upload, StarletteUpload):
        raise Invalid("send the export as the multipart part 'file'", field="file")
    if not isinstance(source, str) or source not in ("plausible", "ga4"):
        raise Invalid("source must be plausible or ga4", field="source")
    limit = svc.imports.limits.upload_bytes
    path = await run_in_threadpool(save_upload, upload.file.read,
                                   svc.settings.data_dir / "imports", limit)
    try:
        info = await run_in_threadpool(svc.imports.start, site, source, path,
                                       upload.filename or "upload", user_id)
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise
    return svc.imports.doc(info)


@router.post(_BASE, summary="Import a Plausible or GA4 export", status_code=202,
             response_model=SiteImport,
             responses=error_responses(400, 401, 403, 409, 413))
async def add_import(request: Request, site_id: str,
                     source: str | None = Form(None, description="plausible or ga4"),
                     file: UploadFile | None = File(  # noqa: B008
                         None, description="Plausible's export zip (or one of its CSVs), or "
                         "GA4 CSV reports (a zip or one CSV)")) -> dict[str, Any]:
    """Checks the whole upload, then stores it in a job: answers the import (status
    ``importing``, its days kept); follow it with ``GET .../imports/{id}``."""
    site = await admin_access(request, site_id)
    return await _start(request, site, source, file, None)


@router.get(_BASE, summary="A site's imports, with their status and progress",
            response_model=list[SiteImport], responses=error_responses(400, 401, 403))
async def list_imports(request: Request, site_id: str) -> list[dict[str, Any]]:
    site = await admin_access(request, site_id)
    return await run_in_threadpool(services(request).imports.listed, site.id)


@router.get(_BASE + "/{import_id}", summary="One import, with its status and progress",
            response_model=SiteImport, responses=error_responses(400, 401, 403, 404))
async def get_import(request: Request, site_id: str, import_id: int) -> dict[str, Any]:
    site = await admin_access(request, site_id)
    svc = services(request)
    info = await run_in_threadpool(svc.imports.imports.get, site.id, import_id)
    return svc.imports.doc(info)


@router.delete(_BASE + "/{import_id}", summary="Delete an import and its rows",
               status_code=204, responses=error_responses(400, 401, 403, 404))
async def delete_import(request: Request, site_id: str, import_id: int) -> Response:
    site = await admin_access(request, site_id)
    await run_in_threadpool(services(request).imports.delete, site.id, import_id)
    return Response(status_code=204)


# --- the settings page's forms -------------------------------------------------------------


@router.post("/sites/{site_id}/imports", include_in_schema=False)
async def import_from_dashboard(request: Request, site_id: int) -> Response:
    viewer, site, role, form = await site_form(request, site_id, Role.ADMIN)
    try:
        await _start(request, site, form.get("source"), form.get("file"), viewer.user.id)
    except Problem as exc:
        return await settings_page(request, viewer, site, role, str(exc), status_of(exc))
    return RedirectResponse(f"/sites/{site.id}/settings?saved=1#imports-title",
                            status_code=303)


@router.post("/sites/{site_id}/imports/{import_id}/delete", include_in_schema=False)
async def delete_from_dashboard(request: Request, site_id: int, import_id: int) -> Response:
    _, site, _, _ = await site_form(request, site_id, Role.ADMIN)
    await run_in_threadpool(services(request).imports.delete, site.id, import_id)
    return RedirectResponse(f"/sites/{site.id}/settings?saved=1#imports-title",
                            status_code=303)
