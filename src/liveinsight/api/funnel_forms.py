"""The settings page's funnel forms: site editors (and admins, owners) add and delete saved
funnels (``site_form(..., Role.EDITOR)``: CSRF token and role checked). A refused funnel is
shown again on the page with its reason (400)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from liveinsight.api.dashboard import settings_page
from liveinsight.api.deps import services
from liveinsight.api.forms import site_form
from liveinsight.behaviour import funnels
from liveinsight.errors import Conflict, Invalid
from liveinsight.security.roles import Role

router = APIRouter(include_in_schema=False)
_MAX_FORM_TEXT = 20_000


def steps_from_lines(text: str) -> list[dict[str, Any]]:
    """``page /path`` or ``event Name [key=value ...]`` per line → step objects (the
    definition's checks then apply)."""
    steps: list[dict[str, Any]] = []
    for line in text[:_MAX_FORM_TEXT].splitlines():
        words = line.split()
        if not words:
            continue
        kind, rest = words[0].lower(), words[1:]
        props = dict(w.split("=", 1) for w in rest[1:] if "=" in w)
        value = rest[0] if rest else ""
        step: dict[str, Any] = ({"type": "page", "path": value} if kind == "page" else
                                {"type": kind, "name": value})
        if props:
            step["props"] = props
        steps.append(step)
    return steps


@router.post("/sites/{site_id}/funnels")
async def add_funnel(request: Request, site_id: int) -> Response:
    viewer, site, role, form = await site_form(request, site_id, Role.EDITOR)
    raw = {"steps": steps_from_lines(str(form.get("steps", ""))),
           "window": str(form.get("window", "1d"))[:20] or "1d",
           "order": str(form.get("order", "ordered"))[:20],
           "basis": str(form.get("basis", "visitor"))[:20]}
    try:
        definition = funnels.parse_funnel(raw, "funnel").doc()
        await run_in_threadpool(services(request).funnels.create, site.id,
                                str(form.get("name", ""))[:200], definition)
    except (Invalid, Conflict) as exc:
        where = f" ({exc.field})" if exc.field else ""
        return await settings_page(request, viewer, site, role, exc.message + where,
                                   400 if isinstance(exc, Invalid) else 409)
    return RedirectResponse(f"/sites/{site.id}/settings?saved=1#funnels-title",
                            status_code=303)


@router.post("/sites/{site_id}/funnels/{funnel_id}/delete")
async def delete_funnel(request: Request, site_id: int, funnel_id: int) -> Response:
    _, site, _, _ = await site_form(request, site_id, Role.EDITOR)
    await run_in_threadpool(services(request).funnels.delete, site.id, funnel_id)
    return RedirectResponse(f"/sites/{site.id}/settings?saved=1#funnels-title",
                            status_code=303)
