"""The service's own logs (the ``logs`` table, ``ops/logship.py``): ``GET /admin/logs/search``,
``GET /admin/logs/analytics``, ``POST /admin/logs/export``. Instance administrators only
(checked before the request is read). Filters and their limits: ``ops/logsearch.py``."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from liveinsight.api.access import instance_admin
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.errors import Invalid
from liveinsight.ops import logsearch
from liveinsight.ops.logsearch import LogFilter
from liveinsight.services import Services

router = APIRouter(tags=["admin"], dependencies=[Depends(instance_admin)])
_E = error_responses(400, 401, 403, 503)

Text = Annotated[str | None, Query(max_length=logsearch.MAX_TEXT)]


def parse(svc: Services, params: dict[str, Any]) -> LogFilter:
    """The filter of a request's parameters (``None`` values left out)."""
    return _filter(svc, params)


def _filter(svc: Services, params: dict[str, Any]) -> LogFilter:
    return logsearch.parse_filter({k: v for k, v in params.items() if v is not None},
                                  svc.clock())


def _raw(svc: Services, sql: tuple[str, dict[str, Any]]) -> list[list[Any]]:
    return svc.runner.raw(sql[0], sql[1], "logs")


@router.get("/admin/logs/search", summary="Search the service's log records", responses=_E)
async def search(
        request: Request,
        since: Annotated[str | None, Query(description="ISO 8601; default: an hour before "
                                           "`until`")] = None,
        until: Annotated[str | None, Query(description="ISO 8601; default: now")] = None,
        level: Annotated[str | None, Query(description="The lowest level: debug, info, "
                                           "warning, error, critical")] = None,
        logger: Annotated[str | None, Query(description="A logger's name, or a prefix "
                                            "ending in *")] = None,
        text: Annotated[str | None, Query(description="A substring of the message or the "
                                          "exception (case-insensitive)")] = None,
        request_id: Text = None, route: Text = None, trace_id: Text = None,
        fingerprint: Text = None, node: Text = None,
        status: Annotated[str | None, Query()] = None,
        site_id: Annotated[str | None, Query()] = None,
        field: Annotated[list[str] | None, Query(description="key:value of a record's other "
                                                 "fields (up to 5)")] = None,
        limit: Annotated[int, Query(ge=1, le=logsearch.MAX_LIMIT)] = 100,
        offset: Annotated[int, Query(ge=0, le=logsearch.MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Records of a time range (at most 31 days; default the last hour), newest first,
    with ``total`` (how many match) and ``next_offset`` (null on the last page)."""
    svc = services(request)
    f = _filter(svc, {"since": since, "until": until, "level": level, "logger": logger,
                      "text": text, "request_id": request_id, "route": route,
                      "trace_id": trace_id, "fingerprint": fingerprint, "node": node,
                      "status": status, "site_id": site_id, "field": field})
    return await run_search(svc, f, limit, offset)


async def run_search(svc: Services, f: LogFilter, limit: int, offset: int) -> dict[str, Any]:
    """One page of the search (the API's answer; the Logs page shows it)."""
    db = svc.store.database

    def run() -> tuple[int, list[list[Any]]]:
        total = int(_raw(svc, logsearch.count_sql(db, f))[0][0])
        return total, _raw(svc, logsearch.search_sql(db, f, limit, offset))

    total, rows = await run_in_threadpool(run)
    more = offset + len(rows) < total and offset + limit <= logsearch.MAX_OFFSET
    return {"since": f.since.isoformat(), "until": f.until.isoformat(), "total": total,
            "limit": limit, "offset": offset, "next_offset": offset + limit if more else None,
            "records": [logsearch.record(r) for r in rows]}


@router.get("/admin/logs/analytics", summary="Log counts over time, by route and status; "
            "top errors", responses=_E)
async def analytics(
        request: Request,
        since: Annotated[str | None, Query()] = None,
        until: Annotated[str | None, Query()] = None,
        level: Annotated[str | None, Query()] = None,
        logger: Annotated[str | None, Query()] = None,
        text: Text = None, route: Text = None, node: Text = None,
        site_id: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """Over the range (the same filters as the search): ``timeline`` (records per bucket
    and level; buckets of 1 min to 1 day, at most 360), ``routes`` (requests, 5xx answers
    and mean duration per route and method), ``statuses``, and ``top_errors``: error and
    critical records grouped by fingerprint, most frequent first, with the latest message
    and exception and when the group was first and last seen."""
    svc = services(request)
    f = _filter(svc, {"since": since, "until": until, "level": level, "logger": logger,
                      "text": text, "route": route, "node": node, "site_id": site_id})
    return await run_analytics(svc, f)


async def run_analytics(svc: Services, f: LogFilter) -> dict[str, Any]:
    """The analytics of ``f`` (the API's answer; the Logs page shows its top errors)."""
    queries = logsearch.analytics_sql(svc.store.database, f)

    def run() -> dict[str, list[list[Any]]]:
        return {name: _raw(svc, sql) for name, sql in queries.items()}

    found = await run_in_threadpool(run)
    iso = logsearch.iso
    return {
        "since": f.since.isoformat(), "until": f.until.isoformat(),
        "step_seconds": logsearch.step_seconds(f),
        "timeline": [{"t": iso(t), "level": lv, "count": n} for t, lv, n in found["timeline"]],
        "routes": [{"route": r, "method": m, "requests": n, "errors_5xx": e,
                    "mean_ms": float(d)} for r, m, n, e, d in found["routes"]],
        "statuses": {str(s): n for s, n in found["statuses"]},
        "top_errors": [{"fingerprint": fp, "count": n, "level": lv, "logger": lg,
                        "message": msg, "exception": exc, "first_seen": iso(first),
                        "last_seen": iso(last)}
                       for fp, n, lv, lg, msg, exc, first, last in found["top_errors"]],
    }


_EXPORT_EXAMPLE = {"since": "2026-12-05T00:00:00Z", "until": "2026-12-05T06:00:00Z",
                   "level": "warning", "format": "ndjson", "limit": 10000}


@router.post("/admin/logs/export", summary="Export log records (NDJSON or CSV, streamed)",
             response_class=StreamingResponse,
             responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}},
                              "description": "The records, oldest first"}, **_E})
async def export(request: Request, body: Annotated[dict[str, Any], Body(
        examples=[_EXPORT_EXAMPLE])]) -> StreamingResponse:
    """The records matching the search's filters (a JSON object: ``since``, ``until``,
    ``level``, ``logger``, ``text``, ``request_id``, ``route``, ``trace_id``,
    ``fingerprint``, ``node``, ``status``, ``site_id``, ``field`` (a list of key:value)),
    oldest first, as ``format`` ``ndjson`` (default: one JSON object per line) or ``csv``
    (a header row; ``fields`` as a JSON object), at most ``limit`` (default and maximum
    100,000). Streamed in pages of 5,000; ``X-Log-Records`` says how many come."""
    svc = services(request)
    fmt = body.get("format", "ndjson")
    if fmt not in ("ndjson", "csv"):
        raise Invalid("format must be ndjson or csv", field="format")
    limit = body.get("limit", logsearch.MAX_EXPORT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not \
            1 <= limit <= logsearch.MAX_EXPORT:
        raise Invalid(f"limit must be a whole number from 1 to {logsearch.MAX_EXPORT}",
                      field="limit")
    params: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("format", "limit"):
            continue
        if key == "field" and isinstance(value, list):
            params[key] = [str(v) for v in value]
        elif isinstance(value, str | int) and not isinstance(value, bool):
            params[key] = str(value)
        else:
            raise Invalid(f"{key} must be a string", field=key)
    f = _filter(svc, params)
    db = svc.store.database
    total = min(limit, int((await run_in_threadpool(
        _raw, svc, logsearch.count_sql(db, f)))[0][0]))

    async def pages() -> AsyncIterator[bytes]:
        sent = 0
        if fmt == "csv":
            yield _csv_rows([list(logsearch.COLUMNS)])
        while sent < total:
            size = min(logsearch.EXPORT_PAGE, total - sent)
            rows = await run_in_threadpool(
                _raw, svc, logsearch.search_sql(db, f, size, sent, ascending=True))
            if not rows:
                return
            records = [logsearch.record(r) for r in rows]
            yield _csv_rows([[orjson.dumps(v).decode() if isinstance(v, dict) else v
                              for v in r.values()] for r in records]) if fmt == "csv" else \
                b"".join(orjson.dumps(r) + b"\n" for r in records)
            sent += len(rows)

    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    stamp = f.since.strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(pages(), media_type=media, headers={
        "x-log-records": str(total),
        "content-disposition": f'attachment; filename="logs-{stamp}.{fmt}"'})


def _csv_rows(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()
