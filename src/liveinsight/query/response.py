"""Results → JSON documents: the Plausible v2 shape and the simple ``/api/stats/*`` shapes.

Pure functions of a :class:`Result`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from liveinsight.query import imported, revenue
from liveinsight.query.model import REVENUE_METRICS, DateRange, Query
from liveinsight.query.runner import Result, Row

# Metrics without a value over no data (an average of nothing).
_NO_EMPTY_VALUE = frozenset({"scroll_depth", "time_on_page", "average_revenue"})
# Metrics that are already percentages: their change is the difference in points.
_POINTS = {"bounce_rate", "conversion_rate", "percentage"}


def change(metric: str, current: Any, previous: Any) -> Any:
    """Plausible's ``change``: percent change, or points for percentage metrics."""
    if metric in REVENUE_METRICS:
        if current is None and previous is None:
            return None
        current, previous = current or 0, previous or 0
    if current is None or previous is None:
        return None
    if metric in _POINTS:
        return round(float(current) - float(previous), 1)
    if previous == 0:
        return 100 if current > 0 else 0
    return round((float(current) - float(previous)) * 100 / float(previous))


def iso_range(dr: DateRange, timezone: str) -> list[str]:
    """``[first instant, last second]`` as local ISO 8601 datetimes with their offsets."""
    tz = ZoneInfo(timezone)
    last = dr.end - timedelta(seconds=1)
    return [_iso(dr.start.astimezone(tz)), _iso(last.astimezone(tz))]


def _iso(value: datetime) -> str:
    return value.replace(microsecond=0).isoformat()


def v2(result: Result, echo: dict[str, Any]) -> dict[str, Any]:
    """``{"results": [{"metrics", "dimensions", "comparison"?}], "meta", "query"}``."""
    q = result.query
    plan = revenue.plan(q)
    rows = []
    for i, row in enumerate(result.rows):
        item: dict[str, Any] = {"metrics": shown(q, plan, row), "dimensions": list(row.dimensions)}
        other = result.comparison[i] if result.comparison is not None else None
        if result.comparison is not None and other is None:
            item["comparison"] = None  # a bucket past the (shorter) comparison's end
        elif other is not None:
            item["comparison"] = {
                "dimensions": list(other.dimensions),
                "metrics": shown(q, plan, Row(row.dimensions, other.metrics)),
                "change": [change(m, a, b) for m, a, b in zip(q.metrics, row.metrics,
                                                              other.metrics, strict=True)],
            }
        rows.append(item)
    meta: dict[str, Any] = {"imports_included": False}
    _mark_imports(meta, q, "imports_warning")
    warnings = revenue.warnings(q, plan)
    if warnings:
        meta["metric_warnings"] = warnings
    if result.time_labels is not None:
        meta["time_labels"] = list(result.time_labels)
        if result.comparison_labels is not None:
            meta["comparison_time_labels"] = list(result.comparison_labels)
    if result.total_rows is not None:
        meta["total_rows"] = result.total_rows
    if result.comparison_range is not None:
        meta["comparison_date_range"] = iso_range(result.comparison_range, q.timezone)
    _mark_sampled(meta, result)
    return {"results": rows, "meta": meta,
            "query": {**echo, "date_range": iso_range(q.date_range, q.timezone)}}


def aggregate(result: Result) -> dict[str, Any]:
    """``{"results": {metric: {"value", "comparison_value"?, "change"?}}}``."""
    q = result.query
    plan = revenue.plan(q)
    values = result.rows[0].metrics if result.rows else tuple(0 for _ in q.metrics)
    out: dict[str, Any] = {}
    current = shown(q, plan, Row((), values))
    for i, metric in enumerate(q.metrics):
        entry: dict[str, Any] = {"value": current[i]}
        if result.comparison is not None:
            first = result.comparison[0] if result.comparison else None
            previous = first.metrics if first is not None else values
            entry["comparison_value"] = shown(q, plan, Row((), previous))[i] \
                if result.comparison else 0
            entry["change"] = change(metric, values[i],
                                     previous[i] if result.comparison else 0)
        out[metric] = entry
    doc: dict[str, Any] = {"results": out}
    _mark_imports(doc, q, "warning", only_asked=True)
    warnings = revenue.warnings(q, plan)
    if warnings:
        doc["warnings"] = warnings
    if result.comparison_range is not None:
        doc["comparison_date_range"] = iso_range(result.comparison_range, q.timezone)
    _mark_sampled(doc, result)
    return doc


