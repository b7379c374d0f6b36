"""The alerting pages of the dashboard (instance admins only): rules (list, create, edit,
delete), channels (add, delete, test-send), the alert history and incidents (open, and
acknowledge, resolve, assign, annotate).

Server-rendered like the other pages; each form carries the session's CSRF token and every
change goes through the same domain calls as the alerting API (``ops/alerts/service.py``),
so the same validation answers: a refused form is shown again with the reason (400).
A viewer (not an admin) gets a 403 page; API keys do not open pages.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from liveinsight.api import session as auth
from liveinsight.api.dashboard import page, to_login
from liveinsight.api.deps import services
from liveinsight.api.forms import member_form
from liveinsight.api.session import Viewer
from liveinsight.errors import Forbidden, Invalid, NotFound, Problem

router = APIRouter(include_in_schema=False)

SEVERITIES = ("info", "warning", "critical")
OPS = (">", ">=", "<", "<=", "==", "!=")
STATS = ("value", "increase", "rate", "change", "p50", "p90", "p95", "p99", "mean")
CHANNEL_KINDS = ("email", "slack", "webhook", "sms")
# the rule fields the form shows; the others are kept in its "more" JSON field
_RULE_FORM = ("name", "kind", "severity", "metric", "stat", "window", "op", "threshold",
              "site_id", "mode", "visitors", "percent", "events", "action", "for", "channels",
              "enabled")
_RULE_READ_ONLY = ("id", "condition", "created_at", "updated_at")


async def _admin_viewer(request: Request) -> Viewer | Response:
    viewer = await auth.current_viewer(request)
    if viewer is None:
        return to_login(request)
    if not viewer.is_admin:
        return page(request, "missing.html", {
            "viewer": viewer, "message": "Alerting is for instance admins."}, 403)
    return viewer


async def _admin_form(request: Request) -> tuple[Viewer, Any]:
    viewer, form = await member_form(request)
    if not viewer.is_admin:
        raise Forbidden("alerting needs the admin role")
    return viewer, form


def _missing(request: Request, viewer: Viewer, message: str) -> Response:
    return page(request, "missing.html", {"viewer": viewer, "message": message}, 404)


def _back(path: str, **message: str) -> RedirectResponse:
    query = "&".join(f"{k}={quote(v)}" for k, v in message.items())
    return RedirectResponse(path + (f"?{query}" if query else ""), status_code=303)


# --- rules -----------------------------------------------------------------------------------


@router.get("/alerting")
async def overview(request: Request, done: str = "", error: str = "") -> Response:
    viewer = await _admin_viewer(request)
    if not isinstance(viewer, Viewer):
        return viewer
    alerts = services(request).alerts
    state = await alerts.alerts()
    names = {c["id"]: c["name"] for c in await alerts.channels()}
    rule_channels = {r["id"]: ", ".join(names.get(c, f"#{c}") for c in r["channels"])
                     for r in await alerts.rules()}
    return page(request, "alerting.html", {
        "viewer": viewer, "tab": "rules", "state": state, "done": done, "error": error,
        "rule_channels": rule_channels})


async def _rule_page(request: Request, viewer: Viewer, rule: dict[str, Any],
                     error: str | None, status: int = 200) -> Response:
    channels = await services(request).alerts.channels()
    rule = dict(rule)
    raw = rule.pop("more_raw", None)
    extra = {k: v for k, v in rule.items()
             if k not in _RULE_FORM + _RULE_READ_ONLY and v is not None}
    more = raw if raw is not None else json.dumps(extra, indent=1) if extra else ""
    return page(request, "alert_rule.html", {
        "viewer": viewer, "tab": "rules", "rule": rule, "error": error,
        "channels": channels, "more": more,
        "severities": SEVERITIES, "ops": OPS, "stats": STATS}, status)


@router.get("/alerting/rules/new")
async def new_rule(request: Request) -> Response:
    viewer = await _admin_viewer(request)
    if not isinstance(viewer, Viewer):
        return viewer
    return await _rule_page(request, viewer, {"kind": "metric", "severity": "warning",
                                              "stat": "value", "op": ">", "enabled": True,
                                              "for": "0s", "window": "5m"}, None)


@router.get("/alerting/rules/{rule_id}")
async def edit_rule(request: Request, rule_id: int) -> Response:
    viewer = await _admin_viewer(request)
    if not isinstance(viewer, Viewer):
        return viewer
    try:
        rule = await services(request).alerts.rule(rule_id)
    except NotFound:
        return _missing(request, viewer, f"There is no alert rule with id {rule_id}.")
    return await _rule_page(request, viewer, rule, None)


def _number(value: str) -> float | int | str:
    try:
        number = float(value)
    except ValueError:
        return value  # the rule's parser names the field
    return int(number) if number.is_integer() and "." not in value else number


def _rule_body(form: Any) -> dict[str, Any]:
    """A rule body from the form: the "more" JSON object, then the form's fields."""
    raw = str(form.get("more", "")).strip()
    body: dict[str, Any] = {}
    if raw:
        try:
            parsed = json.loads(raw)
        except ValueError as exc:
            raise Invalid(f"Other fields: not JSON ({exc})", field="more") from None
        if not isinstance(parsed, dict):
            raise Invalid("Other fields: a JSON object is expected", field="more")
        body.update(parsed)
    kind = str(form.get("kind", "metric"))
    body.update({"name": str(form.get("name", "")).strip(), "kind": kind,
                 "severity": str(form.get("severity", "warning")),
                 "for": str(form.get("for", "0s")).strip() or "0s",
                 "channels": [int(c) for c in form.getlist("channels")
                              if str(c).isascii() and str(c).isdigit()],
                 "enabled": form.get("enabled") == "on"})
    if kind == "metric":
        for key in ("metric", "stat", "window", "op"):
            if str(form.get(key, "")).strip():
                body[key] = str(form.get(key)).strip()
        body["threshold"] = _number(str(form.get("threshold", "")).strip())
    elif kind == "security":
        body["events"] = _number(str(form.get("events", "")).strip() or "1")
        body["action"] = str(form.get("action", "")).strip()
        if str(form.get("window", "")).strip():
            body["window"] = str(form.get("window")).strip()
    else:
        body["site_id"] = str(form.get("site_id", "")).strip()
        body["mode"] = str(form.get("mode", "spike"))
        if str(form.get("window", "")).strip():
            body["window"] = str(form.get("window")).strip()
        key = "visitors" if body["mode"] == "spike" else "percent"
        body[key] = _number(str(form.get(key, "")).strip())
    return body


