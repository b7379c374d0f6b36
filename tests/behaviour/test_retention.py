"""Retention: exact triangles over the known cohorts of site 5 (``tests/behaviour/data.py``),
on embedded chDB and through the HTTP transport."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from liveinsight.behaviour import retention
from liveinsight.behaviour.scope import Scope, parse_scope
from liveinsight.errors import Invalid
from liveinsight.ops.metrics import Metrics
from liveinsight.query.runner import QueryRunner
from liveinsight.storage.protocol import Store
from tests.behaviour.data import cohorts
from tests.query.rows import ingest


@pytest.fixture(scope="module")
def runner(store: Store, segments: Path) -> QueryRunner:
    ingest(store, segments, cohorts())
    return QueryRunner(store, Metrics(), timeout_s=10)


def ask(runner: QueryRunner, first: str, last: str, tz: str = "UTC",
        **raw: Any) -> dict[str, Any]:
    q = parse_scope({"date_range": [first, last]}, site_id=5, timezone=tz, goals=(),
                    today=date(2026, 12, 1))
    r = retention.parse_retention(raw, q.date_range)
    text, params = retention.retention_sql(r, Scope(q, runner.store.database))
    return retention.shape(r, runner.raw(text, params, "retention"), q.date_range.first,
                           q.date_range.last)


def triangle(answer: dict[str, Any]) -> dict[str, list[int]]:
    return {c["cohort"]: [x["visitors"] for x in c["retention"]] for c in answer["cohorts"]}


def test_weekly_cohorts(runner: QueryRunner) -> None:
    answer = ask(runner, "2026-11-02", "2026-11-22", period="week")
    assert triangle(answer) == {"2026-11-02": [4, 1, 2], "2026-11-09": [2, 1],
                                "2026-11-16": [2]}
    first = answer["cohorts"][0]["retention"]
    assert [x["percentage"] for x in first] == [100.0, 25.0, 50.0]


def test_daily_and_monthly_cohorts(runner: QueryRunner) -> None:
    assert triangle(ask(runner, "2026-11-02", "2026-11-04", period="day")) == {
        "2026-11-02": [2, 0, 0], "2026-11-03": [1, 0], "2026-11-04": [1]}
    assert triangle(ask(runner, "2026-10-01", "2026-11-30", period="month")) == {
        "2026-10-01": [1, 1], "2026-11-01": [8]}


def test_user_ids_link_visitor_ids(runner: QueryRunner) -> None:
    answer = ask(runner, "2026-11-02", "2026-11-22", period="week", identity="user")
    assert triangle(answer) == {"2026-11-02": [1, 0, 1], "2026-11-09": [0, 0],
                                "2026-11-16": [0]}
    assert answer["cohorts"][1]["retention"][0]["percentage"] is None


def test_cohorts_follow_the_sites_time_zone(runner: QueryRunner) -> None:
    # Noon UTC is 02:00 the next day in Pacific/Kiritimati (UTC+14).
    answer = ask(runner, "2026-11-03", "2026-11-05", tz="Pacific/Kiritimati", period="day")
    # 11-02 12:00 UTC (R1, 70) → 11-03; 11-03 → 11-04 (R2); 11-04 → 11-05 (R3).
    assert triangle(answer) == {"2026-11-03": [2, 0, 0], "2026-11-04": [1, 0],
                                "2026-11-05": [1]}


@pytest.mark.parametrize(("raw", "first", "last", "field"), [
    ({"period": "year"}, "2026-11-01", "2026-11-30", "period"),
    ({"identity": "email"}, "2026-11-01", "2026-11-30", "identity"),
    ({"period": "day"}, "2026-01-01", "2026-12-31", "date_range"),
])
def test_bad_retention_names_the_field(raw: dict[str, Any], first: str, last: str,
                                       field: str) -> None:
    q = parse_scope({"date_range": [first, last]}, site_id=5, timezone="UTC", goals=(),
                    today=date(2026, 12, 1))
    with pytest.raises(Invalid) as caught:
        retention.parse_retention(raw, q.date_range)
    assert caught.value.field == field
