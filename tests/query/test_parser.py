"""Requests → Query, and 400s naming the bad field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from liveinsight.api.errors import status_of
from liveinsight.errors import Problem
from liveinsight.query.model import And, Condition, Goal, Not, Or
from liveinsight.query.parser import parse_simple, parse_v2
from liveinsight.query.runner import query_key

TODAY = date(2026, 11, 20)


def v2(**body: Any) -> Any:
    body.setdefault("metrics", ["visitors"])
    body.setdefault("date_range", "7d")
    return parse_v2(body, site_id=1, timezone="Europe/Berlin", today=TODAY,
                    goals=(Goal("Signup", event_name="Signup"),))


def field_of(**body: Any) -> str | None:
    with pytest.raises(Problem) as info:
        v2(**body)
    assert status_of(info.value) == 400
    return info.value.field


@pytest.mark.parametrize(("period", "first", "last"), [
    ("day", date(2026, 11, 20), date(2026, 11, 20)),
    ("7d", date(2026, 11, 14), date(2026, 11, 20)),
    ("28d", date(2026, 10, 24), date(2026, 11, 20)),
    ("30d", date(2026, 10, 22), date(2026, 11, 20)),
    ("91d", date(2026, 8, 22), date(2026, 11, 20)),
    ("month", date(2026, 11, 1), date(2026, 11, 30)),
    ("6mo", date(2026, 6, 1), date(2026, 11, 30)),
    ("12mo", date(2025, 12, 1), date(2026, 11, 30)),
    ("year", date(2026, 1, 1), date(2026, 12, 31)),
])
def test_periods(period: str, first: date, last: date) -> None:
    q = v2(date_range=period)
    assert (q.date_range.first, q.date_range.last) == (first, last)


def test_local_midnights_become_utc_instants() -> None:
    q = v2(date_range=["2026-03-29", "2026-03-29"])
    assert q.date_range.start == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert q.date_range.end == datetime(2026, 3, 29, 22, tzinfo=UTC)


def test_filters_tree() -> None:
    q = v2(filters=[["is", "visit:country", ["DE"]],
                    ["or", [["contains", "event:page", ["/a"], {"case_sensitive": False}],
                            ["not", ["matches", "event:props:plan", ["^p"]]]]]])
    assert q.filters == And((
        Condition("is", "visit:country", ("DE",)),
        Or((Condition("contains", "event:page", ("/a",), False),
            Not(Condition("matches", "event:props:plan", ("^p",))))),
    ))


@pytest.mark.parametrize(("body", "field"), [
    ({"metrics": ["visitorz"]}, "metrics"),
    ({"metrics": []}, "metrics"),
    ({"metrics": ["conversion_rate"]}, "metrics"),
    ({"dimensions": ["visit:planet"]}, "dimensions"),
    ({"dimensions": ["time:minute"], "date_range": "30d"}, "dimensions"),
    ({"dimensions": ["time:day", "time:hour"]}, "dimensions"),
    ({"date_range": "fortnight"}, "date_range"),
    ({"date_range": ["2026-13-01", "2026-12-02"]}, "date_range"),
    ({"date_range": ["2026-12-02", "2026-12-01"]}, "date_range"),
    ({"filters": [["equals", "event:page", ["/"]]]}, "filters[0]"),
    ({"filters": [["is", "event:page", "/"]]}, "filters[0]"),
    ({"filters": [["matches", "event:page", ["x" * 1001]]]}, "filters"),
    ({"filters": [["is", "event:page", ["x" * 2001]]]}, "filters"),
    ({"filters": [["is", "event:page", ["/"] * 501]]}, "filters[0]"),
    ({"filters": [["is", "event:page", ["/"]]] * 101}, "filters"),
    ({"date_range": ["0001-01-01", "2026-12-02"]}, "date_range"),
    ({"date_range": ["2026-12-01", "9999-12-31"]}, "date_range"),
    ({"date_range": "7d", "date": "9999-12-31"}, "date"),
    ({"date_range": ["1970-01-01", "1970-01-02"],
      "include": {"comparisons": {"mode": "year_over_year"}}}, "include.comparisons"),
    ({"filters": [["is", "time:day", ["x"]]]}, "filters"),
    ({"filters": [["is", "event:goal", ["Nope"]]]}, "filters"),
    ({"filters": [["and", []]]}, "filters[0]"),
    ({"order_by": [["pageviews", "desc"]]}, "order_by"),
    ({"pagination": {"limit": 0}}, "pagination.limit"),
    ({"include": {"comparisons": {"mode": "sideways"}}}, "include.comparisons"),
    ({"dimensions": ["visit:entry_page"], "metrics": ["events"]}, "metrics"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_requests_name_the_field(body: dict[str, Any], field: str) -> None:
    assert field_of(**body) == field


def test_simple_params() -> None:
    q = parse_simple({"period": "custom", "date": "2026-11-01,2026-11-05",
                      "metrics": "visitors,bounce_rate", "property": "visit:source",
                      "filters": "event:page==/blog/*;visit:country!=DE|FR", "limit": "5",
                      "page": "3"}, "breakdown", site_id=1, timezone="UTC", goals=(),
                     today=TODAY)
    assert q.dimensions == ("visit:source",)
    assert (q.limit, q.offset) == (5, 10)
    assert q.filters == And((Condition("matches", "event:page", ("^/blog/[^/]*$",)),
                             Condition("is_not", "visit:country", ("DE", "FR"))))
    series = parse_simple({"period": "day", "interval": "hour", "compare": "previous_period"},
                          "timeseries", site_id=1, timezone="UTC", goals=(), today=TODAY)
    assert series.dimensions == ("time:hour",) and series.include.comparison == "previous_period"
    with pytest.raises(Problem) as info:
        parse_simple({"period": "custom"}, "aggregate", site_id=1, timezone="UTC", goals=(),
                     today=TODAY)
    assert info.value.field == "date"


def test_query_key_is_stable_and_distinguishes_queries() -> None:
    assert query_key(v2()) == query_key(v2())
    assert query_key(v2()) != query_key(v2(date_range="30d"))
    a = v2(filters=[["and", [["is", "event:page", ["/"]]]]])
    o = v2(filters=[["or", [["is", "event:page", ["/"]]]]])
    assert query_key(a) != query_key(o)
