"""Property tests of the alert rule parser and its durations: any JSON body (as FastAPI reads
it, ``NaN`` and ``Infinity`` included) parses or raises ``Problem`` with a 4xx naming the
field, never anything else."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from liveinsight.api.errors import status_of
from liveinsight.errors import Invalid, Problem
from liveinsight.ops.alerts import durations
from liveinsight.ops.alerts.rules import parse_rule
from liveinsight.ops.alerts.samples import MetricInfo

METRICS = {
    "liveinsight_events_total": MetricInfo("liveinsight_events_total", "counter",
                                           frozenset({"site", "outcome"})),
    "liveinsight_request_seconds": MetricInfo("liveinsight_request_seconds", "histogram",
                                              frozenset({"route"})),
}

_words = st.sampled_from([
    "metric", "traffic", "security", "info", "warning", "critical", "value", "rate",
    "increase", "p95", ">", "<=", "!=", "5m", "30s", "2h", "1d", "0", "²m", "²", "12:00",
    "²²:00", "24:00", "liveinsight_events_total", "liveinsight_request_seconds", "site",
    "route", "outcome", "example.com", "drop", "spike", "",
])
_scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
            | st.floats(allow_nan=True, allow_infinity=True) | _words | st.text(max_size=10))
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(_words | st.text(max_size=6), inner, max_size=3),
                     max_leaves=12)
_names = ["kind", "name", "severity", "enabled", "notify_resolved", "incident", "flap",
          "description", "for", "window", "channels", "escalation", "cooldown", "repeat",
          "metric", "stat", "labels", "ratio_of", "op", "threshold", "by", "group_by",
          "site_id", "events", "action", "direction", "baseline", "quiet_hours"]
_bodies = st.fixed_dictionaries({}, optional={name: _json for name in _names})


def _site_id(raw: object) -> int:
    if raw == "example.com" or raw == 1:
        return 1
    raise Invalid("no such site", field="site_id")


def _parses_or_problem(call: Any) -> Any:
    try:
        return call()
    except Problem as problem:
        assert 400 <= status_of(problem) < 500, problem
        assert problem.field, f"no field named: {problem}"
        return problem


@settings(max_examples=500, deadline=None)
@given(body=_bodies)
@example(body={"name": "x", "for": float("nan")})  # int(NaN): was a ValueError, a 500
@example(body={"name": "x", "window": float("inf")})  # int(inf): was an OverflowError
@example(body={"name": "x", "cooldown": "²m"})  # "²".isdigit(), int("²") fails
def test_rules_parse_or_name_the_field(body: dict[str, Any]) -> None:
    _parses_or_problem(lambda: parse_rule(body, metrics=METRICS, channel_ids={1, 2},
                                          site_id=_site_id))


@settings(max_examples=300, deadline=None)
@given(value=_json)
@example(value="²²:00")
def test_durations_and_times_of_day_parse_or_name_the_field(value: Any) -> None:
    _parses_or_problem(lambda: durations.seconds(value, "for"))
    _parses_or_problem(lambda: durations.clock_time(value, "quiet_hours.start"))
