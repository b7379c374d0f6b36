"""E-mail reports per site (instance admins only): ``POST /admin/reports`` subscribes
recipients to a site's weekly or monthly report, ``GET /admin/reports`` lists the
subscriptions, ``DELETE /admin/reports/{id}`` ends one, ``POST /admin/reports/{id}/send``
sends its last complete period now."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from liveinsight.api.access import instance_admin, resolve_site
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses

router = APIRouter(tags=["alerts"])
_E = error_responses(400, 401, 403, 404, 413)


@router.post("/admin/reports", summary="Subscribe to a site's e-mail report",
             status_code=201, responses=_E)
async def subscribe(request: Request, body: Annotated[dict[str, Any], Body(examples=[
        {"site_id": "example.com", "period": "weekly",
         "recipients": ["owner@example.com"]}])]) -> dict[str, Any]:
    await instance_admin(request)
    svc = services(request)
    site = resolve_site(svc, body.get("site_id"))
    return await run_in_threadpool(svc.reports.subscribe, body, site.id)


@router.get("/admin/reports", summary="Every report subscription", responses=_E)
async def subscriptions(request: Request) -> list[dict[str, Any]]:
    await instance_admin(request)
    return await run_in_threadpool(services(request).reports.subscriptions)


@router.delete("/admin/reports/{report_id}", summary="End a report subscription",
               status_code=204, responses=_E)
async def unsubscribe(request: Request, report_id: int) -> Response:
    await instance_admin(request)
    await run_in_threadpool(services(request).reports.unsubscribe, report_id)
    return Response(status_code=204)


@router.post("/admin/reports/{report_id}/send", summary="Send a report now",
             responses=error_responses(400, 401, 403, 404, 503))
async def send_now(request: Request, report_id: int) -> dict[str, Any]:
    await instance_admin(request)
    return await services(request).reports.send(report_id)