async def _save_rule(request: Request, rule_id: int | None) -> Response:
    viewer, form = await _admin_form(request)
    alerts = services(request).alerts
    if rule_id is not None:
        await alerts.rule(rule_id)  # 404 before 400
    body: dict[str, Any] = {}
    try:
        body = _rule_body(form)
        saved = await alerts.save_rule(body, rule_id)
    except Problem as exc:
        if exc.kind == "not_found":
            raise
        shown = {**body, "more_raw": str(form.get("more", ""))}
        if rule_id is not None:
            shown["id"] = rule_id
        return await _rule_page(request, viewer, shown, _say(exc), 400)
    return _back("/alerting", done=f"Rule {saved['name']!r} saved.")


def _say(exc: Problem) -> str:
    return f"{exc.message}" + (f" (field: {exc.field})" if exc.field else "")


@router.post("/alerting/rules")
async def create_rule(request: Request) -> Response:
    return await _save_rule(request, None)


@router.post("/alerting/rules/{rule_id}")
async def update_rule(request: Request, rule_id: int) -> Response:
    return await _save_rule(request, rule_id)


@router.post("/alerting/rules/{rule_id}/delete")
async def delete_rule(request: Request, rule_id: int) -> Response:
    await _admin_form(request)
    await services(request).alerts.delete_rule(rule_id)
    return _back("/alerting", done="Rule deleted.")


# --- channels --------------------------------------------------------------------------------


@router.get("/alerting/channels")
async def channels(request: Request, done: str = "", error: str = "") -> Response:
    viewer = await _admin_viewer(request)
    if not isinstance(viewer, Viewer):
        return viewer
    return await _channels_page(request, viewer, done=done, error=error)


async def _channels_page(request: Request, viewer: Viewer, *, done: str = "",
                         error: str = "", form: dict[str, Any] | None = None,
                         status: int = 200) -> Response:
    return page(request, "alert_channels.html", {
        "viewer": viewer, "tab": "channels", "done": done, "error": error,
        "channels": await services(request).alerts.channels(), "kinds": CHANNEL_KINDS,
        "form": form or {"kind": "email", "max_per_hour": 30}}, status)


def _channel_body(form: Any) -> dict[str, Any]:
    kind = str(form.get("kind", "email"))
    body: dict[str, Any] = {"name": str(form.get("name", "")).strip(), "kind": kind,
                            "max_per_hour": _number(str(form.get("max_per_hour", "30")))}
    lines = [t.strip() for t in str(form.get("to", "")).replace(",", "\n").splitlines()
             if t.strip()]
    if kind == "email":
        body["to"] = lines
    elif kind in ("slack", "webhook"):
        body["url"] = str(form.get("url", "")).strip()
        if kind == "webhook" and str(form.get("secret", "")).strip():
            body["secret"] = str(form.get("secret")).strip()
    else:
        body.update({"to": lines, **{k: str(form.get(k, "")).strip()
                                     for k in ("account_sid", "auth_token", "from")}})
    return body


