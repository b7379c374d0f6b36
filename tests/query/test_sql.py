"""The SQL builder is pure: shape of the SQL it writes, and user values only as parameters."""

from __future__ import annotations

from datetime import date
from typing import Any

from liveinsight.query import sql
from liveinsight.query.model import Goal
from liveinsight.query.parser import parse_v2

HOSTILE = "x'); DROP TABLE events; --"


def build(rollups: bool = False, timezone: str = "Europe/Berlin",
          **body: Any) -> tuple[str, dict[str, Any]]:
    """The raw-table SQL unless ``rollups``."""
    body.setdefault("date_range", "7d")
    q = parse_v2(body, site_id=7, timezone=timezone, today=date(2026, 11, 20),
                 goals=(Goal(HOSTILE, event_name=HOSTILE), Goal("Page", page_path="/a/*")))
    return sql.build(q, "liveinsight", rollups=rollups)


def test_user_values_only_appear_as_parameters() -> None:
    text, params = build(
        metrics=["visitors", "visits", "conversion_rate"],
        dimensions=["event:props:" + HOSTILE, "visit:source", "event:goal"],
        filters=[["is", "visit:country", [HOSTILE]], ["contains", "event:page", [HOSTILE]],
                 ["matches", "visit:browser", ["^" + "a{2}"]],
                 ["is", "event:goal", [HOSTILE]], ["is", "visit:entry_page", [HOSTILE]]],
        pagination={"limit": 17, "offset": 33},
    )
    assert HOSTILE not in text and "DROP" not in text
    assert HOSTILE in params.values()
    assert "Europe/Berlin" not in text and params["p3"] == "Europe/Berlin"
    assert " 17" not in text and " 33" not in text
    assert 17 in params.values() and 33 in params.values()


def test_event_metrics_read_events_only() -> None:
    text, _ = build(metrics=["visitors", "pageviews"], dimensions=["event:page"])
    assert "liveinsight`.events" in text and "sessions" not in text
    assert "uniqCombined(visitor_id)" in text and "GROUP BY k0" in text
    assert "name != 'engagement'" in text


def test_session_metrics_read_sessions_with_sign() -> None:
    text, _ = build(metrics=["visits", "bounce_rate"], dimensions=["visit:source"])
    assert "`liveinsight`.sessions" in text and "`liveinsight`.events" not in text
    assert "sum(sign * toInt8(start >= {p1:DateTime64(3, 'UTC')}))" in text
    assert "HAVING sum(sign) > 0" in text


def test_visit_only_queries_count_visitors_from_overlapping_sessions() -> None:
    text, _ = build(metrics=["visitors", "visits"], dimensions=["visit:country"])
    assert "`liveinsight`.events" not in text
    assert "uniqCombinedIf(visitor_id, timestamp >= {p1:DateTime64(3, 'UTC')})" in text
    assert "(start >= {p1:DateTime64(3, 'UTC')} OR timestamp >= {p1:" in text
    # Pageviews still come from events; visitors stay with the sessions.
    text, _ = build(metrics=["visitors", "pageviews"], dimensions=["visit:country"])
    assert "countIf(name = 'pageview')" in text and "uniqCombinedIf(visitor_id" in text
    # Hours, event dimensions and event filters keep visitors on the events table.
    text, _ = build(metrics=["visitors"], dimensions=["time:day"])
    assert "arrayJoin(arrayFilter(d -> d >= {p4:Date}" in text and "events" not in text
    for body in ({"metrics": ["visitors"], "dimensions": ["time:hour"]},
                 {"metrics": ["visitors"], "dimensions": ["event:page"]},
                 {"metrics": ["visitors"], "filters": [["is", "event:page", ["/"]]]}):
        text, _ = build(**body)
        assert "uniqCombined(visitor_id) AS m_visitors FROM `liveinsight`.events" in text


def test_mixed_metrics_join_on_dimensions() -> None:
    text, _ = build(metrics=["pageviews", "visits"], dimensions=["visit:device"])
    assert "FULL OUTER JOIN" in text and "USING (k0)" in text
    text, _ = build(metrics=["pageviews", "visits"])
    assert "CROSS JOIN" in text


def test_event_filter_on_session_metrics_is_a_session_subquery() -> None:
    text, _ = build(metrics=["visits"], filters=[["is", "event:page", ["/x"]]])
    assert "session_id IN (SELECT session_id FROM `liveinsight`.events" in text


