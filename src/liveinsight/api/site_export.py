"""A whole site as a zip of CSVs in Plausible's export layout, streamed.

``GET /api/v1/sites/{site_id}/export`` (an API key with the ``admin`` scope covering the
site) and ``GET /sites/{site_id}/export`` (the settings page's button: the site's admins and
owners signed in). Optional ``from``/``to`` (days in the site's time zone; default: from its
first to its last day with events), at most ``site_export.MAX_DAYS`` days. The range is
checked and the answer's headers sent before the first byte of the zip; the zip is then
written while ClickHouse answers (``query/site_archive.py``) on a worker thread. A failure
after that cuts the download short (the zip is then incomplete: its central directory is
missing, which any unzip reports); it is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from liveinsight.api import session as auth
from liveinsight.api.access import admin_access, require_role
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.errors import Unauthorized
from liveinsight.meta.repo import SiteInfo
from liveinsight.query import site_export
from liveinsight.query.parser import parse_date
from liveinsight.query.site_archive import export_range, stream_zip
from liveinsight.security.roles import Role

router = APIRouter(tags=["management"])
log = logging.getLogger("liveinsight.export")
_FROM = "First day (site's time zone), YYYY-MM-DD; default: the first day with events"
_TO = "Last day, included; default: the last day with events"


def _day(raw: str | None, field: str) -> date | None:
    return None if raw is None or not raw.strip() else parse_date(raw, field)


async def _zip(request: Request, site: SiteInfo, from_: str | None, to: str | None
               ) -> Response:
    svc = services(request)
    today = svc.clock().astimezone(ZoneInfo(site.timezone)).date()
    first, last = await run_in_threadpool(export_range, svc.store, site.id, site.timezone,
                                          _day(from_, "from"), _day(to, "to"), today)
    name = site_export.archive_name(site.domain, today)

    def body() -> Iterator[bytes]:
        try:
            yield from stream_zip(svc.store, site.id, site.timezone, first, last)
        except Exception:
            log.exception("export of site %d cut short", site.id)
            raise

    return StreamingResponse(body(), media_type="application/zip", headers={
        "content-disposition": f'attachment; filename="{name}"',
        "cache-control": "private, no-store", "x-export-range": f"{first}/{last}"})


@router.get(
    "/api/v1/sites/{site_id}/export",
    summary="A whole site as a zip of CSVs (Plausible's export layout), streamed",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}},
                     "description": "The zip, written as it is read; `X-Export-Range` names "
                                    "the days"},
               **error_responses(400, 401, 403, 503)})
async def export_site(
        request: Request, site_id: str,
        from_: str | None = Query(None, alias="from", description=_FROM),
        to: str | None = Query(None, description=_TO)) -> Response:
    site = await admin_access(request, site_id)
    return await _zip(request, site, from_, to)


@router.get("/sites/{site_id}/export", include_in_schema=False)
async def export_site_page(request: Request, site_id: int, from_: str | None = Query(
        None, alias="from"), to: str | None = None) -> Response:
    """The settings page's download: the site's admins and owners."""
    viewer = await auth.current_viewer(request)
    if viewer is None:
        raise Unauthorized("log in first")
    site, _ = await require_role(request, viewer, site_id, Role.ADMIN)
    return await _zip(request, site, from_, to)
