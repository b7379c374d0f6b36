"""Reading the audit log over HTTP.

What is recorded: the front door (``api/frontdoor.py``) records every state-changing
request (POST, PUT, PATCH, DELETE) but the collector's, with what the request noted on its
way (``api/notes.py``: who asked, which site, details); sign-ins and rate-limit trips are
recorded as events of their own, as is an API key's use from a new network; every 403
(whatever the method) is recorded too. Security events are flagged (``AuditEntry.flagged``).

``GET /admin/audit`` (instance admins: a logged-in admin or an admin key for every site)
and the ``/audit`` page read the log, newest first, filtered by time, actor, action and
site, a page at a time. ``GET /admin/audit/export`` streams every match, oldest first, as
NDJSON or CSV, from the chain (the metadata database) or from its ClickHouse copies
(``ops/auditship.py``).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from liveinsight.api import session as auth
from liveinsight.api.access import instance_admin
from liveinsight.api.dashboard import page, to_login
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.errors import Invalid, Unavailable
from liveinsight.meta.audit import MAX_PAGE, AuditQuery
from liveinsight.ops import auditship
from liveinsight.security.audit import AuditRecord
from liveinsight.services import Services

log = logging.getLogger("liveinsight.audit")
MAX_EXPORT = 1_000_000
"""Records in one export at most (narrow it by time for more)."""
EXPORT_PAGE = 500
EXPORT_FIELDS = ("seq", "at", "actor", "action", "target", "outcome", "status", "site_id",
                 "client", "request_id", "details", "flagged", "prev_hash", "hash")


def _json(record: AuditRecord) -> dict[str, Any]:
    e = record.entry
    return {"seq": record.seq, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
            "target": e.target, "outcome": e.outcome, "status": e.status,
            "site_id": e.site_id, "client": e.client, "request_id": e.request_id,
            "details": e.details, "flagged": e.flagged, "prev_hash": record.prev_hash,
            "hash": record.hash}


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
    if not (value.strip().isascii() and value.strip().isdigit()) or len(value.strip()) > 12:
        raise Invalid(f"{name} must be a positive whole number", name)
    return int(value)


async def _page(svc: Services, source: str, q: AuditQuery, after: int
                ) -> list[AuditRecord]:
    if source == "chain":
        return await run_in_threadpool(svc.audit.store.scan, q, after)
    sql, params = auditship.copies_sql(svc.store.database, q, after, q.limit)
    rows = await run_in_threadpool(svc.runner.raw, sql, params, "audit")
    return [auditship.from_copy(row) for row in rows]


def _csv(records: list[AuditRecord], header: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(EXPORT_FIELDS)
    for record in records:
        doc = _json(record)
        doc["details"] = orjson.dumps(doc["details"], option=orjson.OPT_SORT_KEYS).decode()
        writer.writerow([_cell(doc[name]) for name in EXPORT_FIELDS])
    return out.getvalue().encode()


def _cell(value: Any) -> Any:
    """A spreadsheet must not run an attacker's text (an e-mail address typed at sign-in
    is a target): text starting as a formula is quoted with a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


@router.get("/admin/audit/export", dependencies=[Depends(instance_admin)],
            summary="Export the audit log (NDJSON or CSV, streamed)",
            response_class=StreamingResponse,
            responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}},
                             "description": "The records, oldest first"},
                       **error_responses(400, 401, 403, 503)})
async def audit_export(request: Request, since: Text = None, until: Text = None,
                       actor: Text = None, action: Text = None,
                       site_id: Annotated[int | None, Query(ge=1)] = None,
                       flagged: bool = False,
                       format: Literal["ndjson", "csv"] = "ndjson",
                       source: Literal["chain", "clickhouse"] = "chain",
                       limit: Annotated[int, Query(ge=1, le=MAX_EXPORT)] = MAX_EXPORT
                       ) -> StreamingResponse:
    """Every record matching the filters of ``GET /admin/audit`` (``since``, ``until``,
    ``actor``, ``action``, ``site_id``, ``flagged``), oldest first, at most ``limit``
    (default and maximum 1,000,000), streamed: ``format`` ``ndjson`` (one JSON object per
    line, as the entries of ``GET /admin/audit``) or ``csv`` (a header row; ``details`` as
    JSON; cells that would start a spreadsheet formula get a leading ``'``). ``source``:
    ``chain`` (default: the hash chain in the metadata database, what ``liveinsight audit
    verify`` checks, kept ``audit_retention_days``) or ``clickhouse`` (the copies in the
    ``audit`` table, kept ``audit_store_retention_days``; 503 when ClickHouse is away).
    Each record has its ``seq``, ``prev_hash`` and ``hash``: consecutive records link."""
    svc = services(request)
    if source == "clickhouse" and svc.audit_copies is None:
        raise Invalid("the ClickHouse copies are off on this server (audit_store); use "
                      "source=chain", "source")
    q = _query(since, until, actor, action, site_id, None, EXPORT_PAGE, flagged)
    first = await _page(svc, source, q, 0)  # a failure is still an error answer here

    async def pages() -> AsyncIterator[bytes]:
        records, sent = first, 0
        if format == "csv":
            yield _csv([], header=True)
        while records and sent < limit:
            records = records[:limit - sent]
            sent += len(records)
            yield (_csv(records, header=False) if format == "csv" else
                   b"".join(orjson.dumps(_json(r)) + b"\n" for r in records))
            if len(records) < EXPORT_PAGE or sent >= limit:
                return
            try:
                records = await _page(svc, source, q, records[-1].seq)
            except Unavailable as exc:  # the answer has begun: end it short, and say so
                log.warning("audit export cut short after %d records: %s", sent, exc)
                return

    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    stamp = svc.clock().strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(pages(), media_type=media, headers={
        "cache-control": "no-store",
        "content-disposition": f'attachment; filename="audit-{stamp}.{format}"'})
