"""When a query can be read from the rollups, and the ranges of rollup buckets it reads.

``events_rollup`` and ``sessions_rollup`` (see ``storage.schema``) hold per-bucket aggregates
in UTC: visitors as mergeable ``uniqCombined`` states (merging the states of a range's buckets
gives the very estimate ``uniqCombined`` gives over the range's rows), everything else as
sums. A query is answered from them only when the answer is exactly the raw tables' answer:

- no filters, a range of whole local days (not exact instants) whose UTC bounds are
  whole hours (every zone whose offsets are whole hours; Asia/Kolkata's are not);
- no dimension (site totals), or a time dimension by hour, day, week or month (local
  buckets of whole UTC hours), or a dimension the rollups hold (``storage.schema``);
- metrics among visitors, pageviews, events (events side) and visits, bounce rate, visit
  duration, views per visit (sessions side).

Visitors of visit-only queries are counted from sessions that overlap the range on the raw
path and from non-engagement events in the range here: the same visitors, since a visit's
events are at most a session timeout apart. One exception: the session tracker also moves a
visit's ``timestamp`` for an engagement event (time on page), so a visit whose last pageview
was before the range and whose engagement ping fell inside it counts its visitor on the raw
path and not here; here is the documented rule (a pageview or custom event in the range).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from liveinsight.query.filters import Params
from liveinsight.query.model import SESSION_METRICS, DateRange, Query, is_time_dimension
from liveinsight.storage.schema import EVENT_ROLLUP_DIMS, SESSION_ROLLUP_DIMS

EVENT_METRICS = frozenset({"visitors", "pageviews", "events"})
EVENT_SQL = {
    "visitors": "uniqCombinedMerge(visitors)",
    "pageviews": "sum(pageviews)",
    "events": "sum(events)",
}
SESSION_SQL = {
    "visits": "sum(visits)",
    "bounce_rate": "sum(bounces) * 100 / nullIf(sum(visits), 0)",
    "visit_duration": "sum(seconds) / nullIf(sum(visits), 0)",
    "views_per_visit": "sum(views) / nullIf(sum(visits), 0)",
}
_TIME_BUCKETS = ("hour", "day", "week", "month")
_HOUR, _DAY, _WEEK = 0, 1, 2


def usable(q: Query) -> bool:
    """Whether ``q`` is answered exactly the same from the rollups."""
    dr = q.date_range
    if q.filters is not None or dr.exact or not (_whole_hour(dr.start) and _whole_hour(dr.end)):
        return False
    metrics = set(q.metrics)
    if not metrics or not metrics <= EVENT_METRICS | SESSION_METRICS:
        return False
    if len(q.dimensions) > 1:
        return False
    dim = rollup_dim(q)
    return dim is not None and not (metrics & SESSION_METRICS and dim not in SESSION_ROLLUP_DIMS)


def rollup_dim(q: Query) -> str | None:
    """The rollup ``dim`` a query reads (``''`` for totals and time buckets), or None."""
    if not q.dimensions:
        return ""
    dim = q.dimensions[0]
    if is_time_dimension(dim):
        return "" if q.bucket(dim) in _TIME_BUCKETS else None
    return dim if dim in EVENT_ROLLUP_DIMS else None


def cover(start: datetime, end: datetime, time_buckets: bool) -> list[tuple[int, datetime,
                                                                                datetime]]:
    """``(level, from, to)`` bucket ranges that tile ``[start, end)`` (whole UTC hours):
    whole weeks, then whole days, then hours at the edges. Time buckets group hours by
    local time, so they read hours only."""
    if time_buckets:
        return [(_HOUR, start, end)]
    day0, day1 = _ceil_day(start), _floor_day(end)
    if day0 >= day1:
        return [(_HOUR, start, end)]
    out = [(_HOUR, start, day0), (_HOUR, day1, end)]
    week0 = day0 + timedelta(days=(7 - day0.weekday()) % 7)
    week1 = day1 - timedelta(days=day1.weekday())
    if week0 >= week1:
        out.append((_DAY, day0, day1))
    else:
        out += [(_DAY, day0, week0), (_DAY, week1, day1), (_WEEK, week0, week1)]
    return [(level, a, b) for level, a, b in out if a < b]


def cover_sql(dr: DateRange, time_buckets: bool, params: Params) -> str:
    """The rollup rows of ``cover``, as a condition on ``level`` and ``bucket``."""
    fmt, typ = "%Y-%m-%d %H:%M:%S", "DateTime('UTC')"
    return " OR ".join(
        f"(level = {level} AND bucket >= {params.add(a.strftime(fmt), typ)}"
        f" AND bucket < {params.add(b.strftime(fmt), typ)})"
        for level, a, b in cover(dr.start, dr.end, time_buckets))


def _whole_hour(t: datetime) -> bool:
    return t.minute == 0 and t.second == 0 and t.microsecond == 0


def _floor_day(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def _ceil_day(t: datetime) -> datetime:
    floor = _floor_day(t)
    return floor if floor == t else floor + timedelta(days=1)
