"""The alerting API (instance admins only: ``api.access.instance_admin``).

Rules: ``POST /admin/alerts/rule`` creates one (with ``"id"`` in the body: replaces that
rule), ``GET /admin/alerts/rules`` lists them, ``GET|PUT|DELETE /admin/alerts/rule/{id}``
reads, replaces, deletes one; ``POST /admin/monitoring/threshold`` creates or replaces a
metric rule by name. State: ``GET /admin/monitoring/alerts``; ``GET /admin/alerts/history``;
``POST /admin/alerts/ack``. Channels: ``POST /admin/alerts/channel``,
``GET /admin/alerts/channels``, ``PUT|DELETE /admin/alerts/channel/{id}``,
``POST /admin/alerts/channel/{id}/test``. Incidents: ``POST /admin/incidents/create``,
``GET /admin/incidents``, ``GET|POST /admin/incidents/{id}``. docs/api.md has the fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from starlette.responses import Response

from liveinsight.api.access import instance_admin
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.api.session import current_viewer
from liveinsight.errors import Invalid

router = APIRouter(tags=["alerts"])
_E = error_responses(400, 401, 403, 404, 413)
JsonBody = Annotated[dict[str, Any], Body(description="A JSON object; docs/api.md lists "
                                                      "its fields.")]

_RULE_EXAMPLE = {"name": "p95 latency", "metric": "liveinsight_query_seconds", "stat": "p95",
                 "window": "5m", "op": ">", "threshold": 0.5, "for": "2m",
                 "severity": "warning", "channels": [1]}


async def _actor(request: Request) -> str:
    """Who is asking, as the history and incidents record it."""
    key = await instance_admin(request)
    if key is not None:
        return f"API key {key.prefix}… ({key.name})"[:255]
    viewer = await current_viewer(request)
    return viewer.user.email if viewer is not None else "admin"


# --- rules ---------------------------------------------------------------------------------
@router.post("/admin/alerts/rule", summary="Create an alert rule (or replace one: \"id\")",
             status_code=201, responses=_E)
async def create_rule(request: Request, body: Annotated[dict[str, Any], Body(
        examples=[_RULE_EXAMPLE])]) -> dict[str, Any]:
    await instance_admin(request)
    rule_id = body.get("id")
    if rule_id is not None and (isinstance(rule_id, bool) or not isinstance(rule_id, int)):
        raise Invalid("id must be a rule's id (or left out to create one)", field="id")
    return await services(request).alerts.save_rule(body, rule_id)


@router.get("/admin/alerts/rules", summary="Every alert rule", responses=_E)
async def list_rules(request: Request) -> list[dict[str, Any]]:
    await instance_admin(request)
    return await services(request).alerts.rules()


@router.get("/admin/alerts/rule/{rule_id}", summary="One alert rule", responses=_E)
async def get_rule(request: Request, rule_id: int) -> dict[str, Any]:
    await instance_admin(request)
    return await services(request).alerts.rule(rule_id)


@router.put("/admin/alerts/rule/{rule_id}", summary="Replace an alert rule", responses=_E)
async def replace_rule(request: Request, rule_id: int, body: JsonBody) -> dict[str, Any]:
    await instance_admin(request)
    return await services(request).alerts.save_rule(body, rule_id)


@router.delete("/admin/alerts/rule/{rule_id}", summary="Delete an alert rule",
               status_code=204, responses=_E)
async def delete_rule(request: Request, rule_id: int) -> Response:
    await instance_admin(request)
    await services(request).alerts.delete_rule(rule_id)
    return Response(status_code=204)


@router.post("/admin/monitoring/threshold", summary="Set a threshold on a metric",
             responses=_E)
async def set_threshold(request: Request, body: Annotated[dict[str, Any], Body(examples=[
        {"metric": "liveinsight_wal_bytes", "op": ">", "threshold": 500_000_000,
         "for": "5m", "severity": "critical", "channels": [1]}])]) -> dict[str, Any]:
    await instance_admin(request)
    return await services(request).alerts.set_threshold(body)


# --- state and history --------------------------------------------------------------------
@router.get("/admin/monitoring/alerts", summary="The current state of every alert rule",
            responses=_E)
async def alerts_state(request: Request) -> dict[str, Any]:
    await instance_admin(request)
    return await services(request).alerts.alerts()


@router.get("/admin/alerts/history", summary="What alerting did, newest first", responses=_E)
async def history(request: Request, rule_id: int | None = None, kind: str | None = None,
                  since: datetime | None = None, until: datetime | None = None,
                  before_id: int | None = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    await instance_admin(request)
    items = await services(request).alerts.history(
        rule_id=rule_id, kind=kind, since=since, until=until, before_id=before_id, limit=limit)
    return {"events": items, "next_before_id": items[-1]["id"] if len(items) == limit
            else None}


@router.post("/admin/alerts/ack", summary="Acknowledge a firing alert", responses=_E)
async def acknowledge(request: Request, body: JsonBody) -> dict[str, Any]:
    actor = await _actor(request)
    return await services(request).alerts.acknowledge(body, actor)


# --- channels -------------------------------------------------------------------------------
@router.post("/admin/alerts/channel", summary="Add a notification channel", status_code=201,
             responses=_E)
async def create_channel(request: Request, body: Annotated[dict[str, Any], Body(examples=[
        {"name": "ops mail", "kind": "email", "to": ["ops@example.com"],
         "max_per_hour": 20}])]) -> dict[str, Any]:
    await instance_admin(request)
    return await services(request).alerts.save_channel(body)


@router.get("/admin/alerts/channels", summary="Every notification channel", responses=_E)
async def list_channels(request: Request) -> list[dict[str, Any]]:
    await instance_admin(request)
    return await services(request).alerts.channels()


@router.put("/admin/alerts/channel/{channel_id}", summary="Replace a channel", responses=_E)
async def replace_channel(request: Request, channel_id: int, body: JsonBody
                          ) -> dict[str, Any]:
    await instance_admin(request)
    return await services(request).alerts.save_channel(body, channel_id)


@router.delete("/admin/alerts/channel/{channel_id}", summary="Delete a channel",
               status_code=204, responses=_E)
async def delete_channel(request: Request, channel_id: int) -> Response:
    await instance_admin(request)
    await services(request).alerts.delete_channel(channel_id)
    return Response(status_code=204)


@router.post("/admin/alerts/channel/{channel_id}/test", summary="Send a test notification",
             responses=error_responses(400, 401, 403, 404, 503))
async def test_channel(request: Request, channel_id: int) -> dict[str, Any]:
    await instance_admin(request)
    return await services(request).alerts.test_channel(channel_id)


# --- incidents ------------------------------------------------------------------------------
@router.post("/admin/incidents/create", summary="Open an incident", status_code=201,
             responses=_E)
async def create_incident(request: Request, body: Annotated[dict[str, Any], Body(examples=[
        {"title": "Dashboard slow for EU users", "severity": "warning",
         "assignee": "oncall@example.com", "note": "reported by support"}])]
                          ) -> dict[str, Any]:
    actor = await _actor(request)
    return await services(request).alerts.create_incident(body, actor)


@router.get("/admin/incidents", summary="Incidents, newest first", responses=_E)
async def list_incidents(request: Request, status: str | None = None,
                         limit: Annotated[int, Query(ge=1, le=200)] = 50
                         ) -> list[dict[str, Any]]:
    await instance_admin(request)
    return await services(request).alerts.incident_list(status, limit)


@router.get("/admin/incidents/{incident_id}", summary="One incident and its timeline",
            responses=_E)
async def get_incident(request: Request, incident_id: int) -> dict[str, Any]:
    await instance_admin(request)
    return await services(request).alerts.incident(incident_id)


@router.post("/admin/incidents/{incident_id}", summary="Change an incident's status or "
             "assignee, or add a note", responses=_E)
async def update_incident(request: Request, incident_id: int, body: JsonBody
                          ) -> dict[str, Any]:
    actor = await _actor(request)
    return await services(request).alerts.update_incident(incident_id, body, actor)
