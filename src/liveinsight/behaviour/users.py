"""User analysis of one site over a range: new vs returning visitors, visits per visitor,
engagement distributions, a weekday by hour heatmap of activity, the most common event
sequences. Pure SQL builders (one per figure group) and their shaping.

What "returning" can mean without cookies: a visitor is a cookieless id that lives as long
as the site's salt rotation (a day by default), so *returning* is a visitor with more than
one visit in the range *under the same id* and *new* one with a single visit. Clicks are not
recorded by the tracker, so rage and dead clicks cannot be measured (the answer says so).
"""

from __future__ import annotations

from typing import Any

from liveinsight.behaviour.scope import Scope

# (label, low, high): low <= value < high (None: no bound).
VISITS = (("1", 1, 2), ("2", 2, 3), ("3", 3, 4), ("4-5", 4, 6), ("6-10", 6, 11),
          ("11+", 11, None))
PAGES = (("0", 0, 1), ("1", 1, 2), ("2", 2, 3), ("3", 3, 4), ("4-5", 4, 6),
         ("6-10", 6, 11), ("11+", 11, None))
DURATION = (("0s", 0, 1), ("1-10s", 1, 11), ("11-30s", 11, 31), ("31-60s", 31, 61),
            ("1-3m", 61, 181), ("3-10m", 181, 601), ("10-30m", 601, 1801),
            ("30m+", 1801, None))
SCROLL = (("0-24%", 0, 25), ("25-49%", 25, 50), ("50-74%", 50, 75), ("75-99%", 75, 100),
          ("100%", 100, None))
ENGAGED = (("0-9s", 0, 10), ("10-29s", 10, 30), ("30-59s", 30, 60), ("1-3m", 60, 180),
           ("3m+", 180, None))
SEQUENCE_LENGTH = 5
SEQUENCES = 10
_SEQ_CAP = 200
NOTES = [
    "returning = more than one visit in the range under the same visitor id; ids last as "
    "long as the site's salt rotation (a day by default)",
    "rage and dead clicks are not available: the tracker does not record clicks",
]


def _buckets(expr: str, buckets: tuple[tuple[str, int, int | None], ...],
             agg: str = "countIf") -> str:
    parts = []
    for _, low, high in buckets:
        cond = f"{expr} >= {low}" + (f" AND {expr} < {high}" if high is not None else "")
        parts.append(f"{agg}({cond})" if agg == "countIf" else agg.format(cond=cond))
    return "[" + ", ".join(parts) + "]"


def visits_sql(scope: Scope) -> tuple[str, dict[str, Any]]:
    """One row: visitors, returning visitors, visits, then the distributions of visits per
    visitor, pages per visit and visit duration (seconds, first to last event)."""
    per_visit = (f"SELECT visitor_id AS v, countIf(name = 'pageview') AS pv,"
                 f" dateDiff('second', min(timestamp), max(timestamp)) AS d"
                 f" FROM {scope.db}.events WHERE {scope.rows()} GROUP BY session_id, v")
    per_visitor = (f"SELECT v, count() AS n, groupArray(pv) AS pvs, groupArray(d) AS ds"
                   f" FROM ({per_visit}) GROUP BY v")
    sql = (f"SELECT count() AS visitors, countIf(n > 1) AS returning, sum(n) AS visits,"
           f" {_buckets('n', VISITS)} AS per_visitor,"
           f" {_buckets('x', PAGES, 'sum(arrayCount(x -> {cond}, pvs))')} AS pages,"
           f" {_buckets('x', DURATION, 'sum(arrayCount(x -> {cond}, ds))')} AS durations"
           f" FROM ({per_visitor})")
    return sql, scope.p.values


