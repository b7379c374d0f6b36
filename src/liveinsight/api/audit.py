"""Reading the audit log over HTTP.

What is recorded: the front door (``api/frontdoor.py``) records every state-changing
request (POST, PUT, PATCH, DELETE) but the collector's, with what the request noted on its
way (``api/notes.py``: who asked, which site, details); sign-ins and rate-limit trips are
recorded as events of their own, as is an API key's use from a new network; every 403
(whatever the method) is recorded too. Security events are flagged (``AuditEntry.flagged``).

``GET /admin/audit`` (instance admins: a logged-in admin or an admin key for every site)
and the ``/audit`` page read the log, newest first, filtered by time, actor, action and
site, a page at a time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from liveinsight.api import session as auth
from liveinsight.api.access import instance_admin
from liveinsight.api.dashboard import page, to_login
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.errors import Invalid
from liveinsight.meta.audit import MAX_PAGE, AuditQuery
from liveinsight.security.audit import AuditRecord


def _json(record: AuditRecord) -> dict[str, Any]:
    e = record.entry
    return {"seq": record.seq, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
            "target": e.target, "outcome": e.outcome, "status": e.status,
            "site_id": e.site_id, "client": e.client, "request_id": e.request_id,
            "details": e.details, "flagged": e.flagged, "hash": record.hash}


def _when(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"{name} must be an ISO-8601 date or time (2026-12-05T10:00:00Z)",
                      name) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _query(since: str | None, until: str | None, actor: str | None, action: str | None,
           site_id: int | None, before: int | None, limit: int, flagged: bool = False
           ) -> AuditQuery:
    return AuditQuery(since=_when(since, "since"), until=_when(until, "until"),
                      actor=(actor or "").strip()[:200] or None,
                      action=(action or "").strip()[:200] or None, site_id=site_id,
                      before=before, limit=limit, flagged=flagged)


router = APIRouter(tags=["admin"])
pages = APIRouter(include_in_schema=False)
Text = Annotated[str | None, Query(max_length=200)]


@router.get("/admin/audit", dependencies=[Depends(instance_admin)],
            responses=error_responses(400, 401, 403))
async def audit_log(request: Request, since: Text = None, until: Text = None,
                    actor: Text = None, action: Text = None,
                    site_id: Annotated[int | None, Query(ge=1)] = None,
                    before: Annotated[int | None, Query(ge=1)] = None,
                    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
                    flagged: bool = False) -> dict[str, Any]:
    """The audit log, newest first: state-changing requests and security events with who,
    what, which site, the outcome, a keyed hash of the client address and the request id.
    ``since``/``until``: ISO-8601 times (UTC when no offset); ``actor``: a part of it
    (``ann@example.com``, ``key:5``); ``action``: the action or its beginning (``login.``,
    ``POST /sites``); ``before``: the ``next_before`` of the previous page; ``flagged``:
    security events only (failed sign-ins, lockouts, an API key's use from a new network,
    permission denials), each entry says whether it is one."""
    q = _query(since, until, actor, action, site_id, before, limit, flagged)
    records = await run_in_threadpool(services(request).audit.store.page, q)
    more = len(records) == q.limit and records[-1].seq > 1
    return {"entries": [_json(r) for r in records],
            "next_before": records[-1].seq if records and more else None}


@pages.get("/audit")
async def audit_page(request: Request, since: str = "", until: str = "", actor: str = "",
                     action: str = "", site_id: str = "", before: str = "",
                     flagged: str = "") -> Response:
    viewer = await auth.current_viewer(request)
    if viewer is None:
        return to_login(request)
    if not viewer.is_admin:
        return page(request, "missing.html", {
            "viewer": viewer, "message": "The audit log is for instance admins."}, 403)
    form = {"since": since[:40], "until": until[:40], "actor": actor[:200],
            "action": action[:200], "site_id": site_id[:12],
            "flagged": "true" if flagged == "true" else ""}
    error, records = "", []
    try:
        q = _query(since[:40], until[:40], actor, action,
                   _number(site_id, "site_id"), _number(before, "before"), 50,
                   flagged == "true")
        records = await run_in_threadpool(services(request).audit.store.page, q)
    except Invalid as exc:
        error = exc.message
    more = len(records) == 50 and records[-1].seq > 1
    return page(request, "audit.html", {
        "viewer": viewer, "records": records, "form": form, "error": error,
        "next_before": records[-1].seq if records and more else None},
        400 if error else 200)


def _number(value: str, name: str) -> int | None:
    if not value.strip():
        return None
    if not value.strip().isdigit() or len(value.strip()) > 12:
        raise Invalid(f"{name} must be a positive whole number", name)
    return int(value)
