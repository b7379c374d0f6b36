"""The query model: frozen values describing one analytics question.

A :class:`Query` is fully resolved — its date range is concrete UTC instants, its goals are
the site's goals — so building SQL from it is a pure function and two equal queries are the
same question (see ``runner.query_key``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo

METRICS = (
    "visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration",
    "events", "conversion_rate", "scroll_depth", "time_on_page", "percentage",
    "total_revenue", "average_revenue",
)
# Revenue of revenue goals (``query/revenue.py``): money values, formatted with a currency.
REVENUE_METRICS = frozenset({"total_revenue", "average_revenue"})
SESSION_METRICS = frozenset({"visits", "bounce_rate", "visit_duration", "views_per_visit"})

# Dimension → column, for columns that exist in both tables (events carry their session's
# visit attributes).
VISIT_COLUMNS: dict[str, str] = {
    "visit:source": "referrer_source",
    "visit:referrer": "referrer",
    "visit:channel": "channel",
    "visit:utm_source": "utm_source",
    "visit:utm_medium": "utm_medium",
    "visit:utm_campaign": "utm_campaign",
    "visit:utm_content": "utm_content",
    "visit:utm_term": "utm_term",
    "visit:device": "device",
    "visit:browser": "browser",
    "visit:browser_version": "browser_version",
    "visit:os": "os",
    "visit:os_version": "os_version",
    "visit:country": "country_code",
    "visit:region": "region",
    "visit:city": "city",
}
# Only in ``sessions``.
ENTRY_EXIT: dict[str, str] = {"visit:entry_page": "entry_page", "visit:exit_page": "exit_page"}
EVENT_COLUMNS: dict[str, str] = {
    "event:page": "pathname", "event:hostname": "hostname", "event:name": "name",
}
PROPS_PREFIX = "event:props:"
GOAL = "event:goal"
INTERVALS = ("minute", "hour", "day", "week", "month")
TIME_DIMENSIONS = ("time", *(f"time:{i}" for i in INTERVALS))

FILTER_OPS = ("is", "is_not", "contains", "contains_not", "matches", "matches_not")
PERIODS = ("day", "7d", "28d", "30d", "91d", "month", "6mo", "12mo", "year", "all", "custom")
Comparison = Literal["previous_period", "year_over_year", "custom"]
Interval = Literal["minute", "hour", "day", "week", "month"]
_D = TypeVar("_D", date, datetime)


def is_event_dimension(dim: str) -> bool:
    return dim in EVENT_COLUMNS or dim == GOAL or dim.startswith(PROPS_PREFIX)


def is_visit_dimension(dim: str) -> bool:
    return dim in VISIT_COLUMNS or dim in ENTRY_EXIT


def is_time_dimension(dim: str) -> bool:
    return dim in TIME_DIMENSIONS


def is_dimension(dim: str) -> bool:
    if dim.startswith(PROPS_PREFIX):
        return len(dim) > len(PROPS_PREFIX)
    return is_event_dimension(dim) or is_visit_dimension(dim) or is_time_dimension(dim)


# --- filters ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    """``dimension op values``: ``is`` matches any value exactly, ``contains`` any substring,
    ``matches`` any regular expression (RE2); the ``_not`` forms negate."""

    op: str
    dimension: str
    values: tuple[str, ...]
    case_sensitive: bool = True


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Filter


Filter = Condition | And | Or | Not


def conditions(node: Filter | None) -> list[Condition]:
    """Every leaf of a filter tree, left to right."""
    if node is None:
        return []
    if isinstance(node, Condition):
        return [node]
    if isinstance(node, Not):
        return conditions(node.child)
    return [leaf for child in node.children for leaf in conditions(child)]


# --- goals -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Goal:
    """A conversion: a custom event name, or a pageview of a path (``*`` matches any run of
    characters except ``/``, ``**`` any run including ``/``)."""

    name: str
    event_name: str | None = None
    page_path: str | None = None
    currency: str | None = None  # ISO 4217: a revenue goal

    def path_regex(self) -> str:
        parts = re.split(r"(\*\*|\*)", self.page_path or "")
        out = "".join(
            ".*" if p == "**" else "[^/]*" if p == "*" else re.escape(p) for p in parts
        )
        return f"^{out}$"


# --- dates -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DateRange:
    """The half-open UTC interval ``[start, end)`` and the local dates it covers."""

    period: str
    first: date
    last: date
    start: datetime
    end: datetime
    exact: bool = False  # start/end are instants rather than local midnights

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


@dataclass(frozen=True, slots=True)
class Include:
    comparison: Comparison | None = None
    time_labels: bool = False
    total_rows: bool = False
    imports: bool = False
    # The site's completed imports ``(id, first day, last day)``, filled in by the stats
    # service when ``imports`` is asked (``query/imported.py``); part of the question's key.
    imported: tuple[tuple[int, date, date], ...] = ()
    # Comparison options (see ``comparison_range``): shift the comparison to start on the
    # main range's weekday; the range of ``comparison == "custom"``.
    match_day_of_week: bool = False
    compare_range: DateRange | None = None
    # For a range in progress: "now" rounded up to the query's granularity (UTC). The part
    # of the range after it is the future: trimmed from comparisons, absent from timeseries.
    cutoff: datetime | None = None


@dataclass(frozen=True, slots=True)
class Query:
    site_id: int
    timezone: str
    metrics: tuple[str, ...]
    date_range: DateRange
    dimensions: tuple[str, ...] = ()
    filters: Filter | None = None
    order_by: tuple[tuple[str, Literal["asc", "desc"]], ...] = ()
    include: Include = field(default_factory=Include)
    limit: int = 10_000
    offset: int = 0
    interval: Interval = "day"
    goals: tuple[Goal, ...] = ()
    # Event-table reads over more rows than this use a sample of about this many rows (whole
    # visitors: ``SAMPLE BY visitor_id``) and scale their counts; 0: exact.
    sample_rows: int = 0

    def with_range(self, date_range: DateRange) -> Query:
        return replace(self, date_range=date_range)

    def time_dimension(self) -> str | None:
        return next((d for d in self.dimensions if is_time_dimension(d)), None)

    def bucket(self, dim: str) -> Interval:
        """The interval a time dimension groups by (``time`` alone uses ``interval``)."""
        return self.interval if dim == "time" else dim.split(":", 1)[1]  # type: ignore[return-value]


# The longest range (in days) each interval may be used over.
MAX_DAYS: dict[str, int] = {"minute": 7, "hour": 93, "day": 3660, "week": 36600,
                            "month": 36600}


def auto_interval(dr: DateRange) -> Interval:
    """The interval the plain ``time`` dimension uses for a range."""
    if dr.days <= 1 or (dr.exact and (dr.end - dr.start) <= timedelta(days=1)):
        return "hour"
    return "day" if dr.days <= 92 else "month"


def interval_problem(interval: str, dr: DateRange) -> str | None:
    """Why ``interval`` is too fine for ``dr``, or None."""
    if dr.days > MAX_DAYS[interval]:
        return (f"interval {interval!r} is too fine for {dr.days} days "
                f"(at most {MAX_DAYS[interval]})")
    return None


def local_range(period: str, first: date, last: date, timezone: str) -> DateRange:
    """The range covering local days ``first``..``last`` in ``timezone`` (DST-correct: a day
    may be 23 or 25 hours long)."""
    tz = ZoneInfo(timezone)
    start = datetime.combine(first, time(0), tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(UTC)
    return DateRange(period, first, last, start, end)


def instant_range(start: datetime, end: datetime, timezone: str) -> DateRange:
    """A range of exact instants (realtime windows, datetime custom ranges)."""
    tz = ZoneInfo(timezone)
    return DateRange(
        "realtime", start.astimezone(tz).date(), (end - timedelta(microseconds=1))
        .astimezone(tz).date(), start.astimezone(UTC), end.astimezone(UTC), exact=True,
    )


def shift_range(dr: DateRange, how: Comparison, timezone: str) -> DateRange:
    """The range a comparison runs over: the same length right before, or a year earlier."""
    if dr.exact:
        if how == "year_over_year":
            return instant_range(_minus_year(dr.start), _minus_year(dr.end), timezone)
        return instant_range(dr.start - (dr.end - dr.start), dr.start, timezone)
    if how == "year_over_year":
        first, last = _minus_year(dr.first), _minus_year(dr.last)
    else:
        first, last = dr.first - timedelta(days=dr.days), dr.first - timedelta(days=1)
    return local_range(dr.period, first, last, timezone)


# Periods that are calendar months: their previous period is the calendar months before.
_MONTHS_BACK = {"month": 1, "6mo": 6, "12mo": 12, "year": 12}


def cutoff_for(dr: DateRange, now: datetime, timezone: str, unit: str) -> datetime | None:
    """Where ``dr`` stops being the past: ``now`` rounded up to the next local ``unit``
    (minute, hour or day: the query's finest bucket); None when the range is not in
    progress (wholly past, or wholly future)."""
    tz = ZoneInfo(timezone)
    local = now.astimezone(tz).replace(tzinfo=None)
    if unit == "minute":
        up = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    elif unit == "hour":
        up = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    else:
        up = datetime.combine(local.date() + timedelta(days=1), time(0))
    cut = _utc(up, tz)
    return cut if dr.start < cut < dr.end else None


def trimmed(dr: DateRange, cutoff: datetime | None, timezone: str) -> DateRange:
    """``dr`` without its part after ``cutoff`` (the elapsed part of a range in progress)."""
    if cutoff is None or not dr.start < cutoff < dr.end:
        return dr
    tz = ZoneInfo(timezone)
    local = cutoff.astimezone(tz)
    if not dr.exact and local.time() == time(0):
        return local_range(dr.period, dr.first, local.date() - timedelta(days=1), timezone)
    return DateRange(dr.period, dr.first, (cutoff - timedelta(microseconds=1)).astimezone(tz)
                     .date(), dr.start, cutoff, exact=True)


def comparison_range(q: Query) -> DateRange:
    """The range ``q``'s comparison runs over (Plausible's semantics).

    ``custom``: its own range. Otherwise the elapsed part of the main range (see
    ``trimmed``) is compared with: ``previous_period`` — for calendar periods (month, 6mo,
    12mo, year) the same elapsed length from the start of the calendar period before (the
    first N days of last month), for the others the same length right before;
    ``year_over_year`` — the same dates and hours a year earlier. ``match_day_of_week``
    then moves the comparison (by fewer than 4 days, earlier if later would overlap the main
    range) to start on the main range's weekday.
    """
    inc = q.include
    if inc.comparison == "custom" and inc.compare_range is not None:
        return inc.compare_range
    how: Comparison = inc.comparison or "previous_period"
    dr = trimmed(q.date_range, inc.cutoff, q.timezone)
    if q.date_range.exact:  # instants (datetime ranges): shifted as instants
        return shift_range(dr, how, q.timezone)
    tz = ZoneInfo(q.timezone)
    start = dr.start.astimezone(tz).replace(tzinfo=None)  # local wall-clock times
    end = dr.end.astimezone(tz).replace(tzinfo=None)
    elapsed = end - start
    if how == "year_over_year":
        new_start, new_end = _minus_year(start), _minus_year(end)
    elif dr.period in _MONTHS_BACK:
        y, m = divmod(dr.first.year * 12 + dr.first.month - 1 - _MONTHS_BACK[dr.period], 12)
        new_start = datetime.combine(dr.first.replace(year=y, month=m + 1, day=1), time(0))
        # A whole period: the whole calendar period before (February against January).
        new_end = start if dr == q.date_range else min(new_start + elapsed, start)
    else:
        new_start = start - timedelta(days=dr.days)
        new_end = new_start + elapsed
    if inc.match_day_of_week:
        later = (dr.first.weekday() - new_start.weekday()) % 7
        shift = later if later <= 3 else later - 7
        if shift > 0 and how == "previous_period" and new_end + timedelta(days=shift) > start:
            shift -= 7
        new_start += timedelta(days=shift)
        new_end += timedelta(days=shift)
    if new_start.time() == time(0) and new_end.time() == time(0):
        return local_range(dr.period, new_start.date(), new_end.date() - timedelta(days=1),
                           q.timezone)
    begin, stop = _utc(new_start, tz), _utc(new_end, tz)
    return DateRange(dr.period, new_start.date(), (new_end - timedelta(microseconds=1)).date(),
                     begin, stop, exact=True)


def _utc(local: datetime, tz: ZoneInfo) -> datetime:
    return local.replace(tzinfo=tz).astimezone(UTC)


def _minus_year(d: _D) -> _D:
    try:
        return d.replace(year=d.year - 1)
    except ValueError:  # 29 February
        return d.replace(year=d.year - 1, day=28)
