"""Raw event export: ``GET /api/v1/sites/{site_id}/export/events``, page by page.

Takes an API key with the ``admin`` scope covering the site (raw events carry visitor and
session ids). Each answer is one page (NDJSON or CSV, at most ``limit`` events, oldest
first); the ``X-Next-Cursor`` header (and a ``Link: rel="next"``) gives the cursor of the
next page and is absent on the last one.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from liveinsight.api.access import admin_access
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.errors import Invalid
from liveinsight.query import export
from liveinsight.query.parser import parse_date

router = APIRouter(tags=["management"])
MAX_DAYS = 3660


def _day(raw: str | None, field: str, default: date) -> date:
    return default if raw is None else parse_date(raw, field)


@router.get(
    "/api/v1/sites/{site_id}/export/events",
    summary="A site's raw events, page by page (NDJSON or CSV)",
    response_class=Response,
    responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}},
                     "description": "One page of events; `X-Next-Cursor` names the next"},
               **error_responses(400, 401, 403, 408, 503)})
async def export_events(
        request: Request, site_id: str,
        from_: str | None = Query(None, alias="from", description="First day (site's time "
                                  "zone), YYYY-MM-DD; default 30 days ago"),
        to: str | None = Query(None, description="Last day, included; default today"),
        format: str = Query("ndjson", description="ndjson or csv"),
        limit: int = Query(10_000, description=f"Events per page, 1 to {export.MAX_LIMIT:,}"),
        cursor: str | None = Query(None, description="From X-Next-Cursor of the page before"),
) -> Response:
    site = await admin_access(request, site_id)
    svc = services(request)
    if format not in ("ndjson", "csv"):
        raise Invalid("format must be ndjson or csv", field="format")
    if not 1 <= limit <= export.MAX_LIMIT:
        raise Invalid(f"limit must be 1 to {export.MAX_LIMIT}", field="limit")
    zone = ZoneInfo(site.timezone)
    today = svc.clock().astimezone(zone).date()
    last = _day(to, "to", today)
    first = _day(from_, "from", last - timedelta(days=29))
    if first > last or (last - first).days >= MAX_DAYS:
        raise Invalid(f"from must not be after to, and the range at most {MAX_DAYS} days",
                      field="from")
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    after = export.Cursor.decode(cursor) if cursor else None
    sql, params = export.page_sql(svc.store.database, site.id, start, end, after, limit)
    rows = await run_in_threadpool(svc.runner.raw, sql, params, "export")
    docs = export.records(rows)
    following = export.next_cursor(rows, after, limit)
    headers = {"cache-control": "private, no-store",
               "content-disposition": f'attachment; filename="{site.domain}-events-'
                                      f'{first}-{last}.{format}"'}
    if following is not None:
        token = following.encode()
        headers["x-next-cursor"] = token
        url = request.url.include_query_params(cursor=token)
        headers["link"] = f'<{url}>; rel="next"'
    if format == "csv":
        return Response(export.csv_text(docs, header=after is None), media_type="text/csv",
                        headers=headers)
    return Response(export.ndjson(docs), media_type="application/x-ndjson", headers=headers)
