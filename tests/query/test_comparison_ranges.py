"""Which range a comparison runs over (``model.comparison_range``), from parsed requests with
a given "now": periods in progress, calendar periods, DST days, weekday matching."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from liveinsight.query.model import comparison_range, trimmed
from liveinsight.query.parser import parse_simple, parse_v2


def _v2(body: dict[str, Any], now: datetime, tz: str = "UTC") -> Any:
    local_today = now.astimezone(ZoneInfo(tz)).date()
    return parse_v2({"metrics": ["visitors"], **body}, site_id=1, timezone=tz, goals=(),
                    today=local_today, now=now)


def test_day_in_progress_on_a_dst_day_compares_the_same_wall_clock_hours() -> None:
    # Berlin, Sunday 2026-03-29 (23 hours: 02:00 does not exist), 14:30 local = 12:30 UTC.
    q = _v2({"date_range": "day", "include": {"comparisons": {"mode": "previous_period"}}},
            datetime(2026, 3, 29, 12, 30, tzinfo=UTC), "Europe/Berlin")
    main = trimmed(q.date_range, q.include.cutoff, q.timezone)
    assert (main.start, main.end) == (datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
                                      datetime(2026, 3, 29, 13, 0, tzinfo=UTC))  # 15:00 local
    other = comparison_range(q)
    # Saturday 00:00-15:00 local (UTC+1 then): 15 wall-clock hours, as today's 14 real ones.
    assert (other.start, other.end) == (datetime(2026, 3, 27, 23, 0, tzinfo=UTC),
                                        datetime(2026, 3, 28, 14, 0, tzinfo=UTC))


def test_week_across_dst_is_compared_with_the_local_days_before() -> None:
    q = _v2({"date_range": ["2026-10-19", "2026-10-25"],
             "include": {"comparisons": {"mode": "previous_period"}}},
            datetime(2026, 11, 20, tzinfo=UTC), "Europe/Berlin")
    other = comparison_range(q)
    assert (other.first, other.last) == (date(2026, 10, 12), date(2026, 10, 18))
    assert not other.exact and q.include.cutoff is None  # wholly past: nothing trimmed


def test_year_in_progress_and_full_months() -> None:
    now = datetime(2026, 2, 9, 10, tzinfo=UTC)
    year = _v2({"date_range": "year", "include": {"comparisons": {"mode": "previous_period"}}},
               now)
    other = comparison_range(year)
    assert (other.first, other.last) == (date(2025, 1, 1), date(2025, 2, 9))
    yoy = _v2({"date_range": "year", "include": {"comparisons": {"mode": "year_over_year"}}},
              now)
    assert (comparison_range(yoy).first, comparison_range(yoy).last) == (date(2025, 1, 1),
                                                                          date(2025, 2, 9))
    # A whole 31-day month against the whole 30-day month before, and March 2024 (leap) too.
    full = _v2({"date_range": "month", "date": "2025-12-10",
                "include": {"comparisons": {"mode": "previous_period"}}}, now)
    assert (comparison_range(full).first, comparison_range(full).last) == (
        date(2025, 11, 1), date(2025, 11, 30))
    march = _v2({"date_range": "month", "date": "2024-03-31",
                 "include": {"comparisons": {"mode": "previous_period"}}}, now)
    assert (comparison_range(march).first, comparison_range(march).last) == (
        date(2024, 2, 1), date(2024, 2, 29))


def test_match_day_of_week_never_overlaps_the_range() -> None:
    now = datetime(2026, 2, 1, tzinfo=UTC)
    # 6 days from Wednesday 2026-01-07: the previous period starts on Thursday 01-01; the
    # nearest Wednesday is one day earlier.
    q = _v2({"date_range": ["2026-01-07", "2026-01-12"], "include": {"comparisons": {
        "mode": "previous_period", "match_day_of_week": True}}}, now)
    other = comparison_range(q)
    assert (other.first, other.last) == (date(2025, 12, 31), date(2026, 1, 5))
    # 8 days from Wednesday 01-07: the previous period starts on Tuesday 12-30; one day later
    # would overlap the range itself, so a week earlier.
    q = _v2({"date_range": ["2026-01-07", "2026-01-14"], "include": {"comparisons": {
        "mode": "previous_period", "match_day_of_week": True}}}, now)
    other = comparison_range(q)
    assert (other.first, other.last) == (date(2025, 12, 24), date(2025, 12, 31))
    assert other.first.weekday() == 2


def test_v1_without_now_keeps_whole_ranges() -> None:
    q = parse_simple({"period": "month", "compare": "previous_period"}, "aggregate", site_id=1,
                     timezone="UTC", goals=(), today=date(2026, 3, 3))
    assert q.include.cutoff is None
    assert (comparison_range(q).first, comparison_range(q).last) == (date(2026, 2, 1),
                                                                      date(2026, 2, 28))