@router.post("/alerting/channels")
async def create_channel(request: Request) -> Response:
    viewer, form = await _admin_form(request)
    body = _channel_body(form)
    try:
        made = await services(request).alerts.save_channel(body)
    except Problem as exc:
        shown = {**body, "to": "\n".join(body.get("to", [])), "auth_token": ""}
        return await _channels_page(request, viewer, error=_say(exc), form=shown,
                                    status=400)
    done = f"Channel {made['name']!r} added."
    if "secret" in made:
        done += f" Its signing secret (shown once): {made['secret']}"
    return _back("/alerting/channels", done=done)


@router.post("/alerting/channels/{channel_id}/delete")
async def delete_channel(request: Request, channel_id: int) -> Response:
    await _admin_form(request)
    try:
        await services(request).alerts.delete_channel(channel_id)
    except Problem as exc:
        if exc.kind == "not_found":
            raise
        return _back("/alerting/channels", error=_say(exc))
    return _back("/alerting/channels", done="Channel deleted.")


@router.post("/alerting/channels/{channel_id}/test")
async def test_channel(request: Request, channel_id: int) -> Response:
    await _admin_form(request)
    try:
        await services(request).alerts.test_channel(channel_id)
    except Problem as exc:
        if exc.kind == "not_found":
            raise
        return _back("/alerting/channels", error=_say(exc))
    return _back("/alerting/channels", done="Test message sent.")


# --- history ---------------------------------------------------------------------------------


@router.get("/alerting/history")
async def history(request: Request, kind: str = "", before_id: int | None = None
                  ) -> Response:
    viewer = await _admin_viewer(request)
    if not isinstance(viewer, Viewer):
        return viewer
    filters: dict[str, Any] = {"limit": 100}
    if kind:
        filters["kind"] = kind[:40]
    if before_id is not None:
        filters["before_id"] = before_id
    events = await services(request).alerts.history(**filters)
    return page(request, "alert_history.html", {
        "viewer": viewer, "tab": "history", "events": events, "kind": kind,
        "next_before_id": events[-1]["id"] if len(events) == 100 else None})


# --- incidents -------------------------------------------------------------------------------


@router.get("/alerting/incidents")
async def incidents(request: Request, status: str = "", done: str = "", error: str = ""
                    ) -> Response:
    viewer = await _admin_viewer(request)
    if not isinstance(viewer, Viewer):
        return viewer
    shown = status if status in ("open", "acknowledged", "resolved") else None
    return page(request, "alert_incidents.html", {
        "viewer": viewer, "tab": "incidents", "status": shown or "", "done": done,
        "error": error, "severities": SEVERITIES,
        "incidents": await services(request).alerts.incident_list(shown, 200)})


@router.get("/alerting/incidents/{incident_id}")
async def incident(request: Request, incident_id: int, done: str = "", error: str = ""
                   ) -> Response:
    viewer = await _admin_viewer(request)
    if not isinstance(viewer, Viewer):
        return viewer
    try:
        found = await services(request).alerts.incident(incident_id)
    except NotFound:
        return _missing(request, viewer, f"There is no incident with id {incident_id}.")
    return page(request, "alert_incident.html", {
        "viewer": viewer, "tab": "incidents", "done": done, "error": error,
        "incident": found})


@router.post("/alerting/incidents")
async def create_incident(request: Request) -> Response:
    viewer, form = await _admin_form(request)
    body = {k: str(form.get(k, "")).strip() for k in ("title", "severity", "assignee", "note")}
    body = {k: v for k, v in body.items() if v}
    try:
        made = await services(request).alerts.create_incident(body, viewer.user.email)
    except Problem as exc:
        return _back("/alerting/incidents", error=_say(exc))
    return _back(f"/alerting/incidents/{made['id']}", done="Incident opened.")


@router.post("/alerting/incidents/{incident_id}")
async def update_incident(request: Request, incident_id: int) -> Response:
    viewer, form = await _admin_form(request)
    body: dict[str, Any] = {}
    if form.get("status"):
        body["status"] = str(form.get("status"))
    if "assignee" in form:
        body["assignee"] = str(form.get("assignee", "")).strip() or None
    if str(form.get("note", "")).strip():
        body["note"] = str(form.get("note")).strip()
    path = f"/alerting/incidents/{incident_id}"
    try:
        await services(request).alerts.update_incident(incident_id, body, viewer.user.email)
    except Problem as exc:
        if exc.kind == "not_found":
            raise
        return _back(path, error=_say(exc))
    return _back(path, done="Incident updated.")

