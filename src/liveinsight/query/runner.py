"""Running queries: the only I/O of the query layer.

``QueryRunner.run(query)`` returns a :class:`Result` value; ``query_key(query)`` is a stable
string naming the question, so a cache can wrap ``run`` without knowing its internals. Each
query runs with the configured time limit and is timed into ``liveinsight_query_seconds``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

import orjson

from liveinsight.errors import Invalid, TooExpensive, Unavailable
from liveinsight.ops import tracing
from liveinsight.ops.breaker import refusal_in
from liveinsight.ops.metrics import Metrics
from liveinsight.query import sql
from liveinsight.query.filters import Params
from liveinsight.query.model import (
    REVENUE_METRICS,
    DateRange,
    Query,
    auto_interval,
    comparison_range,
    conditions,
    interval_problem,
    local_range,
    trimmed,
)
from liveinsight.query.parser import MIN_DATE
from liveinsight.query.timeline import time_labels
from liveinsight.query.timings import QueryTimings
from liveinsight.storage.protocol import (
    LIMIT_CODES,
    Code,
    Store,
    StoreError,
    StoreUnavailable,
)

log = logging.getLogger("liveinsight.query")



@dataclass(frozen=True, slots=True)
class Row:
    dimensions: tuple[Any, ...]
    metrics: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Result:
    """The answer to a query. ``comparison`` holds the comparison period's rows aligned with
    ``rows`` (same dimensions, or the same bucket position for time dimensions; None where a
    time bucket has no counterpart, the comparison being shorter). ``time_labels`` stop at
    the query's cutoff (the buckets of the past); ``comparison_labels`` are the comparison
    range's buckets and ``comparison_rows`` its rows by label (time queries only)."""

    query: Query
    rows: tuple[Row, ...]
    comparison: tuple[Row | None, ...] | None = None
    comparison_range: DateRange | None = None
    total_rows: int | None = None
    time_labels: tuple[str, ...] | None = None
    sample_factor: float = 1.0  # above 1: counts estimated from a sample of the events
    comparison_labels: tuple[str, ...] | None = None
    comparison_rows: tuple[Row, ...] | None = None

    @property
    def sampled(self) -> bool:
        return self.sample_factor > 1.0


def query_key(q: Query) -> str:
    """A stable key for ``q``: equal queries give equal keys, in any process."""
    blob = orjson.dumps(q, default=_plain,
                        option=orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_SORT_KEYS)
    return "q1:" + hashlib.sha256(blob).hexdigest()


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        return {"_": type(obj).__name__, **fields}
    raise TypeError(type(obj).__name__)


