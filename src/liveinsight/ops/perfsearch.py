"""The performance views over the ``spans`` and ``logs`` tables: trace search and one trace
(:func:`traces_sql`, :func:`trace_sql`, :func:`tree`), latency and throughput per route over
time (:func:`metrics_sql`), and bottlenecks (:func:`bottlenecks_sql`, :func:`rank`) — pure
functions; ``api/performance.py`` runs them with the query runner's time limit.

Where the numbers come from: a trace is the sampled requests' spans (``spans``). Latency
and throughput per route come by default from the requests' log records (``logs``, logger
``liveinsight.access``, exact for every request that gets a record: see
``log_requests``), or with ``source=spans`` from the sampled requests' spans, each counted
``1 / sample_ratio`` times (an estimate, for the requests ``log_requests`` leaves out:
the collector's accepted events). The span kinds of the bottlenecks are the spans' names
(``store.query``, ``cache.compute``, ``ingest.step geo``...), from the sampled spans.

Limits: ranges of at most :data:`MAX_RANGE` (default the last hour), pages of at most
:data:`MAX_LIMIT` traces and offsets up to :data:`MAX_OFFSET`, :data:`MAX_TRACE_SPANS`
spans of one trace, :data:`MAX_ROUTES` routes a view.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from liveinsight.errors import Invalid
from liveinsight.ops.logsearch import ch_time, parse_time

MAX_RANGE = timedelta(days=31)
DEFAULT_RANGE = timedelta(hours=1)
MAX_LIMIT = 200
MAX_OFFSET = 10_000
MAX_TRACE_SPANS = 5_000
MAX_ROUTES = 50
MAX_DURATION_MS = 3_600_000.0
_STEPS = (60, 300, 900, 3600, 6 * 3600, 86400)
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
Source = Literal["logs", "spans"]


@dataclass(frozen=True, slots=True)
class Range:
    since: datetime
    until: datetime

    @property
    def seconds(self) -> float:
        return (self.until - self.since).total_seconds()

    def previous(self) -> Range:
        """The period of equal length just before this one."""
        return Range(self.since - (self.until - self.since), self.since)


@dataclass(frozen=True, slots=True)
class TraceFilter:
    range: Range
    route: str | None = None
    name: str | None = None
    min_duration_ms: float | None = None
    status: int | Literal["error"] | None = None
    trace_id: str | None = None
    node: str | None = None


def parse_range(params: Mapping[str, Any], now: datetime) -> Range:
    """``since`` and ``until`` (ISO 8601; default the hour before now), or ``Invalid``
    naming the one that is wrong."""
    until = parse_time(params.get("until"), "until", now)
    since = parse_time(params.get("since"), "since", until - DEFAULT_RANGE)
    if since >= until:
        raise Invalid("since must be before until", field="since")
    if until - since > MAX_RANGE:
        raise Invalid(f"the range is at most {MAX_RANGE.days} days", field="since")
    return Range(since, until)


def parse_trace_id(raw: str | None, field: str = "trace_id") -> str | None:
    if raw is None or raw == "":
        return None
    if not _TRACE_ID.fullmatch(raw.lower()):
        raise Invalid(f"{field} is 32 hexadecimal digits", field=field)
    return raw.lower()


def _text(params: Mapping[str, Any], name: str, size: int) -> str | None:
    value = params.get(name) or None
    if value is not None and len(value) > size:
        raise Invalid(f"{name} is at most {size} characters", field=name)
    return value


def parse_traces(params: Mapping[str, Any], now: datetime) -> TraceFilter:
    """The trace search a request's parameters ask for, or ``Invalid`` naming the
    parameter that is wrong or too large."""
    found = parse_range(params, now)
    status: int | Literal["error"] | None = None
    raw = params.get("status") or None
    if raw == "error":
        status = "error"
    elif raw is not None:
        # isascii: str.isdigit() accepts digits int() does not read ("²")
        if not (raw.isascii() and raw.isdigit()) or not 100 <= int(raw) <= 599:
            raise Invalid("status is an HTTP status (100-599) or error", field="status")
        status = int(raw)
    least = params.get("min_duration_ms") or None
    min_ms = None
    if least is not None:
        try:
            min_ms = float(least)
        except ValueError:
            min_ms = -1.0
        if not 0 <= min_ms <= MAX_DURATION_MS:
            raise Invalid(f"min_duration_ms is a number from 0 to {MAX_DURATION_MS:g}",
                          field="min_duration_ms")
    return TraceFilter(found, _text(params, "route", 200), _text(params, "name", 200), min_ms,
                       status, parse_trace_id(params.get("trace_id")),
                       _text(params, "node", 64))


def _range_where(r: Range, params: dict[str, Any]) -> str:
    params["since"], params["until"] = ch_time(r.since), ch_time(r.until)
    return ("timestamp >= {since:DateTime64(6, 'UTC')} "
            "AND timestamp < {until:DateTime64(6, 'UTC')}")


def _traces_where(f: TraceFilter) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {}
    parts = [_range_where(f.range, params), "kind = 'server'"]
    for column in ("route", "name", "trace_id", "node"):
        value = getattr(f, column)
        if value is not None:
            parts.append(f"{column} = {{{column}:String}}")
            params[column] = value
    if f.min_duration_ms is not None:
        parts.append("duration_ms >= {least:Float64}")
        params["least"] = f.min_duration_ms
    if f.status == "error":
        parts.append("(error = 1 OR status >= 500)")
    elif f.status is not None:
        parts.append("status = {status:UInt16}")
        params["status"] = f.status
    return " AND ".join(parts), params


TRACE_COLUMNS = ("trace_id", "span_id", "start_us", "name", "route", "method", "status",
                 "error", "duration_ms", "node")
"""The columns of a page of traces; ``start_us``: the start in µs since the epoch (the
transports return DateTime64 values differently)."""


def _selected(columns: tuple[str, ...]) -> str:
    return ", ".join("toUnixTimestamp64Micro(timestamp)" if c == "start_us" else c
                     for c in columns)


def traces_sql(db: str, f: TraceFilter, limit: int, offset: int
               ) -> dict[str, tuple[str, dict[str, Any]]]:
    """The count and one page of the traced requests (their own spans), newest first."""
    clause, params = _traces_where(f)
    cols = _selected(TRACE_COLUMNS)
    return {
        "total": (f"SELECT count() FROM `{db}`.spans WHERE {clause}", params),
        "page": (f"SELECT {cols} FROM `{db}`.spans WHERE {clause} "
                 "ORDER BY timestamp DESC, span_id DESC "
                 "LIMIT {limit:UInt32} OFFSET {offset:UInt32}",
                 {**params, "limit": limit, "offset": offset}),
    }


def span_counts_sql(db: str, trace_ids: list[str], r: Range) -> tuple[str, dict[str, Any]]:
    """How many spans each of ``trace_ids`` has (a request's spans start within its own
    span, so within its range give or take the longest request: an hour either side)."""
    wide = Range(r.since - timedelta(hours=1), r.until + timedelta(hours=1))
    params: dict[str, Any] = {"ids": trace_ids}
    return (f"SELECT trace_id, count() FROM `{db}`.spans WHERE {_range_where(wide, params)}"
            " AND trace_id IN {ids:Array(String)} GROUP BY trace_id", params)


SPAN_COLUMNS = ("span_id", "parent_id", "start_us", "name", "kind", "route", "method",
                "status", "error", "duration_ms", "node", "attributes")


def trace_sql(db: str, trace_id: str) -> tuple[str, dict[str, Any]]:
    """Every span of one trace (at most :data:`MAX_TRACE_SPANS`), oldest first."""
    cols = _selected(SPAN_COLUMNS)
    return (f"SELECT {cols} FROM `{db}`.spans WHERE trace_id = {{trace_id:String}} "
            f"ORDER BY timestamp, span_id LIMIT {MAX_TRACE_SPANS}", {"trace_id": trace_id})


def tree(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``spans`` (dicts with ``span_id`` and ``parent_id``, oldest first) in depth-first order,
    each with its ``depth``: a span whose parent is not among them (the request's, or one
    whose parent was a caller's) is a root. Built without recursion."""
    ids = {s["span_id"] for s in spans}
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    for s in spans:  # oldest first: children stay in start order
        if s["parent_id"] and s["parent_id"] in ids and s["parent_id"] != s["span_id"]:
            children.setdefault(s["parent_id"], []).append(s)
        else:
            roots.append(s)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    stack = [(s, 0) for s in reversed(roots)]
    while stack:
        span, depth = stack.pop()
        if span["span_id"] in seen:
            continue
        seen.add(span["span_id"])
        out.append({**span, "depth": depth})
        stack.extend((c, depth + 1) for c in reversed(children.get(span["span_id"], [])))
    return out


