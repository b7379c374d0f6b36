"""The KPI board: per site and across sites, the headline numbers of a period with their
growth against the period before, a daily sparkline, each goal's conversion rate, revenue,
and a status against the targets set for them.

Per site the numbers are the stats API's own answers (``StatsService.v2_answer``: cached,
the same figures as the dashboard). Across sites: visitors, visits and pageviews are summed
(a person visiting two sites counts on each: visitor ids are per site), bounce rate and
visit duration are weighted by visits, revenue is summed per currency.

Targets: a number per KPI (per site, or for the total across sites). ``bounce_rate`` is
better lower, every other KPI higher. Over a period that is over: ``met`` or ``missed``;
over one still running (it includes today): counts (visitors, visits, pageviews) are
projected linearly to the period's end (``on_track`` or ``behind``), rates compared as they
are.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from liveinsight.errors import bad_request

KPIS = ("visitors", "visits", "pageviews", "bounce_rate", "visit_duration")
COUNTS = ("visitors", "visits", "pageviews")
LOWER_IS_BETTER = ("bounce_rate",)
GOAL_PREFIX = "goal:"
MAX_SITES = 50
PERIODS = ("day", "7d", "28d", "30d", "91d", "month", "6mo", "12mo", "year")

Ask = Callable[[dict[str, Any]], dict[str, Any]]


def parse_request(raw: dict[str, Any]) -> tuple[str, date | None]:
    """A board request's ``period`` (default ``30d``) and ``date`` (its anchor, ``None``:
    each site's today); ``Invalid`` naming the field, an unknown field included."""
    for key in raw:
        if key not in ("period", "date"):
            raise bad_request(f"unknown field {str(key)[:40]!r}", str(key)[:40])
    period = raw.get("period", "30d")
    if period not in PERIODS:
        raise bad_request(f"period is one of {', '.join(PERIODS)}", "period")
    anchor = raw.get("date")
    if anchor is None:
        return period, None
    if not isinstance(anchor, str):
        raise bad_request("date is YYYY-MM-DD", "date")
    try:
        return period, date.fromisoformat(anchor[:20])
    except ValueError:
        raise bad_request("date is YYYY-MM-DD", "date") from None


def site_board(ask: Ask, goals: list[str], period: str, anchor: str) -> dict[str, Any]:
    """One site's KPIs from its stats answers (``ask``: a v2 body → the v2 answer)."""
    base = {"date_range": period, "date": anchor}
    total = ask({**base, "metrics": list(KPIS),
                 "include": {"comparisons": {"mode": "previous_period"}}})
    series = ask({**base, "metrics": ["visitors", "visits", "pageviews"],
                  "dimensions": ["time:day"], "include": {"time_labels": True}})
    row = total["results"][0] if total["results"] else None
    values = row["metrics"] if row else [0] * len(KPIS)
    before = row["comparison"]["metrics"] if row and "comparison" in row else [0] * len(KPIS)
    labels = series["meta"].get("time_labels", [])
    by_day = {r["dimensions"][0]: r["metrics"] for r in series["results"]}
    kpis: dict[str, Any] = {}
    for i, name in enumerate(KPIS):
        spark = ([by_day.get(day, [0, 0, 0])[COUNTS.index(name)] for day in labels]
                 if name in COUNTS else None)
        kpis[name] = _kpi(values[i], before[i], spark)
    revenue: dict[str, Any] = {}
    if goals:
        conv = ask({**base, "metrics": ["visitors", "conversion_rate", "total_revenue"],
                    "dimensions": ["event:goal"],
                    "include": {"comparisons": {"mode": "previous_period"}}})
        for r in conv["results"]:
            name = r["dimensions"][0]
            prev = r.get("comparison", {}).get("metrics", [0, 0, None])
            kpis[GOAL_PREFIX + name] = _kpi(r["metrics"][1], prev[1], None)
            money = r["metrics"][2]
            if isinstance(money, dict) and money.get("currency"):
                cur = money["currency"]
                revenue[cur] = round(revenue.get(cur, 0.0) + float(money["value"]), 2)
        for name in goals:
            kpis.setdefault(GOAL_PREFIX + name, _kpi(0, 0, None))
    return {"kpis": kpis, "revenue": revenue, "days": labels,
            "comparison_date_range": total["meta"].get("comparison_date_range")}


def across(boards: list[dict[str, Any]]) -> dict[str, Any]:
    """The total over several sites' boards."""
    def part(board: dict[str, Any], name: str, key: str) -> float:
        value = board["kpis"][name][key]
        return float(value or 0)

    kpis: dict[str, Any] = {}
    for name in COUNTS:
        now = sum(part(b, name, "value") for b in boards)
        before = sum(part(b, name, "previous") for b in boards)
        spark = [sum(vals) for vals in zip(*(b["kpis"][name]["sparkline"] for b in boards),
                                           strict=True)] if boards else []
        kpis[name] = _kpi(int(now), int(before), spark)
    for name in ("bounce_rate", "visit_duration"):
        weighted = []
        for key in ("value", "previous"):
            visits = sum(part(b, "visits", key) for b in boards)
            total = sum(part(b, name, key) * part(b, "visits", key) for b in boards)
            weighted.append(round(total / visits) if visits else 0)
        kpis[name] = _kpi(weighted[0], weighted[1], None)
    revenue: dict[str, float] = {}
    for b in boards:
        for cur, amount in b["revenue"].items():
            revenue[cur] = round(revenue.get(cur, 0.0) + amount, 2)
    return {"kpis": kpis, "revenue": revenue}


def with_targets(board: dict[str, Any], targets: dict[str, float], *, first: date,
                 last: date, today: date) -> None:
    """Add ``target`` and ``status`` to each KPI of ``board`` that has a target (in place)."""
    running = first <= today <= last
    elapsed = (min(today, last) - first).days + 1
    total_days = (last - first).days + 1
    for name, kpi in board["kpis"].items():
        if name not in targets:
            continue
        target = targets[name]
        value = float(kpi["value"] or 0)
        projected = value
        if running and name in COUNTS and elapsed > 0:
            projected = value * total_days / elapsed
            kpi["projected"] = round(projected, 1)
        good = projected <= target if name in LOWER_IS_BETTER else projected >= target
        if running:
            kpi["status"] = "on_track" if good else "behind"
        else:
            kpi["status"] = "met" if good else "missed"
        kpi["target"] = target


def _kpi(value: Any, previous: Any, sparkline: list[Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value, "previous": previous,
                           "growth": _growth(value, previous)}
    if sparkline is not None:
        out["sparkline"] = sparkline
    return out


def _growth(value: Any, previous: Any) -> float | None:
    """Percent change against the period before (None when there was nothing before)."""
    try:
        now, before = float(value or 0), float(previous or 0)
    except (TypeError, ValueError):
        return None
    if before == 0:
        return None
    return round((now - before) * 100 / before, 1)