class QueryRunner:
    def __init__(self, store: Store, metrics: Metrics, timeout_s: float,
                 rollups: bool = True, timings: QueryTimings | None = None) -> None:
        self.store = store
        self.metrics = metrics
        self.timeout_s = timeout_s
        self.rollups = rollups  # False: always the raw tables (tests compare both paths)
        self.timings = timings or QueryTimings()

    def run(self, q: Query, kind: str = "stats") -> Result:
        """Answer ``q`` (and its comparison when it asks for one).

        Raises ``TooExpensive`` when the query passes the time or memory limit, ``Unavailable``
        when the
        store is unavailable or fails.
        """
        if q.date_range.period == "all":
            q = self._narrow_all(q)
        self._check_patterns(q)
        rows, total, factor = self._rows(q, kind)
        past = q.with_range(trimmed(q.date_range, q.include.cutoff, q.timezone))
        labels = tuple(time_labels(past)) if q.include.time_labels else None
        if q.include.comparison is None:
            return Result(q, rows, total_rows=total, time_labels=labels, sample_factor=factor)
        other = comparison_range(q)
        if other.first < MIN_DATE:  # "all", once narrowed (the parser checks the rest)
            raise Invalid(f"the comparison would start before {MIN_DATE}",
                          field="include.comparisons")
        previous, _, before = self._rows(q.with_range(other), kind)
        other_labels = tuple(time_labels(q.with_range(other))) if q.time_dimension() else None
        aligned = _align(q, rows, previous, tuple(time_labels(past)), other_labels or ())
        return Result(q, rows, aligned, other, total, labels, max(factor, before),
                      other_labels, previous)

    def raw(self, sql_text: str, params: dict[str, Any], kind: str) -> list[list[Any]]:
        """Run one SELECT with the time limit, timing and error mapping of every query."""
        began = time.perf_counter()
        try:
            return self.store.query(sql_text, params, timeout=self.timeout_s).rows
        except StoreUnavailable as exc:
            refusal = refusal_in(exc)  # its breaker open: not tried, retry at its next trial
            raise Unavailable("the event store is unavailable; retry shortly",
                              code="store_unavailable",
                              retry_after=refusal.retry_after if refusal else 5) from exc
        except StoreError as exc:
            text = str(exc)
            if exc.code in LIMIT_CODES:
                raise TooExpensive(f"the query passed the time limit of {self.timeout_s:g} s; "
                                   "narrow the date range or filters", field="date_range") from exc
            if exc.code == Code.CANNOT_COMPILE_REGEXP:
                raise Invalid("a regular expression in the filters is not valid RE2 syntax (no "
                              "look-arounds or back-references)", field="filters") from exc
            log.error("query failed: %s", text)
            raise Unavailable("the query failed; it has been logged", code="query_failed",
                              retry_after=5) from exc
        except ValueError as exc:  # an answer the transport could not decode
            log.error("query answer unreadable: %s", exc)
            raise Unavailable("the query failed; it has been logged", code="query_failed",
                              retry_after=5) from exc
        finally:
            elapsed = time.perf_counter() - began
            self.metrics.query_seconds.labels(kind).observe(elapsed)
            self.timings.record(kind, sql_text, elapsed)

    def _check_patterns(self, q: Query) -> None:
        """Have ClickHouse compile every ``matches`` pattern of ``q`` (RE2, linear time): a
        pattern only reaches rows that are read, so one that cannot compile would otherwise
        pass unnoticed on an empty range. Raises the 400 of :meth:`raw`."""
        patterns = patterns_of(q)
        if not patterns:
            return
        p = Params()
        checks = ", ".join(f"match('', {p.add(v, 'String')})" for v in patterns)
        self.raw(f"SELECT {checks}", p.values, "patterns")

    def _rows(self, q: Query, kind: str) -> tuple[tuple[Row, ...], int | None, float]:
        with tracing.span("query.build", {"query.kind": kind}):
            text, params = sql.build(q, self.store.database, rollups=self.rollups)
        data = self.raw(text, params, kind)
        n = len(q.dimensions)
        m = len(q.metrics)
        read = [_decimal if name in REVENUE_METRICS else _number for name in q.metrics]
        rows = tuple(Row(tuple(r[:n]), tuple(f(v) for f, v in zip(read, r[n:n + m],
                                                                    strict=True)))
                     for r in data)
        total = None
        extra = n + m
        if q.include.total_rows:
            total = int(data[0][extra]) if data else 0
            extra += 1
        factor = float(data[0][extra]) if data and len(data[0]) > extra else 1.0
        return rows, total, factor

    def _narrow_all(self, q: Query) -> Query:
        """``all`` starts at the site's first event (today when it has none)."""
        text = (f"SELECT toString(min(toDate(toTimeZone(timestamp, {{tz:String}}))))"
                f" FROM `{self.store.database}`.events WHERE site_id = {{site:UInt32}}")
        data = self.raw(text, {"tz": q.timezone, "site": q.site_id}, "all_range")
        first = q.date_range.last
        if data and data[0][0] and data[0][0] > "1970-01-01":
            first = min(first, date.fromisoformat(data[0][0]))
        if q.include.imports and q.include.imported:  # imported days count as the site's
            first = min(first, *(start for _, start, _ in q.include.imported))
        narrowed = local_range("all", first, q.date_range.last, q.timezone)
        interval = auto_interval(narrowed) if "time" in q.dimensions else q.interval
        problem = q.time_dimension() and interval_problem(interval, narrowed)
        if problem:
            raise Invalid(problem, field="dimensions")
        return replace(q, date_range=narrowed, interval=interval)


def patterns_of(q: Query) -> list[str]:
    """The regular expressions ``q``'s ``matches`` filters run (with their case flag)."""
    return sorted({("" if c.case_sensitive else "(?i)") + v for c in conditions(q.filters)
                   if c.op.startswith("matches") for v in c.values})


def _decimal(value: Any) -> Decimal | None:
    """A revenue amount, sent as text so that no digit is lost (None stays None)."""
    return None if value is None else Decimal(str(value))


def _number(value: Any) -> Any:
    if isinstance(value, str):  # 64-bit integers arrive quoted in JSON
        try:
            return int(value)
        except ValueError:
            return float(value)
    return value


def _align(q: Query, rows: tuple[Row, ...], previous: tuple[Row, ...],
           own: tuple[str, ...], other: tuple[str, ...]) -> tuple[Row | None, ...]:
    """The comparison row of each of ``rows``: the same dimensions (zeros when absent), or,
    along a time dimension, the bucket at the same position of the comparison's buckets
    ``other`` (``own``: the main range's; None past the comparison's end)."""
    zero = tuple(None if m == "average_revenue" else Decimal(0) if m in REVENUE_METRICS else 0
                 for m in q.metrics)
    time_dim = q.time_dimension()
    if time_dim is None:
        by_dims = {r.dimensions: r for r in previous}
        return tuple(by_dims.get(r.dimensions, Row(r.dimensions, zero)) for r in rows)
    index = q.dimensions.index(time_dim)
    other_at = {label: i for i, label in enumerate(other)}
    position = {label: i for i, label in enumerate(own)}
    prev_by = {}
    for r in previous:
        key = r.dimensions[:index] + r.dimensions[index + 1:]
        if r.dimensions[index] in other_at:
            prev_by[(other_at[r.dimensions[index]], key)] = r
    out: list[Row | None] = []
    for r in rows:
        key = r.dimensions[:index] + r.dimensions[index + 1:]
        pos = position.get(r.dimensions[index], -1)
        match = prev_by.get((pos, key))
        if match is not None:
            out.append(match)
        elif 0 <= pos < len(other):
            out.append(Row((*r.dimensions[:index], other[pos], *r.dimensions[index + 1:]),
                           zero))
        else:
            out.append(None)
    return tuple(out)