def step_seconds(r: Range) -> int:
    """A view's bucket: the smallest of 1 min, 5 min, 15 min, 1 h, 6 h, 1 day giving at
    most 360 buckets over the range."""
    return next((s for s in _STEPS if r.seconds / s <= 360), _STEPS[-1])


def _source(source: Source) -> tuple[str, str, str]:
    """(table, which rows are requests, how many requests a row stands for)."""
    if source == "spans":
        return "spans", "kind = 'server' AND route != ''", "1 / sample_ratio"
    return "logs", "logger = 'liveinsight.access' AND status > 0 AND route != ''", "1"


def metrics_sql(db: str, r: Range, source: Source, route: str | None, top: int
                ) -> dict[str, tuple[str, dict[str, Any]]]:
    """Per bucket and per route (the ``top`` routes by requests, or ``route``): requests,
    5xx answers, p50/p95/p99 of the duration in ms; and the same over the whole range."""
    table, requests, weight = _source(source)
    params: dict[str, Any] = {"top": top}
    where = f"{_range_where(r, params)} AND {requests}"
    if route is not None:
        where += " AND route = {route:String}"
        params["route"] = route
    src = f"FROM `{db}`.{table} WHERE {where}"
    chosen = (f"(route, method) IN (SELECT route, method {src} GROUP BY route, method "
              "ORDER BY count() DESC, route, method LIMIT {top:UInt32})")
    figures = (f"round(sum({weight})), round(sumIf({weight}, status >= 500)), "
               "arrayMap(x -> round(x, 3), quantiles(0.5, 0.95, 0.99)(duration_ms))")
    step = step_seconds(r)
    return {
        "routes": (f"SELECT route, method, {figures} {src} AND {chosen} "
                   "GROUP BY route, method ORDER BY count() DESC, route, method", params),
        "timeline": (f"SELECT formatDateTime(toStartOfInterval(timestamp, INTERVAL {step} "
                     f"SECOND), '%Y-%m-%dT%H:%i:%SZ') AS t, "
                     f"route, method, {figures} {src} AND {chosen} "
                     "GROUP BY t, route, method ORDER BY route, method, t", params),
    }


