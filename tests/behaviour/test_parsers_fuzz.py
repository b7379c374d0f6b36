"""Property tests of the behaviour parsers (funnels, journeys, retention, KPI boards, the
shared scope): whatever a request holds, they return a value or raise the domain's ``Problem``
(a 4xx naming the field), never anything else. Bodies come as FastAPI parses them (Python's
``json``: ``NaN`` and ``Infinity`` included); GET parameters as strings."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from liveinsight.api.errors import status_of
from liveinsight.behaviour import funnels, journeys, kpi, retention
from liveinsight.behaviour.scope import parse_scope, parse_simple_scope
from liveinsight.errors import Problem
from liveinsight.query.model import Goal, local_range
from liveinsight.query.parser import MAX_DATE, MIN_DATE

GOALS = (Goal("Signup", event_name="Signup"),)

_words = st.sampled_from([
    "page", "event", "path", "name", "props", "steps", "window", "order", "modes", "basis",
    "ordered", "strict", "any", "strict_deduplication", "strict_increase", "visitor",
    "session", "user", "next", "previous", "paths", "sankey", "kind", "limit", "k",
    "day", "week", "month", "7d", "30d", "12mo", "year", "all", "custom", "/", "/blog/*",
    "30m", "2h", "7d", "0s", "9999999d", "90d", "2026-11-20", "0001-01-01", "9999-12-31",
    "visit:source", "event:hostname", "event:props:plan", "visit:nope", "", "1", "-1", "1e9",
])
_text = _words | st.text(max_size=12)
_scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
            | st.floats(allow_nan=True, allow_infinity=True) | _text)
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(_text, inner, max_size=4), max_leaves=16)
_step = st.fixed_dictionaries({"type": _words | _json}, optional={
    "path": _text | _json, "name": _text | _json,
    "props": st.dictionaries(_text, _scalars, max_size=3) | _json})
_funnel = _json | st.fixed_dictionaries({"steps": st.lists(_step, max_size=9) | _json},
                                        optional={"window": _scalars, "order": _scalars,
                                                  "modes": st.lists(_scalars, max_size=3),
                                                  "basis": _scalars, "name": _scalars})
_fields = st.sampled_from(["kind", "page", "steps", "limit", "k", "period", "identity",
                           "date", "date_range", "filters", "include"])
_bodies = st.dictionaries(_fields | _text, _json, max_size=6) | st.fixed_dictionaries(
    {}, optional={name: _scalars for name in ("kind", "page", "steps", "limit", "k", "period",
                                              "identity", "date", "date_range")})
_params = st.dictionaries(_fields, _text, max_size=6)
_today = st.dates(min_value=MIN_DATE, max_value=MAX_DATE)


def _parses_or_problem(call: Any) -> Any:
    try:
        return call()
    except Problem as problem:
        assert 400 <= status_of(problem) < 500, problem
        assert problem.field is not None, f"no field named: {problem}"  # "": a key named ""
        return problem


@settings(max_examples=400, deadline=None)
@given(raw=_funnel)
def test_funnels_parse_or_name_the_field(raw: Any) -> None:
    out = _parses_or_problem(lambda: funnels.parse_funnel(raw))
    if not isinstance(out, Problem):
        assert funnels.MIN_STEPS <= len(out.steps) <= funnels.MAX_STEPS
        assert 1 <= out.window <= funnels.MAX_WINDOW_S


@settings(max_examples=300, deadline=None)
@given(body=_bodies, params=_params)
@example(body={"kind": "paths", "steps": float("inf")}, params={})  # was an OverflowError
def test_journeys_parse_or_name_the_field(body: dict[str, Any], params: dict[str, str]
                                          ) -> None:
    for raw in (body, params):
        out = _parses_or_problem(lambda raw=raw: journeys.parse_journey(raw))
        assert isinstance(out, journeys.Journey | Problem)


@settings(max_examples=300, deadline=None)
@given(body=_bodies, first=_today, days=st.integers(0, 3000))
def test_retention_parses_or_names_the_field(body: dict[str, Any], first: date,
                                             days: int) -> None:
    last = min(MAX_DATE, date.fromordinal(first.toordinal() + days))
    dr = local_range("custom", first, last, "UTC")
    out = _parses_or_problem(lambda: retention.parse_retention(body, dr))
    assert isinstance(out, retention.Retention | Problem)


@settings(max_examples=300, deadline=None)
@given(body=_bodies)
def test_kpi_requests_parse_or_name_the_field(body: dict[str, Any]) -> None:
    out = _parses_or_problem(lambda: kpi.parse_request(body))
    assert isinstance(out, tuple | Problem)


@settings(max_examples=300, deadline=None)
@given(body=_bodies, params=_params, today=_today,
       breakdown=st.none() | _words, comparisons=st.booleans())
def test_scopes_parse_or_name_the_field(body: dict[str, Any], params: dict[str, str],
                                        today: date, breakdown: str | None,
                                        comparisons: bool) -> None:
    _parses_or_problem(lambda: parse_scope(body, site_id=1, timezone="Europe/Berlin",
                                           goals=GOALS, today=today, breakdown=breakdown,
                                           comparisons=comparisons))
    _parses_or_problem(lambda: parse_simple_scope(params, site_id=1, timezone="UTC",
                                                  goals=GOALS, today=today))
