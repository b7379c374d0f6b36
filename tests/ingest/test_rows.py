from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from liveinsight.ingest.rows import build_row, revenue_of
from liveinsight.ingest.ua import parse_agent

from .enrich_factories import CHROME, context, raw


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (None, None, ("0", "")),
        ("", "EUR", ("0", "")),
        ("19.99", "eur", ("19.99", "EUR")),
        ("19.99", None, ("19.99", "USD")),
        ("1.234567", "USD", ("1.2346", "USD")),
        ("100", "JPY", ("100", "JPY")),
        ("abc", "USD", ("0", "")),
        ("NaN", "USD", ("0", "")),
        ("1e20", "USD", ("0", "")),
    ],
)
def test_revenue(amount: str | None, currency: str | None, expected: tuple[str, str]) -> None:
    assert revenue_of(amount, currency, "USD") == expected


def test_row_fields() -> None:
    est = timezone(timedelta(hours=-5))
    event = raw(
        name="Signup", timestamp=datetime(2026, 11, 22, 5, 0, 0, 123456, tzinfo=est),
        props={"plan": "pro"}, revenue_amount="49.5", revenue_currency="EUR", screen="Desktop",
        engagement_ms=-5, scroll_depth=250,
    )
    ctx = context(event, retention_days=90)
    ctx.agent = parse_agent(CHROME)
    ctx.hostname, ctx.pathname, ctx.country_code = "example.com", "/pricing", "GB"
    assert build_row(ctx, None) is None  # type: ignore[arg-type]
    row = ctx.row
    assert row is not None
    assert row.timestamp == "2026-11-22 10:00:00.123"
    assert (row.site_id, row.name, row.pathname, row.country_code) == (
        1, "Signup", "/pricing", "GB")
    assert (row.revenue, row.revenue_currency) == ("49.5", "EUR")
    assert row.props == {"plan": "pro"} and row.screen == "Desktop"
    assert (row.engagement_ms, row.scroll_depth, row.retention_days) == (0, 100, 90)
    assert (row.browser, row.os, row.device) == ("Chrome", "Windows", "Desktop")


def test_row_ts_is_format_ts_whatever_the_caches_hold() -> None:
    from datetime import UTC

    from liveinsight.ingest.rows import row_ts
    from liveinsight.types import format_ts

    base = datetime(2026, 11, 22, 23, 59, 58, 999_999, tzinfo=UTC)
    values = [base + timedelta(microseconds=n * 333_333) for n in range(12)]
    for value in values + values[::-1]:  # each object twice in a row, then out of order
        assert row_ts(value) == format_ts(value)
        assert row_ts(value) == format_ts(value)
    again = datetime(2026, 11, 23, 0, 0, 1, 666_665, tzinfo=UTC)  # equal, not the same object
    assert row_ts(again) == format_ts(again)
