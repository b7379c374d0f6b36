"""Exact numbers for every metric over a known event set, on the real engine.

The data set (site 1, UTC; site 2, Europe/Berlin):

- A: one visit 2026-11-10 10:00, Google/Organic Search, DE, Desktop Chrome Windows:
  pageview /, pageview /pricing, Signup {plan: pro}, engagement /pricing (20 s, 80 %).
- B: a bounce 2026-11-10 12:00 from Twitter (US, Mobile Safari iOS) on /blog with an
  engagement (10 s, 40 %), and a direct visit 2026-11-11 09:00: /, /blog five minutes later.
- C: a visit across midnight from Google (FR, Desktop Firefox Linux): / at 2026-11-10 23:50,
  /pricing at 2026-11-11 00:10.
- D: 2026-11-11 15:00 from a newsletter (GB, Desktop Edge Windows): /pricing, Signup
  {plan: free} a minute later.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from liveinsight.ops.metrics import Metrics
from liveinsight.query.model import Goal
from liveinsight.query.parser import parse_v2
from liveinsight.query.runner import QueryRunner, Result
from liveinsight.storage.protocol import Store
from tests.query.rows import ingest, visit

GOALS = (Goal("Signup", event_name="Signup"), Goal("Visit /pricing", page_path="/pricing"))
_A = dict(referrer_source="Google", channel="Organic Search", country_code="DE",
          device="Desktop", browser="Chrome", os="Windows")
_B1 = dict(referrer_source="Twitter", channel="Organic Social", country_code="US",
           device="Mobile", browser="Safari", os="iOS")
_B2 = dict(referrer_source="", channel="Direct", country_code="US", device="Mobile",
           browser="Safari", os="iOS")
_C = dict(referrer_source="Google", channel="Organic Search", country_code="FR",
          device="Desktop", browser="Firefox", os="Linux")
_D = dict(referrer_source="Newsletter", channel="Email", utm_source="newsletter",
          utm_medium="email", country_code="GB", device="Desktop", browser="Edge", os="Windows")


def _site1() -> list[Any]:
    return [
        visit(1, 1, [("2026-11-10T10:00:00", "pageview", "/"),
                     ("2026-11-10T10:01:00", "pageview", "/pricing"),
                     ("2026-11-10T10:02:00", "Signup", "/pricing", {"props": {"plan": "pro"}}),
                     ("2026-11-10T10:02:30", "engagement", "/pricing",
                      {"engagement_ms": 20000, "scroll_depth": 80})], **_A),
        visit(1, 2, [("2026-11-10T12:00:00", "pageview", "/blog"),
                     ("2026-11-10T12:00:10", "engagement", "/blog",
                      {"engagement_ms": 10000, "scroll_depth": 40})], **_B1),
        visit(1, 2, [("2026-11-11T09:00:00", "pageview", "/"),
                     ("2026-11-11T09:05:00", "pageview", "/blog")], **_B2),
        visit(1, 3, [("2026-11-10T23:50:00", "pageview", "/"),
                     ("2026-11-11T00:10:00", "pageview", "/pricing")], **_C),
        visit(1, 4, [("2026-11-11T15:00:00", "pageview", "/pricing"),
                     ("2026-11-11T15:01:00", "Signup", "/pricing", {"props": {"plan": "free"}})],
              **_D),
    ]


def _site2() -> list[Any]:
    times = ["2026-03-28T22:30:00", "2026-03-28T23:30:00", "2026-03-29T21:30:00",
             "2026-03-29T22:30:00", "2026-10-25T00:30:00", "2026-10-25T01:30:00",
             "2026-10-25T22:30:00", "2026-10-25T23:30:00"]
    return [visit(2, 100 + i, [(t, "pageview", "/")]) for i, t in enumerate(times)]


@pytest.fixture(scope="module")
def stored(store: Store, segments: Path) -> Store:
    ingest(store, segments, _site1() + _site2())
    return store


@pytest.fixture(scope="module", params=["rollups", "raw"])
def runner(stored: Store, request: pytest.FixtureRequest) -> QueryRunner:
    """Every exact number holds on both paths: the rollups where a query can use them, and
    the raw tables alone."""
    return QueryRunner(stored, Metrics(), timeout_s=10, rollups=request.param == "rollups")


def ask(runner: QueryRunner, site: int = 1, tz: str = "UTC", **body: Any) -> Result:
    body.setdefault("date_range", ["2026-11-10", "2026-11-11"])
    query = parse_v2(body, site_id=site, timezone=tz, goals=GOALS if site == 1 else (),
                     today=date(2026, 11, 11))
    return runner.run(query)


def table(result: Result) -> dict[Any, tuple[Any, ...]]:
    return {r.dimensions[0] if len(r.dimensions) == 1 else r.dimensions: r.metrics
            for r in result.rows}


def one(result: Result) -> tuple[Any, ...]:
    assert len(result.rows) == 1
    return result.rows[0].metrics


ALL = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration",
       "events", "scroll_depth", "time_on_page"]


def test_aggregate_every_metric(runner: QueryRunner) -> None:
    # 4 true uniques over two days (B on both), 5 visits, 8 pageviews, 1 bounce in 5,
    # durations 120+0+300+1200+60, 10 non-engagement events, scroll (80+40)/2, 30 s / 2.
    assert one(ask(runner, metrics=ALL)) == (4, 5, 8, 1.6, 20, 336, 10, 60, 15)


def test_daily_uniques_are_not_summed(runner: QueryRunner) -> None:
    days = ask(runner, metrics=["visitors", "visits", "pageviews"], dimensions=["time:day"])
    assert table(days) == {"2026-11-10": (3, 3, 4), "2026-11-11": (3, 2, 4)}


def test_session_across_midnight_counts_on_its_start_day(runner: QueryRunner) -> None:
    second_day = ask(runner, metrics=["visitors", "visits", "pageviews"],
                     date_range=["2026-11-11", "2026-11-11"])
    # C's 00:10 pageview counts on the 11th; C's visit started on the 10th.
    assert one(second_day) == (3, 2, 4)
    # Read from sessions alone (visit dimensions, no pageviews): the same visitors.
    countries = ask(runner, metrics=["visitors", "visits"], dimensions=["visit:country"],
                    date_range=["2026-11-11", "2026-11-11"])
    assert table(countries) == {"US": (1, 1), "GB": (1, 1), "FR": (1, 0)}
    first_day = ask(runner, metrics=["visitors", "visits", "bounce_rate"],
                    date_range=["2026-11-10", "2026-11-10"])
    assert one(first_day) == (3, 3, 33)


def test_breakdown_by_page(runner: QueryRunner) -> None:
    pages = ask(runner, metrics=["visitors", "pageviews", "visits", "bounce_rate",
                                 "scroll_depth", "time_on_page"], dimensions=["event:page"])
    assert table(pages) == {
        "/": (3, 3, 3, 0, None, None),
        "/pricing": (3, 3, 3, 0, 80, 20),
        "/blog": (1, 2, 2, 50, 40, 10),
    }
    assert [r.dimensions[0] for r in pages.rows] == ["/", "/pricing", "/blog"]


def test_breakdown_by_entry_and_exit_page(runner: QueryRunner) -> None:
    entry = ask(runner, metrics=["visitors", "visits", "bounce_rate", "visit_duration"],
                dimensions=["visit:entry_page"])
    assert table(entry) == {"/": (3, 3, 0, 540), "/blog": (1, 1, 100, 0),
                            "/pricing": (1, 1, 0, 60)}
    # Exit pages change as a visit goes on: cancelled versions must not count.
    exits = ask(runner, metrics=["visitors", "visits", "pageviews", "percentage"],
                dimensions=["visit:exit_page"])
    assert table(exits) == {"/pricing": (3, 3, 5, 75.0), "/blog": (1, 2, 3, 25.0)}


def test_breakdown_by_visit_dimensions(runner: QueryRunner) -> None:
    sources = ask(runner, metrics=["visitors", "visits", "pageviews", "bounce_rate"],
                  dimensions=["visit:source"])
    assert table(sources) == {"Google": (2, 2, 4, 0), "Twitter": (1, 1, 1, 100),
                              "Direct / None": (1, 1, 2, 0), "Newsletter": (1, 1, 1, 0)}
    countries = ask(runner, metrics=["visitors", "percentage"], dimensions=["visit:country"])
    assert table(countries) == {"DE": (1, 25.0), "US": (1, 25.0), "FR": (1, 25.0),
                                "GB": (1, 25.0)}
    mixed = ask(runner, metrics=["visitors"], dimensions=["visit:device", "visit:browser"])
    assert table(mixed) == {("Desktop", "Chrome"): (1,), ("Desktop", "Edge"): (1,),
                            ("Desktop", "Firefox"): (1,), ("Mobile", "Safari"): (1,)}
    utm = ask(runner, metrics=["visitors"], dimensions=["visit:utm_source"],
              filters=[["is_not", "visit:utm_source", [""]]])
    assert table(utm) == {"newsletter": (1,)}


def test_goals_and_conversion_rate(runner: QueryRunner) -> None:
    goals = ask(runner, metrics=["visitors", "events", "conversion_rate"],
                dimensions=["event:goal"])
    assert table(goals) == {"Visit /pricing": (3, 3, 75.0), "Signup": (2, 2, 50.0)}
    visits = ask(runner, metrics=["visits", "visitors"], dimensions=["event:goal"])
    assert table(visits) == {"Visit /pricing": (3, 3), "Signup": (2, 2)}
    signup = ask(runner, metrics=["visitors", "conversion_rate"],
                 filters=[["is", "event:goal", ["Signup"]]])
    assert one(signup) == (2, 50.0)
    by_source = ask(runner, metrics=["visitors", "conversion_rate"],
                    dimensions=["visit:source"], filters=[["is", "event:goal", ["Signup"]]])
    assert table(by_source) == {"Google": (1, 25.0), "Newsletter": (1, 25.0)}


@pytest.mark.parametrize(("op", "values", "case", "expected"), [
    ("matches", ["^Sign"], True, (2, 50.0)),
    ("matches", ["^sign"], False, (2, 50.0)),
    ("matches", ["^sign"], True, (0, 0.0)),
    ("matches", ["(.*.*)*Z"], True, (0, 0.0)),  # backtracks for seconds in Python's re
    ("matches", ["pricing$", "^Signup$"], True, (3, 75.0)),  # either goal
    ("matches_not", ["pricing"], True, (4, 100.0)),  # events that are not those conversions
    ("contains", ["pric"], True, (3, 75.0)),
    ("contains_not", ["up"], False, (4, 100.0)),
])
def test_goal_name_filters_run_in_clickhouse(runner: QueryRunner, op: str, values: list[str],
                                             case: bool, expected: tuple[Any, ...]) -> None:
    """Goal names are matched by ClickHouse (RE2 for ``matches``), not by Python."""
    result = ask(runner, metrics=["visitors", "conversion_rate"],
                 filters=[[op, "event:goal", values, {"case_sensitive": case}]])
    assert one(result) == expected


def test_props(runner: QueryRunner) -> None:
    plans = ask(runner, metrics=["events"], dimensions=["event:props:plan"],
                filters=[["is", "event:name", ["Signup"]]])
    assert table(plans) == {"pro": (1,), "free": (1,)}
    none = ask(runner, metrics=["events"], filters=[["is", "event:props:plan", ["(none)"]]])
    assert one(none) == (8,)


@pytest.mark.parametrize(("filters", "expected"), [
    ([["is", "event:page", ["/blog"]]], (1, 2, 2, 50)),
    ([["is_not", "visit:country", ["US"]]], (3, 5, 3, 0)),
    ([["or", [["is", "visit:browser", ["Chrome"]], ["is", "visit:os", ["Linux"]]]]],
     (2, 4, 2, 0)),
    ([["not", ["is", "visit:device", ["Mobile"]]]], (3, 5, 3, 0)),
    ([["contains", "event:page", ["pri"]]], (3, 3, 3, 0)),
    ([["contains", "event:page", ["PRI"], {"case_sensitive": False}]], (3, 3, 3, 0)),
    ([["contains", "event:page", ["PRI"]]], (0, 0, 0, 0)),
    ([["contains_not", "visit:source", ["oo"]]], (2, 4, 3, 33)),
    ([["matches", "event:page", ["^/b"]]], (1, 2, 2, 50)),
    ([["matches_not", "visit:browser", ["^(Chrome|Safari)$"]]], (2, 3, 2, 0)),
    ([["is", "visit:entry_page", ["/"]]], (3, 6, 3, 0)),
    ([["is", "visit:exit_page", ["/blog"]]], (1, 3, 2, 50)),
    ([["is", "visit:country", ["US", "DE"]], ["is", "event:page", ["/"]]], (2, 2, 2, 0)),
    ([["and", [["is", "visit:source", ["Google"]],
               ["not", ["is", "event:page", ["/pricing"]]]]]], (2, 2, 0, 0)),
])
def test_filters(runner: QueryRunner, filters: list[Any], expected: tuple[Any, ...]) -> None:
    result = ask(runner, metrics=["visitors", "pageviews", "visits", "bounce_rate"],
                 filters=filters)
    assert one(result) == expected


def test_comparison_previous_period_and_year_over_year(runner: QueryRunner) -> None:
    result = ask(runner, metrics=["visitors", "visits"], date_range="day",
                 include={"comparisons": {"mode": "previous_period"}})
    assert result.comparison_range is not None
    assert result.comparison_range.first == date(2026, 11, 10)
    assert one(result) == (3, 2)
    assert result.comparison is not None and result.comparison[0].metrics == (3, 3)
    yoy = ask(runner, metrics=["visitors"], date_range="day",
              include={"comparisons": {"mode": "year_over_year"}})
    assert yoy.comparison is not None and yoy.comparison[0].metrics == (0,)
    series = ask(runner, metrics=["visitors"], date_range=["2026-11-11", "2026-11-11"],
                 dimensions=["time:hour"], include={"comparisons": {"mode":
                                                                    "previous_period"}})
    assert table(series) == {"2026-11-11 00:00:00": (1,), "2026-11-11 09:00:00": (1,),
                             "2026-11-11 15:00:00": (1,)}
    assert series.comparison is not None
    assert [r.metrics for r in series.comparison] == [(0,), (0,), (0,)]
    assert series.comparison[0].dimensions == ("2026-11-10 00:00:00",)


def test_pagination_order_and_total_rows(runner: QueryRunner) -> None:
    result = ask(runner, metrics=["pageviews"], dimensions=["event:page"],
                 order_by=[["pageviews", "asc"], ["event:page", "desc"]],
                 pagination={"limit": 2, "offset": 1}, include={"total_rows": True})
    assert [(r.dimensions[0], r.metrics[0]) for r in result.rows] == [("/pricing", 3), ("/", 3)]
    assert result.total_rows == 3


def test_berlin_spring_forward_day_has_23_hours(runner: QueryRunner) -> None:
    day = ask(runner, site=2, tz="Europe/Berlin", metrics=["pageviews"],
              date_range=["2026-03-29", "2026-03-29"], dimensions=["time:hour"],
              include={"time_labels": True})
    assert table(day) == {"2026-03-29 00:00:00": (1,), "2026-03-29 23:00:00": (1,)}
    assert day.time_labels is not None and len(day.time_labels) == 23
    assert "2026-03-29 02:00:00" not in day.time_labels
    days = ask(runner, site=2, tz="Europe/Berlin", metrics=["pageviews"],
               date_range=["2026-03-28", "2026-03-30"], dimensions=["time:day"])
    assert table(days) == {"2026-03-28": (1,), "2026-03-29": (2,), "2026-03-30": (1,)}


def test_berlin_fall_back_day_has_25_hours(runner: QueryRunner) -> None:
    day = ask(runner, site=2, tz="Europe/Berlin", metrics=["pageviews", "visits"],
              date_range=["2026-10-25", "2026-10-25"], dimensions=["time:hour"],
              include={"time_labels": True})
    # 00:30 UTC is 02:30 CEST and 01:30 UTC is 02:30 CET: the same local hour.
    assert table(day) == {"2026-10-25 02:00:00": (2, 2), "2026-10-25 23:30:00"[:13] +
                          ":00:00": (1, 1)}
    assert day.time_labels is not None and len(day.time_labels) == 24
    total = ask(runner, site=2, tz="Europe/Berlin", metrics=["pageviews"],
                date_range=["2026-10-25", "2026-10-25"])
    assert one(total) == (3,)
    utc = ask(runner, site=2, metrics=["pageviews"], date_range=["2026-10-25", "2026-10-25"])
    assert one(utc) == (4,)


def test_week_and_month_buckets(runner: QueryRunner) -> None:
    weeks = ask(runner, metrics=["visitors"], dimensions=["time:week"],
                date_range=["2026-11-01", "2026-11-30"], include={"time_labels": True})
    assert table(weeks) == {"2026-11-09": (4,)}
    assert weeks.time_labels is not None and weeks.time_labels[0] == "2026-10-26"
    months = ask(runner, metrics=["visitors"], dimensions=["time:month"], date_range="year")
    assert table(months) == {"2026-11-01": (4,)}


def test_buckets_count_visits_where_they_started(runner: QueryRunner) -> None:
    # C's visit started on the 10th (same week) and ran into the 11th: a visitor on the 11th,
    # not a visit of it.
    week = ask(runner, metrics=["visitors", "visits"], dimensions=["time:week"],
               date_range=["2026-11-11", "2026-11-11"])
    assert table(week) == {"2026-11-09": (3, 2)}
    days = ask(runner, metrics=["visitors", "visits", "bounce_rate"], dimensions=["time:day"])
    assert table(days) == {"2026-11-10": (3, 3, 33), "2026-11-11": (3, 2, 0)}


def test_all_time_starts_at_first_event(runner: QueryRunner) -> None:
    result = ask(runner, metrics=["visitors"], date_range="all", dimensions=["time"],
                 include={"time_labels": True})
    assert result.query.date_range.first == date(2026, 11, 10)
    assert result.time_labels == ("2026-11-10", "2026-11-11")