def timeseries(result: Result) -> dict[str, Any]:
    """``{"results": [{"date", metric...}]}`` with every bucket of the range up to now (zeros
    where nothing happened; buckets still in the future are absent), and ``comparison``
    beside it when asked: bucket i of the comparison range beside bucket i, each with its
    own date, ending where the shorter of the two ends."""
    q = result.query
    labels = result.time_labels or tuple(str(r.dimensions[0]) for r in result.rows)
    by_label = {r.dimensions[0]: r for r in result.rows}
    out = []
    for label in labels:
        row = by_label.get(label)
        out.append({"date": label, **_metrics(q, row)})
    doc: dict[str, Any] = {"results": out, "interval": q.bucket(q.dimensions[0])}
    _mark_imports(doc, q, "warning", only_asked=True)
    if result.comparison is not None and result.comparison_range is not None:
        before = {r.dimensions[0]: r for r in result.comparison_rows or ()}
        other = (result.comparison_labels or ())[:len(labels)]
        doc["comparison"] = [{"date": label, **_metrics(q, before.get(label))}
                             for label in other]
        doc["comparison_date_range"] = iso_range(result.comparison_range, q.timezone)
    _mark_sampled(doc, result)
    return doc


def breakdown(result: Result) -> dict[str, Any]:
    """``{"results": [{<property name>: value, metric...}]}``."""
    q = result.query
    name = q.dimensions[0].rsplit(":", 1)[1]
    rows = []
    for i, row in enumerate(result.rows):
        item = {name: row.dimensions[0], **_metrics(q, row)}
        if result.comparison is not None:
            item["comparison"] = _metrics(q, result.comparison[i])
            item["change"] = {m: change(m, a, b) for m, a, b in zip(
                q.metrics, row.metrics, (result.comparison[i] or row).metrics, strict=True)}
        rows.append(item)
    doc: dict[str, Any] = {"results": rows}
    _mark_imports(doc, q, "warning", only_asked=True)
    if result.total_rows is not None:
        doc["total_rows"] = result.total_rows
    _mark_sampled(doc, result)
    return doc


def _mark_sampled(doc: dict[str, Any], result: Result) -> None:
    """``sampled`` and ``sample_factor`` when counts are estimates from a sample of the
    events (each counted event stands for ``sample_factor`` of them)."""
    if result.sampled:
        doc["sampled"] = True
        doc["sample_factor"] = round(result.sample_factor, 2)


def shown(q: Query, plan: revenue.Plan, row: Row) -> list[Any]:
    """A row's metric values as answered: revenue as money values in the row's currency."""
    if not plan.goals:
        return [None if m in REVENUE_METRICS else v
                for m, v in zip(q.metrics, row.metrics, strict=True)]
    currency = revenue.currency_of(plan, q, row.dimensions)
    return [revenue.money(v, currency) if m in REVENUE_METRICS else v
            for m, v in zip(q.metrics, row.metrics, strict=True)]


def _metrics(q: Query, row: Row | None) -> dict[str, Any]:
    plan = revenue.plan(q)
    if row is None:
        empty = {m: None if m in _NO_EMPTY_VALUE else 0 for m in q.metrics}
        row = Row((), tuple(empty.values()))
    return dict(zip(q.metrics, shown(q, plan, row), strict=True))


def _mark_imports(doc: dict[str, Any], q: Query, warning: str, only_asked: bool = False
                  ) -> None:
    """``imports_included`` (and, when imports were asked for and left out, why:
    ``imports_skip_reason``, and a warning for an unsupported query), as Plausible says it."""
    decision = imported.decide(q)
    if decision is None:
        if not only_asked:
            doc["imports_included"] = False
        return
    doc["imports_included"] = decision.included
    if decision.skip_reason is not None:
        doc["imports_skip_reason"] = decision.skip_reason
        if decision.skip_reason == "unsupported_query":
            doc[warning] = imported.WARNING
