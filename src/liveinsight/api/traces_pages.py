"""The Traces page of the dashboard (instance admins only): the sampled requests of a range
(route, status, minimum duration), newest first, and one trace as an indented tree of its
spans. The same filters, limits and queries as ``/admin/performance/traces`` and
``/admin/performance/traces/{trace_id}`` (``api/performance.py``); a refused filter is
shown with its reason (400), an unknown trace is a 404 page. A viewer (not an admin) gets a
403 page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from liveinsight.api import session as auth
from liveinsight.api.dashboard import page, to_login
from liveinsight.api.deps import services
from liveinsight.api.performance import parse_traces, run_trace, run_traces
from liveinsight.errors import Invalid, NotFound

router = APIRouter(include_in_schema=False)

FILTERS = ("since", "until", "route", "status", "min_duration_ms")
PAGE_SIZE = 50


async def _admin(request: Request) -> tuple[Any, Response | None]:
    viewer = await auth.current_viewer(request)
    if viewer is None:
        return None, to_login(request)
    if not viewer.is_admin:
        return viewer, page(request, "missing.html", {
            "viewer": viewer, "message": "Traces are for instance admins."}, 403)
    return viewer, None


@router.get("/traces")
async def traces_page(request: Request) -> Response:
    viewer, refused = await _admin(request)
    if refused is not None:
        return refused
    query = request.query_params
    chosen = {k: query.get(k, "")[:300] for k in FILTERS}
    offset = query.get("offset", "0")
    context: dict[str, Any] = {"viewer": viewer, "tab": "traces", "filters": chosen,
                               "result": None, "error": None}
    svc = services(request)
    try:
        if not (offset.isascii() and offset.isdigit()):
            raise Invalid("offset must be a whole number", field="offset")
        f = parse_traces(svc, chosen)
        result = await run_traces(svc, f, PAGE_SIZE, min(int(offset), 10_000))
        context["result"] = result
        if result["next_offset"] is not None:
            context["next"] = "/traces?" + urlencode(
                {**{k: v for k, v in chosen.items() if v}, "offset": result["next_offset"]})
    except Invalid as exc:
        context["error"] = str(exc)
        return page(request, "traces.html", context, 400)
    return page(request, "traces.html", context)


@router.get("/traces/{trace_id}")
async def trace_page(request: Request, trace_id: str) -> Response:
    viewer, refused = await _admin(request)
    if refused is not None:
        return refused
    try:
        found = await run_trace(services(request), trace_id[:100])
    except (Invalid, NotFound) as exc:
        return page(request, "missing.html", {"viewer": viewer, "message": str(exc)},
                    400 if isinstance(exc, Invalid) else 404)
    return page(request, "trace.html", {"viewer": viewer, "tab": "traces", "trace": found})
