"""Performance from the service's own traces and request records: ``GET
/admin/performance/traces`` (search), ``GET /admin/performance/traces/{trace_id}`` (one
trace as a tree), ``GET /admin/performance/metrics`` (latency percentiles and throughput per
route over time), ``GET /admin/performance/bottlenecks``. Instance administrators only
(checked before the request is read). Sources and limits: ``ops/perfsearch.py``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from liveinsight.api.access import instance_admin
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.errors import Invalid, NotFound
from liveinsight.ops import perfsearch
from liveinsight.ops.perfsearch import Range, Source
from liveinsight.services import Services

router = APIRouter(tags=["admin"], dependencies=[Depends(instance_admin)])
_E = error_responses(400, 401, 403, 503)

Since = Annotated[str | None, Query(description="ISO 8601; default: an hour before `until`")]
Until = Annotated[str | None, Query(description="ISO 8601; default: now")]
SourceParam = Annotated[str, Query(description="`logs` (default: the requests' log "
                                   "records, exact) or `spans` (the sampled requests, "
                                   "scaled by their sampling ratio)")]


def _raw(svc: Services, sql: tuple[str, dict[str, Any]]) -> list[list[Any]]:
    return svc.runner.raw(sql[0], sql[1], "performance")


def _iso(micros: Any) -> str:
    return datetime.fromtimestamp(int(micros) / 1e6, UTC).isoformat()


def _source(raw: str) -> Source:
    if raw not in ("logs", "spans"):
        raise Invalid("source is logs or spans", field="source")
    return "logs" if raw == "logs" else "spans"


def _range(svc: Services, since: str | None, until: str | None) -> Range:
    return perfsearch.parse_range({"since": since, "until": until}, svc.clock())


@router.get("/admin/performance/traces", summary="Search the traced requests", responses=_E)
async def traces(
        request: Request, since: Since = None, until: Until = None,
        route: Annotated[str | None, Query(description="A route's template, e.g. "
                                           "/api/stats/{kind}")] = None,
        name: Annotated[str | None, Query(description="The request span's name, e.g. "
                                          "GET /api/stats/{kind}")] = None,
        min_duration_ms: Annotated[str | None, Query(description="Only requests that took "
                                                     "at least this long")] = None,
        status: Annotated[str | None, Query(description="An HTTP status, or `error` (5xx or "
                                            "failed)")] = None,
        trace_id: Annotated[str | None, Query(description="32 hex digits")] = None,
        node: Annotated[str | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=perfsearch.MAX_LIMIT)] = 50,
        offset: Annotated[int, Query(ge=0, le=perfsearch.MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """The sampled requests of a range (at most 31 days; default the last hour), newest
    first: each request's own span (route, method, status, duration) with its trace id
    and how many spans its trace has; ``total`` and ``next_offset`` (null on the last
    page)."""
    svc = services(request)
    f = parse_traces(svc, {"since": since, "until": until, "route": route, "name": name,
                           "min_duration_ms": min_duration_ms, "status": status,
                           "trace_id": trace_id, "node": node})
    return await run_traces(svc, f, limit, offset)


def parse_traces(svc: Services, params: dict[str, Any]) -> perfsearch.TraceFilter:
    """The trace search of a request's parameters (``None`` and empty values left out)."""
    return perfsearch.parse_traces({k: v for k, v in params.items() if v}, svc.clock())


async def run_traces(svc: Services, f: perfsearch.TraceFilter, limit: int, offset: int
                     ) -> dict[str, Any]:
    """One page of the trace search (the API's answer; the Traces page shows it)."""
    queries = perfsearch.traces_sql(svc.store.database, f, limit, offset)

    def run() -> tuple[int, list[list[Any]], dict[str, int]]:
        total = int(_raw(svc, queries["total"])[0][0])
        page = _raw(svc, queries["page"])
        ids = sorted({row[0] for row in page})
        counts = {t: int(n) for t, n in _raw(svc, perfsearch.span_counts_sql(
            svc.store.database, ids, f.range))} if ids else {}
        return total, page, counts

    total, page, counts = await run_in_threadpool(run)
    more = offset + len(page) < total and offset + limit <= perfsearch.MAX_OFFSET
    found = []
    for row in page:
        item = dict(zip(perfsearch.TRACE_COLUMNS, row, strict=True))
        item["timestamp"] = _iso(item.pop("start_us"))
        item["error"] = bool(item["error"])
        item["duration_ms"] = round(float(item["duration_ms"]), 3)
        item["spans"] = counts.get(item["trace_id"], 0)
        found.append(item)
    return {"since": f.range.since.isoformat(), "until": f.range.until.isoformat(),
            "total": total, "limit": limit, "offset": offset,
            "next_offset": offset + limit if more else None, "traces": found}


@router.get("/admin/performance/traces/{trace_id}", summary="One trace as a tree",
            responses=error_responses(400, 401, 403, 404, 503))
async def trace(request: Request, trace_id: str) -> dict[str, Any]:
    """Every span of the trace (at most 5,000) in depth-first order, each with its
    ``depth`` in the tree and ``offset_ms`` (when it started after the trace's first span),
    so the list reads as an indented tree; 404 when no span of it is kept (not sampled, or
    older than `trace_retention_days`)."""
    return await run_trace(services(request), trace_id)


