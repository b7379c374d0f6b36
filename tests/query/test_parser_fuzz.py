"""Property tests of the stats query parsers: whatever a request holds, they return a query or
raise the domain's ``Problem`` (a 4xx naming the field), never anything else. Inputs are built
from the parsers' own vocabulary (periods, metrics, dimensions, filter operators, dates at the
calendar's edges) mixed with arbitrary text, so they reach deep branches, not only the first
check. The collector bodies have theirs in tests/ingest/test_parse.py."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from liveinsight.api.errors import status_of
from liveinsight.errors import Problem
from liveinsight.query.model import Goal, Query
from liveinsight.query.parser import (
    MAX_DATE,
    MIN_DATE,
    parse_date,
    parse_date_range,
    parse_simple,
    parse_v2,
)

GOALS = (Goal("Signup", event_name="Signup"), Goal("Blog", page_path="/blog/**"))
TIMEZONES = ("UTC", "Europe/Berlin", "America/New_York", "Pacific/Kiritimati", "Asia/Kathmandu")

_words = st.sampled_from([
    "visitors", "visits", "pageviews", "bounce_rate", "visit_duration", "events",
    "conversion_rate", "total_revenue", "scroll_depth", "time_on_page", "views_per_visit",
    "event:page", "event:goal", "event:name", "event:hostname", "event:props:plan",
    "visit:source", "visit:country", "visit:browser", "visit:entry_page", "visit:city",
    "time", "time:minute", "time:hour", "time:day", "time:week", "time:month",
    "day", "7d", "28d", "30d", "91d", "month", "6mo", "12mo", "year", "all", "custom",
    "is", "is_not", "contains", "contains_not", "matches", "matches_not", "and", "or", "not",
    "has_done", "has_not_done", "previous_period", "year_over_year", "desc", "asc",
    "2026-11-20", "2026-02-29", "2024-02-29", "0001-01-01", "9999-12-31", "1970-01-01",
    "2026-11-20T12:00:00Z", "2026-11-20T25:00:00", "2026-11-20T12:00:00+14:00",
    "Signup", "Blog", "*", "**", "/blog*", "|", ";", "==", "!=", "~", "!~", ",", "",
    "exact", "auto", "true", "false", "0", "-1", "1e9", "99999999999999999999",
])
_text = _words | st.text(max_size=20)
_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64)
            | st.floats(allow_nan=True) | _text)
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(_text, inner, max_size=4), max_leaves=16)
_v2_keys = st.sampled_from(["metrics", "date_range", "date", "dimensions", "filters",
                            "order_by", "include", "pagination", "sampling"])
_include = st.fixed_dictionaries({}, optional={
    "comparisons": _json | st.fixed_dictionaries({"mode": _words}, optional={
        "date_range": _json, "match_day_of_week": _json}),
    "time_labels": _json, "imports": _json, "total_rows": _json})
_filter = st.recursive(
    st.tuples(_words, _words, st.lists(_text, max_size=3)).map(list),
    lambda inner: st.tuples(st.sampled_from(["and", "or"]), st.lists(inner, max_size=3)
                            ).map(list) | st.tuples(st.just("not"), inner).map(list),
    max_leaves=8)
_v2_bodies = st.dictionaries(_v2_keys, _json, max_size=6) | st.fixed_dictionaries(
    {"metrics": st.lists(_words, max_size=3)},
    optional={"date_range": _words | st.lists(_words, min_size=2, max_size=2),
              "dimensions": st.lists(_words, max_size=2), "filters": st.lists(_filter, max_size=3),
              "include": _include, "date": _words,
              "order_by": st.lists(st.lists(_words, max_size=2), max_size=2),
              "pagination": st.dictionaries(st.sampled_from(["limit", "offset"]), _json)})
_simple_keys = st.sampled_from(["period", "date", "metrics", "property", "interval", "filters",
                                "compare", "compare_from", "compare_to", "match_day_of_week",
                                "limit", "page", "sampling"])
_joined = st.lists(_text, max_size=5).flatmap(
    lambda parts: st.sampled_from([",", ";", "|", "==", "!=", "~", ""]).map(
        lambda sep: sep.join(parts)))
_simple_params = st.dictionaries(_simple_keys, _text | _joined, max_size=8)
# The server's today, or a request's `date` (parse_date keeps it within the calendar).
_today = st.dates(min_value=MIN_DATE, max_value=MAX_DATE)


def _parses_or_problem(call: Any) -> Any:
    try:
        return call()
    except Problem as problem:
        assert 400 <= status_of(problem) < 500, problem
        assert problem.field, f"no field named: {problem}"
        return problem


@settings(max_examples=400, deadline=None)
@given(body=_v2_bodies, timezone=st.sampled_from(TIMEZONES), today=_today)
@example(body={"metrics": ["visitors"], "date_range": "7d",  # was an OverflowError
               "pagination": {"limit": float("inf")}}, timezone="UTC", today=date(2026, 1, 1))
def test_v2_bodies_parse_or_name_the_field(body: dict[str, Any], timezone: str,
                                           today: date) -> None:
    out = _parses_or_problem(lambda: parse_v2(body, site_id=1, timezone=timezone, goals=GOALS,
                                              today=today, sample_rows=1000))
    assert isinstance(out, Query | Problem)


@settings(max_examples=400, deadline=None)
@given(params=_simple_params, kind=st.sampled_from(["aggregate", "timeseries", "breakdown"]),
       timezone=st.sampled_from(TIMEZONES), today=_today)
def test_get_parameters_parse_or_name_the_field(params: dict[str, str], kind: Any,
                                                timezone: str, today: date) -> None:
    out = _parses_or_problem(lambda: parse_simple(params, kind, site_id=1, timezone=timezone,
                                                  goals=GOALS, today=today))
    assert isinstance(out, Query | Problem)


@settings(max_examples=300, deadline=None)
@given(filters=_text | _joined | _json.map(str), timezone=st.sampled_from(TIMEZONES))
def test_filter_strings_parse_or_name_the_field(filters: str, timezone: str) -> None:
    out = _parses_or_problem(lambda: parse_simple(
        {"filters": filters}, "aggregate", site_id=1, timezone=timezone, goals=GOALS,
        today=date(2026, 11, 20)))
    assert isinstance(out, Query | Problem)


@settings(max_examples=400, deadline=None)
@given(spec=_json | st.lists(_words, min_size=2, max_size=2), today=_today,
       timezone=st.sampled_from(TIMEZONES))
def test_date_ranges_parse_or_name_the_field(spec: Any, today: date, timezone: str) -> None:
    out = _parses_or_problem(lambda: parse_date_range(spec, timezone, today, "date_range"))
    if not isinstance(out, Problem):
        assert out.start <= out.end
    date_out = _parses_or_problem(lambda: parse_date(spec, "date"))
    assert isinstance(date_out, date | Problem)
