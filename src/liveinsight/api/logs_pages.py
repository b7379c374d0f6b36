"""The Logs page of the dashboard (instance admins only): search the service's log records
(time range, level, logger, text, request id, route, status), page through them, and see
the most frequent errors of the range grouped by fingerprint. The same filters, limits and
queries as ``/admin/logs/search`` and ``/admin/logs/analytics`` (``api/logs.py``); a refused
filter is shown with its reason (400). A viewer (not an admin) gets a 403 page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from liveinsight.api import session as auth
from liveinsight.api.dashboard import page, to_login
from liveinsight.api.deps import services
from liveinsight.api.logs import parse, run_analytics, run_search
from liveinsight.errors import Invalid
from liveinsight.ops.logsearch import LEVELS

router = APIRouter(include_in_schema=False)

FILTERS = ("since", "until", "level", "logger", "text", "request_id", "route", "status",
           "fingerprint")
PAGE_SIZE = 50


@router.get("/logs")
async def logs_page(request: Request) -> Response:
    viewer = await auth.current_viewer(request)
    if viewer is None:
        return to_login(request)
    if not viewer.is_admin:
        return page(request, "missing.html", {
            "viewer": viewer, "message": "Logs are for instance admins."}, 403)
    query = request.query_params
    chosen = {k: query.get(k, "")[:300] for k in FILTERS}
    offset = query.get("offset", "0")
    context: dict[str, Any] = {"viewer": viewer, "tab": "logs", "levels": LEVELS,
                               "filters": chosen, "result": None, "top": [], "error": None}
    svc = services(request)
    try:
        if not (offset.isascii() and offset.isdigit()):
            raise Invalid("offset must be a whole number", field="offset")
        f = parse(svc, {k: v for k, v in chosen.items() if v})
        result = await run_search(svc, f, PAGE_SIZE, min(int(offset), 10_000))
        context["result"] = result
        context["top"] = (await run_analytics(svc, f))["top_errors"][:10]
        if result["next_offset"] is not None:
            context["next"] = "/logs?" + urlencode(
                {**{k: v for k, v in chosen.items() if v}, "offset": result["next_offset"]})
    except Invalid as exc:
        context["error"] = str(exc)
        return page(request, "logs.html", context, 400)
    return page(request, "logs.html", context)