def engagement_sql(scope: Scope) -> tuple[str, dict[str, Any]]:
    """One row: the scroll depth and engaged time (seconds) of page engagements, as
    distributions, with their medians."""
    where = (f"site_id = {scope.site} AND timestamp >= {scope.start} AND timestamp < "
             f"{scope.end} AND name = 'engagement' AND {scope.visits()}")
    secs = "intDiv(engagement_ms, 1000)"
    sql = (f"SELECT count() AS n, {_buckets('scroll_depth', SCROLL)} AS scroll,"
           f" {_buckets(secs, ENGAGED)} AS engaged, quantileExact(0.5)(scroll_depth),"
           f" quantileExact(0.5)(engagement_ms) / 1000"
           f" FROM {scope.db}.events WHERE {where}")
    return sql, scope.p.values


def heatmap_sql(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Rows ``weekday`` (1 Monday .. 7), ``hour`` (0-23, site time), visitors, pageviews."""
    local = f"toTimeZone(timestamp, {scope.tz})"
    sql = (f"SELECT toDayOfWeek({local}) AS wd, toHour({local}) AS h,"
           f" uniqCombined(visitor_id), countIf(name = 'pageview')"
           f" FROM {scope.db}.events WHERE {scope.rows()} GROUP BY wd, h ORDER BY wd, h")
    return sql, scope.p.values


def sequences_sql(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Rows ``sequence`` (a visit's first event names in order, a run of one name once, at
    most :data:`SEQUENCE_LENGTH`), visits; the :data:`SEQUENCES` most common."""
    names = (f"arrayMap(x -> x.2, arraySort(groupArray({_SEQ_CAP})((timestamp,"
             f" toString(name)))))")
    folded = ("arraySlice(arrayFilter((x, i) -> i = 1 OR x != raw[i - 1], raw,"
              f" arrayEnumerate(raw)), 1, {SEQUENCE_LENGTH})")
    per_visit = (f"SELECT {names} AS raw FROM {scope.db}.events WHERE {scope.rows()}"
                 f" GROUP BY session_id")
    sql = (f"SELECT {folded} AS seq, count() AS visits FROM ({per_visit})"
           f" GROUP BY seq ORDER BY visits DESC, seq LIMIT {SEQUENCES}")
    return sql, scope.p.values


def shape(visits: list[Any], engagement: list[Any], heat: list[list[Any]],
          sequences: list[list[Any]]) -> dict[str, Any]:
    visitors, returning, total = (int(x) for x in visits[:3])
    grid = [[{"visitors": 0, "pageviews": 0} for _ in range(24)] for _ in range(7)]
    for wd, hour, people, views in heat:
        grid[int(wd) - 1][int(hour)] = {"visitors": int(people), "pageviews": int(views)}
    return {
        "visitors": visitors,
        "new_visitors": visitors - returning,
        "returning_visitors": returning,
        "visits": total,
        "visits_per_visitor": round(total / visitors, 2) if visitors else None,
        "distributions": {
            "visits_per_visitor": _dist(VISITS, visits[3]),
            "pages_per_visit": _dist(PAGES, visits[4]),
            "visit_duration": _dist(DURATION, visits[5]),
            "scroll_depth": _dist(SCROLL, engagement[1]),
            "engaged_time": _dist(ENGAGED, engagement[2]),
        },
        "medians": {"scroll_depth": _number(engagement[3]) if int(engagement[0]) else None,
                    "engaged_seconds": _number(engagement[4]) if int(engagement[0]) else None},
        "heatmap": {"weekdays": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
                    "cells": grid},
        "sequences": [{"events": list(seq), "visits": int(n)} for seq, n in sequences],
        "notes": NOTES,
    }


def _dist(buckets: tuple[tuple[str, int, int | None], ...], counts: list[Any]
          ) -> list[dict[str, Any]]:
    total = sum(int(c) for c in counts)
    return [{"bucket": label, "count": int(c),
             "percentage": round(int(c) * 100 / total, 2) if total else None}
            for (label, _, _), c in zip(buckets, counts, strict=True)]


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if number != number else round(number, 1)
