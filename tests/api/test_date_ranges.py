"""The dashboard's date ranges as the stats API answers them, with exact numbers: today,
yesterday (``day`` on a date), the last 7 and 30 days (also moved back a period: ``date``),
month to date, last month (``month`` on a day of it), year to date, the last 12 months,
all time, a custom range.

The clock stands at Wednesday 2026-03-18 14:30 UTC (site in UTC); one visitor a visit:
- 2026-03-18 v1, 03-17 v2, 03-12 v3 (7 days back: 03-12..18), 03-11 v4 (the 7 days
  before: 03-05..11), 03-01 v5;
- February: 02-01 v10, 02-28 v11; January 01-15 v12;
- 2025: 03-10 v20 (outside the 12 months: April 2025..March 2026), 04-02 v21, 12-31 v22;
- 2023-06-01 v30 (all time only).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from tests.conftest import fixed_clock, make_client, make_site, svc_of
from tests.query.rows import ingest, visit

NOW = datetime(2026, 3, 18, 14, 30, tzinfo=UTC)
VISITS = [(1, "2026-03-18T10:00:00"), (2, "2026-03-17T10:00:00"), (3, "2026-03-12T10:00:00"),
          (4, "2026-03-11T10:00:00"), (5, "2026-03-01T10:00:00"), (10, "2026-02-01T10:00:00"),
          (11, "2026-02-28T23:00:00"), (12, "2026-01-15T10:00:00"),
          (20, "2025-03-10T10:00:00"), (21, "2025-04-02T10:00:00"),
          (22, "2025-12-31T10:00:00"), (30, "2023-06-01T10:00:00")]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp_path = tmp_path_factory.mktemp("ranges")
    with make_client(tmp_path, clock=fixed_clock(NOW)) as app:
        sid = make_site(app, "example.com", public=True).id
        ingest(svc_of(app).store, tmp_path / "segments",
               [visit(sid, vid, [(when, "pageview", "/")]) for vid, when in VISITS])
        yield app


@pytest.mark.parametrize(("params", "visitors"), [
    ({"period": "day"}, 1),
    ({"period": "day", "date": "2026-03-17"}, 1),  # yesterday
    ({"period": "day", "date": "2026-03-16"}, 0),
    ({"period": "7d"}, 3),  # 03-12..03-18
    ({"period": "7d", "date": "2026-03-11"}, 1),  # the 7 days before: 03-05..03-11
    ({"period": "30d"}, 6),  # 02-17..03-18
    ({"period": "month"}, 5),  # month to date
    ({"period": "month", "date": "2026-02-01"}, 2),  # last month
    ({"period": "month", "date": "2026-01-01"}, 1),  # the month before
    ({"period": "year"}, 8),  # year to date
    ({"period": "year", "date": "2025-01-01"}, 3),  # last year
    ({"period": "12mo"}, 10),  # April 2025..March 2026
    ({"period": "all"}, 12),
    ({"period": "custom", "date": "2025-12-31,2026-01-15"}, 2),
])
def test_each_range_counts_exactly_its_days(client: TestClient, params: dict[str, str],
                                            visitors: int) -> None:
    answer = client.get("/api/stats/aggregate", params={"site_id": "example.com", **params})
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"]["visitors"]["value"] == visitors


def test_all_time_and_the_year_graph_by_month(client: TestClient) -> None:
    months = client.get("/api/stats/timeseries", params={
        "site_id": "example.com", "period": "year", "interval": "month"}).json()["results"]
    assert [(r["date"][:7], r["visitors"]) for r in months] == [
        ("2026-01", 1), ("2026-02", 2), ("2026-03", 5)]  # no bucket after this month
    every = client.get("/api/stats/timeseries", params={
        "site_id": "example.com", "period": "all", "interval": "month"}).json()["results"]
    assert every[0]["date"][:7] == "2023-06" and every[-1]["date"][:7] == "2026-03"
    assert sum(r["visitors"] for r in every) == 12
