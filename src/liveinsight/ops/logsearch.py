"""Searching the ``logs`` table: the filters (:class:`LogFilter`, parsed and bounded by
:func:`parse_filter`) and the SQL of a search page, the analytics and an export — pure
functions; the API runs them with the query runner's time limit (``api/logs.py``).

Limits: a range of at most :data:`MAX_RANGE` (default: the last hour), a text of at most
200 characters matched as a case-insensitive substring (never a pattern: no regular
expression reaches ClickHouse or Python from here), at most 5 field filters, pages of at
most 500 records and offsets up to 10,000, exports of at most 100,000 records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from liveinsight.errors import Invalid

LEVELS = ("debug", "info", "warning", "error", "critical")
MAX_RANGE = timedelta(days=31)
DEFAULT_RANGE = timedelta(hours=1)
MAX_TEXT = 200
MAX_FIELDS = 5
MAX_LIMIT = 500
MAX_OFFSET = 10_000
MAX_EXPORT = 100_000
EXPORT_PAGE = 5_000
COLUMNS = ("timestamp", "level", "logger", "message", "request_id", "route", "method",
           "status", "duration_ms", "site_id", "node", "trace_id", "fingerprint",
           "exception", "fields")
_STEPS = (60, 300, 900, 3600, 6 * 3600, 86400)
_EXACT = {"request_id": 64, "route": 200, "trace_id": 64, "fingerprint": 16, "node": 64,
          "method": 10}


@dataclass(frozen=True, slots=True)
class LogFilter:
    since: datetime
    until: datetime
    level: str | None = None  # the lowest level wanted
    logger: str | None = None  # exact, or a prefix ending in *
    text: str | None = None
    exact: tuple[tuple[str, str], ...] = ()  # column → value (request_id, route, ...)
    status: int | None = None
    site_id: int | None = None
    fields: tuple[tuple[str, str], ...] = ()  # key → value of the fields map


_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def parse_time(raw: str | None, field: str, default: datetime) -> datetime:
    if raw is None or raw == "":
        return default
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{field} must be an ISO 8601 time, e.g. 2026-12-05T10:00:00Z",
                      field=field) from None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    # Bounded, so the default range before it (and any arithmetic on it) stays a datetime.
    if not _EARLIEST <= value < _LATEST:
        raise Invalid(f"{field} must be from 1970 to 2099", field=field)
    return value


def _int(raw: str | None, field: str, low: int, high: int) -> int | None:
    if raw is None or raw == "":
        return None
    # isascii: str.isdigit() accepts digits int() does not read ("²")
    if not (raw.strip().isascii() and raw.strip().isdigit()) or not low <= int(raw) <= high:
        raise Invalid(f"{field} must be a whole number from {low} to {high}", field=field)
    return int(raw)


def parse_filter(params: Mapping[str, Any], now: datetime) -> LogFilter:
    """The filter a request's parameters (strings, or lists of strings for ``field``) ask
    for, or ``Invalid`` naming the parameter that is wrong or too large."""
    until = parse_time(params.get("until"), "until", now)
    since = parse_time(params.get("since"), "since", until - DEFAULT_RANGE)
    if since >= until:
        raise Invalid("since must be before until", field="since")
    if until - since > MAX_RANGE:
        raise Invalid(f"the range is at most {MAX_RANGE.days} days", field="since")
    level = params.get("level") or None
    if level is not None and level not in LEVELS:
        raise Invalid(f"level must be one of {', '.join(LEVELS)}", field="level")
    text = params.get("text") or None
    if text is not None and len(text) > MAX_TEXT:
        raise Invalid(f"text is at most {MAX_TEXT} characters", field="text")
    logger = params.get("logger") or None
    if logger is not None and (len(logger) > 200 or "*" in logger[:-1]):
        raise Invalid("logger is a name, or a prefix ending in * (200 characters at most)",
                      field="logger")
    exact = []
    for name, size in _EXACT.items():
        value = params.get(name)
        if value:
            if len(value) > size:
                raise Invalid(f"{name} is at most {size} characters", field=name)
            exact.append((name, value))
    fields = _fields(params.get("field"))
    return LogFilter(since, until, level, logger, text, tuple(exact),
                     _int(params.get("status"), "status", 100, 599),
                     _int(params.get("site_id"), "site_id", 1, 2**32 - 1), fields)


def _fields(raw: Any) -> tuple[tuple[str, str], ...]:
    items = [raw] if isinstance(raw, str) else list(raw or [])
    if len(items) > MAX_FIELDS:
        raise Invalid(f"at most {MAX_FIELDS} field filters", field="field")
    out = []
    for item in items:
        key, sep, value = str(item).partition(":")
        if not sep or not key or len(key) > 100 or len(value) > 200:
            raise Invalid("field is key:value (a key of at most 100 characters, a value of "
                          "at most 200)", field="field")
        out.append((key, value))
    return tuple(out)


def where(f: LogFilter) -> tuple[str, dict[str, Any]]:
    """The WHERE clause of ``f`` and its typed parameters."""
    parts = ["timestamp >= {since:DateTime64(3, 'UTC')}",
             "timestamp < {until:DateTime64(3, 'UTC')}"]
    params: dict[str, Any] = {"since": ch_time(f.since), "until": ch_time(f.until)}
    if f.level is not None:
        parts.append("level IN {levels:Array(String)}")
        params["levels"] = list(LEVELS[LEVELS.index(f.level):])
    if f.logger is not None:
        if f.logger.endswith("*"):
            parts.append("startsWith(logger, {logger:String})")
            params["logger"] = f.logger[:-1]
        else:
            parts.append("logger = {logger:String}")
            params["logger"] = f.logger
    if f.text is not None:
        parts.append("(positionCaseInsensitiveUTF8(message, {text:String}) > 0"
                     " OR positionCaseInsensitiveUTF8(exception, {text:String}) > 0)")
        params["text"] = f.text
    for i, (name, value) in enumerate(f.exact):
        parts.append(f"{name} = {{e{i}:String}}")  # name: one of _EXACT's keys
        params[f"e{i}"] = value
    if f.status is not None:
        parts.append("status = {status:UInt16}")
        params["status"] = f.status
    if f.site_id is not None:
        parts.append("site_id = {site_id:UInt32}")
        params["site_id"] = f.site_id
    for i, (key, value) in enumerate(f.fields):
        parts.append(f"fields[{{k{i}:String}}] = {{v{i}:String}}")
        params[f"k{i}"], params[f"v{i}"] = key, value
    return " AND ".join(parts), params


def ch_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def search_sql(db: str, f: LogFilter, limit: int, offset: int, *, ascending: bool = False
               ) -> tuple[str, dict[str, Any]]:
    """One page of records (newest first unless ``ascending``). Records of one millisecond
    are ordered by their request id, logger and message, so pages do not overlap (records
    alike in all of these are alike to the reader too)."""
    clause, params = where(f)
    order = "ASC" if ascending else "DESC"
    cols = ", ".join(COLUMNS)
    return (f"SELECT {cols} FROM `{db}`.logs WHERE {clause} "
            f"ORDER BY timestamp {order}, request_id {order}, logger {order}, "
            f"message {order}, fingerprint {order} "
            "LIMIT {limit:UInt32} OFFSET {offset:UInt32}",
            {**params, "limit": limit, "offset": offset})


def count_sql(db: str, f: LogFilter) -> tuple[str, dict[str, Any]]:
    clause, params = where(f)
    return f"SELECT count() FROM `{db}`.logs WHERE {clause}", params


def step_seconds(f: LogFilter) -> int:
    """The analytics' bucket: the smallest of 1 min, 5 min, 15 min, 1 h, 6 h, 1 day giving
    at most 360 buckets over the range."""
    seconds = (f.until - f.since).total_seconds()
    return next((s for s in _STEPS if seconds / s <= 360), _STEPS[-1])


def analytics_sql(db: str, f: LogFilter) -> dict[str, tuple[str, dict[str, Any]]]:
    """The queries of ``/admin/logs/analytics``: counts per bucket and level, per route
    (with 5xx and mean duration), per status, and the top errors by fingerprint."""
    clause, params = where(f)
    step = step_seconds(f)
    src = f"FROM `{db}`.logs WHERE {clause}"
    return {
        "timeline": (f"SELECT toStartOfInterval(timestamp, INTERVAL {step} SECOND) AS t, "
                     f"level, count() {src} GROUP BY t, level ORDER BY t, level", params),
        "routes": (f"SELECT route, method, count() AS n, countIf(status >= 500), "
                   f"round(avg(duration_ms), 3) {src} AND route != '' AND status > 0 "
                   "GROUP BY route, method ORDER BY n DESC, route LIMIT 50", params),
        "statuses": (f"SELECT status, count() {src} AND status > 0 GROUP BY status "
                     "ORDER BY status", params),
        "top_errors": (f"SELECT fingerprint, count() AS n, any(level), any(logger), "
                       f"argMax(message, timestamp), argMax(exception, timestamp), "
                       f"min(timestamp), max(timestamp) {src} AND level IN ('error', "
                       "'critical') GROUP BY fingerprint ORDER BY n DESC, fingerprint "
                       "LIMIT 20", params),
    }


def record(row: list[Any]) -> dict[str, Any]:
    """A result row of :func:`search_sql` as JSON-ready values."""
    out = dict(zip(COLUMNS, row, strict=True))
    stamp = out["timestamp"]
    if isinstance(stamp, datetime):
        out["timestamp"] = (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).isoformat()
    out["duration_ms"] = round(float(out["duration_ms"]), 3)
    return out


def iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return value
