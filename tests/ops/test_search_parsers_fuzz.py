"""Property tests of the log and trace search parsers (``/admin/logs/*``,
``/admin/performance/*``): any query parameters parse or raise ``Problem`` with a 4xx naming
the parameter, never anything else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from liveinsight.api.errors import status_of
from liveinsight.errors import Problem
from liveinsight.ops import logsearch, perfsearch

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)

_words = st.sampled_from([
    "", "error", "info", "warning", "200", "599", "600", "099", "²", "١٢٣", " 42 ", "-1",
    "nan", "inf", "1e9", "0", "2026-11-20T11:00:00Z", "2026-11-20T13:00:00+01:00",
    "2026-11-20", "2026-10-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
    "2026-11-20T11:00:00", "a" * 40, "0123456789abcdef0123456789abcdef", "key:value", "x*",
])
_values = _words | st.text(max_size=20)
_log_names = st.sampled_from(["since", "until", "level", "logger", "text", "request_id",
                              "route", "trace_id", "fingerprint", "node", "status", "site_id",
                              "field"])
_trace_names = st.sampled_from(["since", "until", "route", "name", "min_duration_ms",
                                "status", "trace_id", "node"])


def _parses_or_problem(call: Any) -> Any:
    try:
        return call()
    except Problem as problem:
        assert 400 <= status_of(problem) < 500, problem
        assert problem.field, f"no field named: {problem}"
        return problem


@settings(max_examples=400, deadline=None)
@given(params=st.dictionaries(_log_names, _values, max_size=8),
       fields=st.none() | st.lists(_values, max_size=7))
@example(params={"status": "²"}, fields=None)  # "²".isdigit(), but int("²") fails
@example(params={"site_id": "²"}, fields=None)
@example(params={"until": "0001-01-01T00:00:00Z"}, fields=None)  # was an OverflowError
def test_log_searches_parse_or_name_the_parameter(params: dict[str, Any],
                                                  fields: list[str] | None) -> None:
    if fields is not None:
        params = {**params, "field": fields}
    out = _parses_or_problem(lambda: logsearch.parse_filter(params, NOW))
    if not isinstance(out, Problem):
        assert out.since < out.until


@settings(max_examples=400, deadline=None)
@given(params=st.dictionaries(_trace_names, _values, max_size=8))
@example(params={"status": "²"})
@example(params={"until": "0001-01-01T00:30:00"})
def test_trace_searches_parse_or_name_the_parameter(params: dict[str, Any]) -> None:
    _parses_or_problem(lambda: perfsearch.parse_traces(params, NOW))
