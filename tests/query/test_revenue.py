"""Revenue metrics: exact sums and averages, currencies as Plausible decides them, money shapes.

Site 7 (UTC), 2026-11-10:
- Purchase (revenue goal, USD): 10.50 USD, 20.25 USD, 99 EUR (another currency: not
  counted, no exchange rates), and a Purchase without an amount.
- Upgrade (revenue goal, EUR): 1500 EUR.
- Signup (goal without a currency): one, with 5 USD sent along (not revenue of any goal).
2026-11-09: Purchase 4.25 USD (the comparison day).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from liveinsight.ops.metrics import Metrics
from liveinsight.query import response
from liveinsight.query.model import Goal
from liveinsight.query.parser import parse_v2
from liveinsight.query.runner import QueryRunner
from liveinsight.storage.protocol import Store
from tests.query.rows import ingest, visit

SITE = 7
GOALS = (Goal("Purchase", event_name="Purchase", currency="USD"),
         Goal("Upgrade", event_name="Upgrade", currency="EUR"),
         Goal("Signup", event_name="Signup"))


def _paid(when: str, name: str, amount: str | None, currency: str = "USD") -> tuple[Any, ...]:
    extra = {"revenue": amount, "revenue_currency": currency} if amount else {}
    return (when, name, "/checkout", extra)


@pytest.fixture(scope="module")
def runner(store: Store, segments: Path) -> QueryRunner:
    ingest(store, segments, [
        visit(SITE, 1, [("2026-11-10T10:00:00", "pageview", "/"),
                        _paid("2026-11-10T10:01:00", "Purchase", "10.5")],
              referrer_source="Google"),
        visit(SITE, 2, [_paid("2026-11-10T11:00:00", "Purchase", "20.25"),
                        _paid("2026-11-10T11:01:00", "Upgrade", "1500", "EUR")],
              referrer_source="Twitter"),
        visit(SITE, 3, [_paid("2026-11-10T12:00:00", "Purchase", "99", "EUR"),
                        _paid("2026-11-10T12:01:00", "Purchase", None),
                        _paid("2026-11-10T12:02:00", "Signup", "5")]),
        visit(SITE, 4, [_paid("2026-11-09T12:00:00", "Purchase", "4.25")]),
    ])
    return QueryRunner(store, Metrics(), timeout_s=10)


def ask(runner: QueryRunner, goals: tuple[Goal, ...] = GOALS, **body: Any) -> dict[str, Any]:
    body = {"metrics": ["total_revenue", "average_revenue"], "date_range": "day", **body}
    q = parse_v2(body, site_id=SITE, timezone="UTC", goals=goals, today=date(2026, 11, 10))
    return response.v2(runner.run(q), {})


def usd(value: str, short: str, long: str) -> dict[str, Any]:
    return {"value": float(Decimal(value)), "currency": "USD", "short": short, "long": long}


def test_one_goal_filter_sums_its_amounts_in_its_currency(runner: QueryRunner) -> None:
    doc = ask(runner, filters=[["is", "event:goal", ["Purchase"]]])
    # 10.50 + 20.25; the EUR amount and the Purchase without an amount are left out.
    assert doc["results"] == [{"dimensions": [], "metrics": [
        usd("30.75", "$30.8", "$30.75"), usd("15.375", "$15.4", "$15.38")]}]
    assert "metric_warnings" not in doc["meta"]


def test_goal_dimension_answers_each_goal_in_its_own_currency(runner: QueryRunner) -> None:
    doc = ask(runner, metrics=["visitors", "events", "total_revenue"],
              dimensions=["event:goal"], order_by=[["total_revenue", "desc"]])
    assert doc["results"] == [
        {"dimensions": ["Upgrade"], "metrics": [1, 1, {
            "value": 1500.0, "currency": "EUR", "short": "€1.5K", "long": "€1,500.00"}]},
        {"dimensions": ["Purchase"], "metrics": [3, 4, usd("30.75", "$30.8", "$30.75")]},
        {"dimensions": ["Signup"], "metrics": [1, 1, None]},
    ]


def test_several_currencies_without_a_goal_dimension_are_null_with_a_warning(
        runner: QueryRunner) -> None:
    doc = ask(runner)
    assert doc["results"] == [{"dimensions": [], "metrics": [None, None]}]
    assert doc["meta"]["metric_warnings"]["total_revenue"]["code"] == \
        "no_single_revenue_currency"
    none = ask(runner, filters=[["is", "event:goal", ["Signup"]]])
    assert none["results"][0]["metrics"] == [None, None]
    assert none["meta"]["metric_warnings"]["average_revenue"] == {
        "code": "no_revenue_goals_matching",
        "warning": "Revenue metrics are null as there are no matching revenue goals."}


def test_one_currency_on_the_site_needs_no_goal_filter(runner: QueryRunner) -> None:
    usd_only = (GOALS[0], GOALS[2])
    doc = ask(runner, goals=usd_only, dimensions=["visit:source"])
    assert doc["results"] == [
        {"dimensions": ["Twitter"], "metrics": [usd("20.25", "$20.2", "$20.25")] * 2},
        {"dimensions": ["Google"], "metrics": [usd("10.5", "$10.5", "$10.50")] * 2},
        {"dimensions": ["Direct / None"], "metrics": [usd("0", "$0", "$0.00"), None]},
    ]


def test_revenue_comparison_and_change(runner: QueryRunner) -> None:
    doc = ask(runner, metrics=["total_revenue"], filters=[["is", "event:goal", ["Purchase"]]],
              include={"comparisons": {"mode": "previous_period"}})
    [row] = doc["results"]
    assert row["metrics"] == [usd("30.75", "$30.8", "$30.75")]
    assert row["comparison"]["metrics"] == [usd("4.25", "$4.2", "$4.25")]
    assert row["comparison"]["change"] == [624]  # (30.75 - 4.25) / 4.25 = 623.5 %


def test_revenue_timeseries_has_money_in_every_bucket(runner: QueryRunner) -> None:
    q = parse_v2({"metrics": ["total_revenue"], "date_range": ["2026-11-09", "2026-11-10"],
                  "dimensions": ["time:day"], "include": {"time_labels": True},
                  "filters": [["is", "event:goal", ["Purchase"]]]},
                 site_id=SITE, timezone="UTC", goals=GOALS, today=date(2026, 11, 10))
    doc = response.timeseries(runner.run(q))
    assert doc["results"] == [
        {"date": "2026-11-09", "total_revenue": usd("4.25", "$4.2", "$4.25")},
        {"date": "2026-11-10", "total_revenue": usd("30.75", "$30.8", "$30.75")},
    ]


def test_revenue_cannot_be_broken_down_by_entry_page(runner: QueryRunner) -> None:
    from liveinsight.errors import Invalid
    with pytest.raises(Invalid) as info:
        ask(runner, dimensions=["visit:entry_page"])
    assert info.value.field == "metrics"