def bottlenecks_sql(db: str, r: Range, source: Source
                    ) -> dict[str, tuple[str, dict[str, Any]]]:
    """Per route (from ``source``) and per span name (other than the requests' own spans,
    from ``spans``): this period's requests or spans, their total time, p95, and the same
    over the previous period of equal length."""
    before = r.previous()
    params: dict[str, Any] = {}
    where = _range_where(Range(before.since, r.until), params)
    params["now"] = ch_time(r.since)
    now = "timestamp >= {now:DateTime64(6, 'UTC')}"

    def figures(weight: str) -> str:
        return (f"round(sumIf({weight}, {now})), round(sumIf(duration_ms * {weight}, {now}), 3),"
                f" round(ifNotFinite(quantileIf(0.95)(duration_ms, {now}), 0), 3), "
                f"round(sumIf({weight}, NOT {now})), "
                f"round(ifNotFinite(quantileIf(0.95)(duration_ms, NOT {now}), 0), 3)")

    table, requests, weight = _source(source)
    return {
        "routes": (f"SELECT route, method, {figures(weight)} FROM `{db}`.{table} "
                   f"WHERE {where} AND {requests} GROUP BY route, method LIMIT 1000", params),
        "spans": (f"SELECT name, {figures('1 / sample_ratio')} FROM `{db}`.spans "
                  f"WHERE {where} AND kind != 'server' GROUP BY name LIMIT 1000", params),
    }


def rank(rows: list[dict[str, Any]], limit: int, min_count: int
         ) -> dict[str, list[dict[str, Any]]]:
    """``rows`` (each with ``count``, ``total_ms``, ``p95_ms``, ``previous_count``,
    ``previous_p95_ms``) ranked by total time, and by p95 regression (``p95_ratio``, this
    period's p95 over the previous one's, for rows with at least ``min_count`` in both
    periods; a ratio above 1 is slower)."""
    present = [r for r in rows if r["count"] > 0]
    for row in present:
        before = row["previous_p95_ms"]
        row["p95_ratio"] = (round(row["p95_ms"] / before, 3)
                            if row["previous_count"] >= min_count and row["count"] >= min_count
                            and before > 0 else None)
    by_total = sorted(present, key=lambda r: (-r["total_ms"], str(r.get("name", r.get(
        "route")))))[:limit]
    compared = [r for r in present if r["p95_ratio"] is not None]
    by_p95 = sorted(compared, key=lambda r: (-r["p95_ratio"], -r["total_ms"]))[:limit]
    return {"by_total_time": by_total, "by_p95_regression": by_p95}
