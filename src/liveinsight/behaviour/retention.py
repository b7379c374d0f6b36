"""Retention: cohorts of visitors by the day, week or month they were first seen, and how
many of each came back in each later period (a triangle table).

A visitor's cohort is the period (in the site's time zone; weeks start on Monday) of their
first event *in the range asked*: what happened before the range is not looked at. A visitor
counts as returning in period ``k`` after their cohort's when they have any event in it.
One grouping per visitor (``min`` of the period, ``groupUniqArray`` of the periods seen),
``ARRAY JOIN`` of those, one grouping per (cohort, offset): SQL, pure, built here.

Identity: ``visitor`` is the cookieless visitor id, which changes whenever the site's salt
rotates (daily by default: then nobody is seen returning on a later day; see the user
guide); ``user`` is the ``user_id`` property the site sends with its events (only events
carrying one are counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal, cast

from liveinsight.behaviour.scope import Scope
from liveinsight.errors import bad_request
from liveinsight.query.model import DateRange

PERIODS = ("day", "week", "month")
IDENTITIES = ("visitor", "user")
USER_PROP = "user_id"
MAX_COHORTS = {"day": 92, "week": 104, "month": 36}
_START = {"day": "toDate({t})", "week": "toMonday({t})", "month": "toStartOfMonth({t})"}

Period = Literal["day", "week", "month"]
Identity = Literal["visitor", "user"]


@dataclass(frozen=True, slots=True)
class Retention:
    period: Period = "week"
    identity: Identity = "visitor"

    def doc(self) -> dict[str, Any]:
        return {"period": self.period, "identity": self.identity}


def parse_retention(raw: dict[str, Any], dr: DateRange, field: str = "period") -> Retention:
    """``period`` and ``identity`` checked, and the range against the period's cohort limit
    (``Invalid`` naming the field)."""
    period = raw.get("period", "week")
    if period not in PERIODS:
        raise bad_request(f"period is one of {', '.join(PERIODS)}", field)
    identity = raw.get("identity", "visitor")
    if identity not in IDENTITIES:
        raise bad_request("identity is visitor or user", "identity")
    r = Retention(cast(Period, period), cast(Identity, identity))
    count = len(cohort_starts(r, dr.first, dr.last))
    if count > MAX_COHORTS[period]:
        raise bad_request(f"at most {MAX_COHORTS[period]} {period} cohorts: narrow the range "
                          f"or use a longer period", "date_range")
    return r


def retention_sql(r: Retention, scope: Scope) -> tuple[str, dict[str, Any]]:
    """Rows ``cohort`` (date text), ``offset`` (periods after it), ``visitors``."""
    p = scope.p
    start = _START[r.period].format(t=f"toTimeZone(timestamp, {scope.tz})")
    who = "visitor_id"
    only = ""
    if r.identity == "user":
        key = p.add(USER_PROP, "String")
        who = f"props[{key}]"
        only = f" AND props[{key}] != ''"
    per = (f"SELECT {who} AS who, min({start}) AS cohort, groupUniqArray({start}) AS seen"
           f" FROM {scope.db}.events WHERE {scope.rows()}{only} GROUP BY who")
    unit = p.add(r.period, "String")
    sql = (f"SELECT toString(cohort) AS c, dateDiff({unit}, cohort, s) AS k, count() AS n"
           f" FROM ({per}) ARRAY JOIN seen AS s GROUP BY c, k ORDER BY c, k")
    return sql, p.values


def cohort_starts(r: Retention, first: date, last: date) -> list[date]:
    """The first day of every period from ``first``'s to ``last``'s."""
    starts = []
    day = _start_of(r.period, first)
    while day <= last:
        starts.append(day)
        day = _next(r.period, day)
    return starts


def shape(r: Retention, rows: list[list[Any]], first: date, last: date) -> dict[str, Any]:
    """The triangle: every cohort of the range (empty ones too), each with the offsets that
    have fully or partly passed by ``last`` (zeros included)."""
    counts = {(str(row[0]), int(row[1])): int(row[2]) for row in rows}
    starts = cohort_starts(r, first, last)
    cohorts = []
    for i, start in enumerate(starts):
        size = counts.get((start.isoformat(), 0), 0)
        cohorts.append({"cohort": start.isoformat(), "visitors": size, "retention": [
            {"offset": k, "visitors": counts.get((start.isoformat(), k), 0),
             "percentage": round(counts.get((start.isoformat(), k), 0) * 100 / size, 2)
             if size else None}
            for k in range(len(starts) - i)]})
    return {**r.doc(), "cohorts": cohorts}


_ROTATION_DAYS = {"daily": 1, "weekly": 7, "monthly": 28}


def notes(r: Retention, rotation: str) -> list[str]:
    """What the site's salt rotation lets this analysis see (cookieless visitor ids)."""
    if r.identity != "visitor":
        return []
    if rotation == "daily":
        return ["visitor ids change every day (the site's salt rotation is daily): a "
                "visitor returning on a later day counts as a new visitor, so only same-day "
                "returns show; see the user guide (Retention) for the options"]
    if r.period == "month" or (r.period == "week" and rotation == "weekly"):
        return [f"visitor ids change {rotation} (the site's salt rotation): returns after "
                "the id changed count as new visitors"]
    return [f"visitor ids change {rotation}: returns are seen within one rotation period"]


def _start_of(period: str, day: date) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def _next(period: str, day: date) -> date:
    if period == "day":
        return day + timedelta(days=1)
    if period == "week":
        return day + timedelta(days=7)
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)