async def run_trace(svc: Services, trace_id: str) -> dict[str, Any]:
    """One trace as a tree (the API's answer; the trace page shows it); ``Invalid`` for a
    malformed id, ``NotFound`` when none of its spans is kept."""
    wanted = perfsearch.parse_trace_id(trace_id)
    if wanted is None:
        raise Invalid("trace_id is 32 hexadecimal digits", field="trace_id")
    rows = await run_in_threadpool(_raw, svc, perfsearch.trace_sql(svc.store.database, wanted))
    if not rows:
        raise NotFound(f"no spans of trace {wanted} are kept", field="trace_id")
    spans = [dict(zip(perfsearch.SPAN_COLUMNS, row, strict=True)) for row in rows]
    first = min(int(s["start_us"]) for s in spans)
    for s in spans:
        start = int(s.pop("start_us"))
        s["offset_ms"] = round((start - first) / 1000, 3)
        s["timestamp"] = _iso(start)
        s["error"] = bool(s["error"])
        s["duration_ms"] = round(float(s["duration_ms"]), 3)
    ordered = perfsearch.tree(spans)
    return {"trace_id": wanted, "spans": ordered, "truncated": len(rows) >=
            perfsearch.MAX_TRACE_SPANS,
            "duration_ms": round(max(s["offset_ms"] + s["duration_ms"] for s in spans), 3)}


def _figures(row: list[Any], seconds: float) -> dict[str, Any]:
    requests, errors, (p50, p95, p99) = int(row[0]), int(row[1]), row[2]
    return {"requests": requests, "errors_5xx": errors,
            "per_second": round(requests / seconds, 4) if seconds else 0.0,
            "p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99)}


@router.get("/admin/performance/metrics", summary="Latency percentiles and throughput per "
            "route over time", responses=_E)
async def metrics(
        request: Request, since: Since = None, until: Until = None,
        route: Annotated[str | None, Query(max_length=200, description="One route's "
                                           "template (default: the busiest routes)")] = None,
        routes: Annotated[int, Query(ge=1, le=perfsearch.MAX_ROUTES, description="How many "
                                     "of the busiest routes")] = 10,
        source: SourceParam = "logs",
) -> dict[str, Any]:
    """Per route and method (the ``routes`` busiest, or ``route``): requests, 5xx answers,
    requests a second and p50/p95/p99 latency in ms over the range (``routes``) and per
    bucket (``timeline``; buckets of 1 min to 1 day, at most 360)."""
    svc = services(request)
    chosen = _source(source)
    r = _range(svc, since, until)
    queries = perfsearch.metrics_sql(svc.store.database, r, chosen, route or None, routes)
    found = await run_in_threadpool(lambda: {k: _raw(svc, q) for k, q in queries.items()})
    step = perfsearch.step_seconds(r)
    return {
        "since": r.since.isoformat(), "until": r.until.isoformat(), "source": chosen,
        "step_seconds": step,
        "routes": [{"route": row[0], "method": row[1], **_figures(row[2:], r.seconds)}
                   for row in found["routes"]],
        "timeline": [{"t": row[0], "route": row[1], "method": row[2],
                      **_figures(row[3:], step)} for row in found["timeline"]],
    }


@router.get("/admin/performance/bottlenecks", summary="Routes and span kinds ranked by total "
            "time and by p95 regression", responses=_E)
async def bottlenecks(
        request: Request, since: Since = None, until: Until = None,
        limit: Annotated[int, Query(ge=1, le=perfsearch.MAX_ROUTES)] = 10,
        min_count: Annotated[int, Query(ge=1, le=1_000_000, description="Requests or spans "
                                        "a row needs in both periods to be compared")] = 5,
        source: SourceParam = "logs",
) -> dict[str, Any]:
    """Over the range (default the last hour) against the previous period of equal length:
    ``routes`` (from ``source``) and ``spans`` (span kinds by name, from the sampled
    spans, counts and totals scaled by their sampling ratio), each ranked ``by_total_time``
    and ``by_p95_regression`` (``p95_ratio``: this period's p95 over the previous one's)."""
    svc = services(request)
    chosen = _source(source)
    r = _range(svc, since, until)
    queries = perfsearch.bottlenecks_sql(svc.store.database, r, chosen)
    found = await run_in_threadpool(lambda: {k: _raw(svc, q) for k, q in queries.items()})

    def figures(row: list[Any]) -> dict[str, Any]:
        count, total, p95, before, p95_before = row
        return {"count": int(count), "total_ms": float(total), "p95_ms": float(p95),
                "previous_count": int(before), "previous_p95_ms": float(p95_before)}

    routes = [{"route": row[0], "method": row[1], **figures(row[2:])}
              for row in found["routes"]]
    spans = [{"name": row[0], **figures(row[1:])} for row in found["spans"]]
    before = r.previous()
    return {"since": r.since.isoformat(), "until": r.until.isoformat(),
            "previous": {"since": before.since.isoformat(), "until": before.until.isoformat()},
            "source": chosen, "routes": perfsearch.rank(routes, limit, min_count),
            "spans": perfsearch.rank(spans, limit, min_count)}