def test_entry_page_filter_on_event_metrics_reads_latest_session_version() -> None:
    text, _ = build(metrics=["pageviews"], filters=[["is", "visit:exit_page", ["/x"]]])
    assert "argMax(exit_page, version)" in text
    assert "session_id IN (SELECT session_id FROM `liveinsight`.sessions" in text


def test_time_buckets_use_the_site_time_zone() -> None:
    text, params = build(metrics=["visitors"], dimensions=["time:hour"])
    assert "intDiv(toYYYYMMDDhhmmss(toTimeZone(timestamp, {p3:String})), 10000)" in text
    assert params["p3"] == "Europe/Berlin"


def test_event_dimensions_with_session_metrics_join_distinct_sessions() -> None:
    text, _ = build(metrics=["visits", "bounce_rate"], dimensions=["event:page"])
    assert "INNER JOIN (SELECT DISTINCT session_id AS _sid" in text


def test_dashboard_queries_read_the_rollups() -> None:
    text, params = build(True, metrics=["visitors", "pageviews"])
    assert "`liveinsight`.events_rollup" in text and "`liveinsight`.events " not in text
    assert "uniqCombinedMerge(visitors)" in text and "" in params.values()
    # 7 days from Saturday 14 November (Berlin, UTC+1): 23:00 UTC the day before → 23:00.
    assert "2026-11-13 23:00:00" in params.values() and "2026-11-20 23:00:00" in params.values()
    text, _ = build(True, metrics=["visitors", "visits", "bounce_rate", "pageviews"])
    assert "events_rollup" in text and "sessions_rollup" in text and "CROSS JOIN" in text
    text, _ = build(True, metrics=["visitors", "visits"], dimensions=["time:day"])
    assert "toDate(toTimeZone(bucket" in text and "level = 0" in text and "level = 1" not in text
    assert "sessions_rollup" in text and "LEFT JOIN" in text and "USING (k0)" in text


def test_rollups_only_when_the_answer_is_the_same() -> None:
    for body in (
        {"metrics": ["visitors"], "filters": [["is", "visit:country", ["DE"]]]},
        {"metrics": ["visitors", "pageviews"], "dimensions": ["event:page"]},
        {"metrics": ["visitors"], "dimensions": ["visit:country"]},
        {"metrics": ["visitors"], "dimensions": ["visit:entry_page"]},
        {"metrics": ["visits"], "dimensions": ["visit:exit_page"]},
        {"metrics": ["visits"], "dimensions": ["event:page"]},
        {"metrics": ["visitors"], "dimensions": ["visit:city"]},
        {"metrics": ["visitors", "scroll_depth"]},
        {"metrics": ["visitors", "percentage"], "dimensions": ["visit:source"]},
        {"metrics": ["conversion_rate"], "dimensions": ["event:goal"]},
        {"metrics": ["visitors"], "dimensions": ["time:minute"], "date_range": "day"},
        {"metrics": ["visitors"], "dimensions": ["visit:source", "visit:country"]},
        {"metrics": ["visitors"], "timezone": "Asia/Kolkata"},  # UTC+5:30: half hours
        {"metrics": ["visitors"], "date_range": ["2026-11-20T10:30:00+01:00",
                                                 "2026-11-20T12:00:00+01:00"]},
    ):
        text, _ = build(True, **body)
        assert "_rollup" not in text, body


def test_rollup_cover_uses_weeks_days_and_edge_hours() -> None:
    from datetime import UTC, datetime

    from liveinsight.query.rollup import cover

    start = datetime(2026, 10, 21, 22, tzinfo=UTC)  # Thursday 22 October, Berlin
    end = datetime(2026, 11, 20, 23, tzinfo=UTC)
    assert cover(start, end, time_buckets=False) == [
        (0, start, datetime(2026, 10, 22, tzinfo=UTC)),
        (0, datetime(2026, 11, 20, tzinfo=UTC), end),
        (1, datetime(2026, 10, 22, tzinfo=UTC), datetime(2026, 10, 26, tzinfo=UTC)),
        (1, datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)),
        (2, datetime(2026, 10, 26, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC)),
    ]
    assert cover(start, end, time_buckets=True) == [(0, start, end)]
    one_day = datetime(2026, 11, 20, tzinfo=UTC)
    assert cover(one_day, datetime(2026, 11, 21, tzinfo=UTC), False) == [
        (1, one_day, datetime(2026, 11, 21, tzinfo=UTC))]
