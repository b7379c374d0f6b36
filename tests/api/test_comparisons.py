"""Comparisons of periods in progress (Plausible's semantics), on the v1 and v2 stats APIs.

The clock stands at Tuesday 2026-03-03 14:30 UTC (site in UTC). Known visits:

- this month: 03-01 v1; 03-02 v2 10:00 (and v5 at 16:00, after "now" of the day before);
  03-03 v4 09:00 — all on /a.
- February: 02-01 v10, 02-02 v11 (/a); 02-03 v12 08:00 and v13 20:00 (/b); 02-10 v14 (/a).
- a year before: 2025-03-01 v21 (a Saturday), 2025-03-02 v20.
- January: 01-05 v30.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import fixed_clock, make_client, make_site, svc_of
from tests.query.rows import ingest, visit

NOW = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)
Client = tuple[TestClient, dict[str, str]]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    tmp_path = tmp_path_factory.mktemp("compare")
    with make_client(tmp_path, clock=fixed_clock(NOW)) as client:
        sid = make_site(client, "example.com").id
        svc = svc_of(client)
        ingest(svc.store, tmp_path / "segments", [
            visit(sid, vid, [(when, "pageview", path)]) for vid, when, path in [
                (1, "2026-03-01T10:00:00", "/a"), (2, "2026-03-02T10:00:00", "/a"),
                (5, "2026-03-02T16:00:00", "/a"), (4, "2026-03-03T09:00:00", "/a"),
                (10, "2026-02-01T10:00:00", "/a"), (11, "2026-02-02T10:00:00", "/a"),
                (12, "2026-02-03T08:00:00", "/b"), (13, "2026-02-03T20:00:00", "/b"),
                (14, "2026-02-10T10:00:00", "/a"), (21, "2025-03-01T10:00:00", "/a"),
                (20, "2025-03-02T10:00:00", "/a"), (30, "2026-01-05T10:00:00", "/a"),
            ]
        ])
        key, _ = svc.meta.create_api_key("stats", ["stats"], [sid])
        yield client, {"authorization": f"Bearer {key}"}


def get(app: Client, kind: str, **params: str) -> dict[str, Any]:
    client, auth = app
    r = client.get(f"/api/stats/{kind}", headers=auth, params={"site_id": "example.com",
                                                                  **params})
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def v2(app: Client, **body: Any) -> dict[str, Any]:
    client, auth = app
    r = client.post("/api/v2/query", headers=auth, json={"site_id": "example.com",
                                                          "metrics": ["visitors"], **body})
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def test_month_in_progress_is_compared_with_the_first_days_of_last_month(app: Client) -> None:
    agg = get(app, "aggregate", period="month", compare="previous_period")
    # 3 elapsed days against February 1-3 (not a 31-day window: no "↓92%").
    assert agg["results"]["visitors"] == {"value": 4, "comparison_value": 4, "change": 0}
    assert agg["comparison_date_range"] == ["2026-02-01T00:00:00+00:00",
                                            "2026-02-03T23:59:59+00:00"]
    ts = get(app, "timeseries", period="month", compare="previous_period")
    # Future days are absent (not zeros); every comparison bucket has its date.
    assert ts["results"] == [{"date": "2026-03-01", "visitors": 1},
                             {"date": "2026-03-02", "visitors": 2},
                             {"date": "2026-03-03", "visitors": 1}]
    assert ts["comparison"] == [{"date": "2026-02-01", "visitors": 1},
                                {"date": "2026-02-02", "visitors": 1},
                                {"date": "2026-02-03", "visitors": 2}]
    rows = get(app, "breakdown", period="month", property="event:page", metrics="visitors",
               compare="previous_period")["results"]
    assert rows == [{"page": "/a", "visitors": 4, "comparison": {"visitors": 2},
                     "change": {"visitors": 100}}]


def test_day_in_progress_is_compared_up_to_the_same_hour(app: Client) -> None:
    agg = get(app, "aggregate", period="day", compare="previous_period")
    # Today until 15:00 against yesterday until 15:00: v5 (16:00 yesterday) is not counted.
    assert agg["results"]["visitors"] == {"value": 1, "comparison_value": 1, "change": 0}
    assert agg["comparison_date_range"] == ["2026-03-02T00:00:00+00:00",
                                            "2026-03-02T14:59:59+00:00"]
    ts = get(app, "timeseries", period="day", interval="hour", compare="previous_period")
    assert [r["date"] for r in ts["results"]] == [f"2026-03-03 {h:02}:00:00" for h in range(15)]
    assert [r["date"] for r in ts["comparison"]] == [f"2026-03-02 {h:02}:00:00"
                                                     for h in range(15)]
    assert [r["visitors"] for r in ts["comparison"]] == [0] * 10 + [1] + [0] * 4
    assert ts["results"][9]["visitors"] == 1


def test_past_month_is_compared_with_the_whole_calendar_month_before(app: Client) -> None:
    agg = get(app, "aggregate", period="month", date="2026-02-15", compare="previous_period")
    assert agg["results"]["visitors"] == {"value": 5, "comparison_value": 1, "change": 400}
    assert agg["comparison_date_range"] == ["2026-01-01T00:00:00+00:00",
                                            "2026-01-31T23:59:59+00:00"]
    ts = get(app, "timeseries", period="month", date="2026-02-15", compare="previous_period")
    assert len(ts["results"]) == 28 and len(ts["comparison"]) == 28
    assert ts["comparison"][4] == {"date": "2026-01-05", "visitors": 1}
    assert all(r["date"] for r in ts["comparison"])


def test_year_over_year_and_match_day_of_week(app: Client) -> None:
    plain = get(app, "aggregate", period="month", compare="year_over_year")
    assert plain["results"]["visitors"]["comparison_value"] == 2  # 2025-03-01..03
    assert plain["comparison_date_range"][0] == "2025-03-01T00:00:00+00:00"
    # 2026-03-01 is a Sunday, 2025-03-01 a Saturday: matched, the comparison starts on
    # Sunday 2025-03-02 (and keeps its length), so v21 drops out.
    matched = get(app, "aggregate", period="month", compare="year_over_year",
                  match_day_of_week="true")
    assert matched["results"]["visitors"]["comparison_value"] == 1
    assert matched["comparison_date_range"] == ["2025-03-02T00:00:00+00:00",
                                                "2025-03-04T23:59:59+00:00"]
    doc = v2(app, date_range="month", include={"comparisons": {
        "mode": "year_over_year", "match_day_of_week": True}})
    assert doc["results"][0]["comparison"]["metrics"] == [1]
    assert doc["meta"]["comparison_date_range"][0] == "2025-03-02T00:00:00+00:00"


def test_v2_time_dimension_and_trimmed_labels(app: Client) -> None:
    doc = v2(app, date_range="month", dimensions=["time:day"],
             include={"comparisons": {"mode": "previous_period"}, "time_labels": True})
    assert doc["meta"]["time_labels"] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert doc["meta"]["comparison_time_labels"] == ["2026-02-01", "2026-02-02", "2026-02-03"]
    assert [(r["dimensions"], r["metrics"], r["comparison"]["dimensions"],
             r["comparison"]["metrics"]) for r in doc["results"]] == [
        (["2026-03-01"], [1], ["2026-02-01"], [1]),
        (["2026-03-02"], [2], ["2026-02-02"], [1]),
        (["2026-03-03"], [1], ["2026-02-03"], [2]),
    ]


def test_custom_comparison_range(app: Client) -> None:
    doc = v2(app, date_range="month", dimensions=["time:day"], include={"comparisons": {
        "mode": "custom", "date_range": ["2026-02-10", "2026-02-11"]}})
    assert doc["meta"]["comparison_date_range"] == ["2026-02-10T00:00:00+00:00",
                                                    "2026-02-11T23:59:59+00:00"]
    comparisons = [r["comparison"] for r in doc["results"]]
    assert comparisons[0] == {"dimensions": ["2026-02-10"], "metrics": [1], "change": [0]}
    assert comparisons[1] == {"dimensions": ["2026-02-11"], "metrics": [0], "change": [100]}
    assert comparisons[2] is None  # past the end of the (shorter) comparison range
    ts = get(app, "timeseries", period="month", compare="custom", compare_from="2026-02-10",
             compare_to="2026-02-11")
    assert ts["comparison"] == [{"date": "2026-02-10", "visitors": 1},
                                {"date": "2026-02-11", "visitors": 0}]
    agg = get(app, "aggregate", period="month", compare="custom", compare_from="2026-02-01",
              compare_to="2026-02-28")
    assert agg["results"]["visitors"]["comparison_value"] == 5


def test_no_comparison_no_change(app: Client) -> None:
    agg = get(app, "aggregate", period="month")
    assert agg["results"]["visitors"] == {"value": 4}
    assert "comparison_date_range" not in agg
    ts = get(app, "timeseries", period="month")
    assert len(ts["results"]) == 3 and "comparison" not in ts


@pytest.mark.parametrize(("body", "field"), [
    ({"include": {"comparisons": {"mode": "custom"}}}, "include.comparisons.date_range"),
    ({"include": {"comparisons": {"mode": "custom", "date_range": ["2026-02-10"]}}},
     "include.comparisons.date_range"),
    ({"include": {"comparisons": {"mode": "custom",
                                  "date_range": ["2000-01-01", "2026-01-01"]}}},
     "include.comparisons.date_range"),
    ({"include": {"comparisons": {"mode": "custom",
                                  "date_range": ["2026-02-11", "2026-02-10"]}}},
     "include.comparisons.date_range"),
    ({"include": {"comparisons": {"mode": "previous_period", "date_range": ["2026-02-10",
                                                                              "2026-02-11"]}}},
     "include.comparisons.date_range"),
    ({"include": {"comparisons": {"mode": "previous_period", "match_day_of_week": "yes"}}},
     "include.comparisons.match_day_of_week"),
    ({"include": {"comparisons": {"mode": "previous_period", "shift": 3}}},
     "include.comparisons"),
    ({"dimensions": ["time:minute"], "date_range": "day", "include": {"comparisons": {
        "mode": "custom", "date_range": ["2026-01-01", "2026-02-01"]}}}, "include.comparisons"),
])
def test_v2_bad_comparisons_are_refused(app: Client, body: dict[str, Any], field: str) -> None:
    client, auth = app
    r = client.post("/api/v2/query", headers=auth, json={
        "site_id": "example.com", "metrics": ["visitors"], "date_range": "month", **body})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field, r.text


@pytest.mark.parametrize(("params", "field"), [
    ({"compare": "custom"}, "compare_from"),
    ({"compare": "custom", "compare_from": "2026-02-01", "compare_to": "nope"}, "compare_from"),
    ({"compare": "previous_period", "match_day_of_week": "maybe"}, "match_day_of_week"),
])
def test_v1_bad_comparisons_are_refused(app: Client, params: dict[str, str],
                                        field: str) -> None:
    client, auth = app
    r = client.get("/api/stats/aggregate", headers=auth, params={
        "site_id": "example.com", "period": "month", **params})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field, r.text
