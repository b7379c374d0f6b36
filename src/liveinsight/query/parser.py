"""Requests → :class:`Query`: the Plausible v2 JSON body and the simple GET parameters of
``/api/stats/*``.

Pure: the site, its goals and today's date (in the site's time zone) are passed in. Every
problem raises :class:`~liveinsight.errors.Invalid` whose ``field`` names the offending part
of the request.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any, Literal, cast

import orjson

from liveinsight.errors import bad_request
from liveinsight.query.model import (
    ENTRY_EXIT,
    FILTER_OPS,
    GOAL,
    METRICS,
    PERIODS,
    And,
    Comparison,
    Condition,
    DateRange,
    Filter,
    Goal,
    Include,
    Interval,
    Not,
    Or,
    Query,
    auto_interval,
    comparison_range,
    conditions,
    cutoff_for,
    instant_range,
    interval_problem,
    is_dimension,
    is_time_dimension,
    local_range,
)

MAX_LIMIT = 10_000
# Limits on what a caller may ask for (each refused with a 400 naming the field): filters are
# compiled into SQL, so their depth, count and size bound the query's size and build time.
MAX_FILTER_DEPTH = 10  # nesting of and / or / not
MAX_CONDITIONS = 100  # leaves of the filter tree
MAX_FILTER_VALUES = 500  # values over every condition
MAX_VALUE_CHARS = 2000  # one value (a URL, a property)
MAX_PATTERN_CHARS = 1000  # one `matches` pattern (RE2 compiles it, see query/filters.py)
# Every range queried, comparisons included, lies within these days: ClickHouse's Date and
# DateTime types hold 1970-2105, and the calendar's edges must not overflow date arithmetic.
MIN_DATE = date(1970, 1, 1)
MAX_DATE = date(2099, 12, 31)
MAX_COMPARE_DAYS = 3660  # a custom comparison range: at most ten years
_EVENT_ONLY_METRICS = {"events", "scroll_depth", "time_on_page", "conversion_rate",
                       "total_revenue", "average_revenue"}


def sampled(q: Query, raw: Any, sample_rows: int) -> Query:
    """``q`` read from a sample of about ``sample_rows`` events when the range holds more
    (``raw``: the request's ``sampling``, ``auto`` by default, or ``exact``)."""
    if raw not in (None, "", "auto", "exact"):
        raise bad_request("sampling must be auto or exact", "sampling")
    rows = 0 if raw == "exact" else max(0, sample_rows)
    return q if rows == q.sample_rows else replace(q, sample_rows=rows)


def parse_v2(body: Any, *, site_id: int, timezone: str, goals: tuple[Goal, ...],
             today: date, sample_rows: int = 0, now: datetime | None = None) -> Query:
    """A Plausible v2 query body (``site_id`` already resolved by the caller); with
    ``sample_rows``, event reads over more rows than that are sampled unless the body says
    ``"sampling": "exact"``."""
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object", "body")
    known = {"site_id", "metrics", "date_range", "date", "dimensions", "filters", "order_by",
             "include", "pagination", "sampling"}
    for key in body:
        if key not in known:
            raise bad_request(f"unknown field {key!r}", key)
    anchor = parse_date(body["date"], "date") if "date" in body else today
    date_range = parse_date_range(body.get("date_range"), timezone, anchor, "date_range")
    include = _include(body.get("include", {}), timezone)
    pagination = body.get("pagination", {})
    if not isinstance(pagination, dict):
        raise bad_request("pagination must be an object", "pagination")
    return sampled(validate(
        site_id=site_id, timezone=timezone, goals=goals, date_range=date_range, include=include,
        metrics=_strings(body.get("metrics"), "metrics"),
        dimensions=_strings(body.get("dimensions", []), "dimensions", allow_empty=True),
        filters=_filters(body.get("filters", []), "filters"),
        order_by=_order_by(body.get("order_by", []), "order_by"),
        limit=_int(pagination.get("limit", MAX_LIMIT), "pagination.limit", 1, MAX_LIMIT),
        offset=_int(pagination.get("offset", 0), "pagination.offset", 0, 10**9), now=now,
    ), body.get("sampling"), sample_rows)


def parse_simple(params: Mapping[str, str], kind: Literal["aggregate", "timeseries",
                 "breakdown"], *, site_id: int, timezone: str, goals: tuple[Goal, ...],
                 today: date, sample_rows: int = 0, now: datetime | None = None) -> Query:
    """The GET parameters of ``/api/stats/{aggregate,timeseries,breakdown}``: ``period``,
    ``date``, ``metrics`` (comma-separated), ``property`` (breakdown), ``interval``
    (timeseries), ``filters`` (``visit:browser==Chrome|Firefox;event:page!=/x``, ``~``
    contains, ``*`` wildcards, or a v2 JSON filter list), ``compare`` (``previous_period``,
    ``year_over_year`` or ``custom`` with ``compare_from`` and ``compare_to`` dates),
    ``match_day_of_week``, ``limit``, ``page``, ``sampling`` (``auto`` or ``exact``)."""
    period = params.get("period", "30d")
    raw_date = params.get("date")
    if period == "custom":
        if not raw_date or "," not in raw_date:
            raise bad_request("period=custom needs date=YYYY-MM-DD,YYYY-MM-DD", "date")
        spec: Any = raw_date.split(",", 1)
        anchor = today
    else:
        spec, anchor = period, (parse_date(raw_date, "date") if raw_date else today)
    date_range = parse_date_range(spec, timezone, anchor,
                                  "date" if period == "custom" else "period")
    default_metrics = "visitors,pageviews" if kind == "breakdown" else "visitors"
    metrics = [m.strip() for m in params.get("metrics", default_metrics).split(",") if m.strip()]
    dimensions: list[str] = []
    interval: Interval | None = None
    if kind == "timeseries":
        raw_interval = params.get("interval", "")
        if raw_interval and raw_interval not in ("minute", "hour", "day", "week", "month"):
            raise bad_request(f"unknown interval {raw_interval!r}", "interval")
        dimensions = [f"time:{raw_interval}" if raw_interval else "time"]
        interval = cast(Interval, raw_interval) if raw_interval else None
    elif kind == "breakdown":
        prop = params.get("property")
        if not prop:
            raise bad_request("property is required (for example event:page)", "property")
        dimensions = [prop]
    compare = params.get("compare")
    if compare not in (None, "", "previous_period", "year_over_year", "custom"):
        raise bad_request("compare must be previous_period, year_over_year or custom",
                          "compare")
    compare_range = None
    if compare == "custom":
        if not params.get("compare_from") or not params.get("compare_to"):
            raise bad_request("compare=custom needs compare_from and compare_to "
                              "(YYYY-MM-DD)", "compare_from")
        compare_range = _compare_range([params["compare_from"], params["compare_to"]],
                                       timezone, "compare_from")
    match_dow = _flag(params.get("match_day_of_week"), "match_day_of_week")
    limit = _int(params.get("limit", "100" if kind == "breakdown" else MAX_LIMIT), "limit", 1,
                 MAX_LIMIT)
    page = _int(params.get("page", "1"), "page", 1, 10**6)
    return sampled(validate(
        site_id=site_id, timezone=timezone, goals=goals, date_range=date_range,
        include=Include(comparison=cast(Comparison, compare) if compare else None,
                        time_labels=kind == "timeseries", match_day_of_week=match_dow,
                        compare_range=compare_range,
                        imports=_flag(params.get("with_imported"), "with_imported")),
        metrics=metrics, dimensions=dimensions, filters=_simple_filters(params.get("filters")),
        order_by=[], limit=limit, offset=(page - 1) * limit, interval=interval,
        comparison_field="compare", now=now,
    ), params.get("sampling"), sample_rows)


def validate(*, site_id: int, timezone: str, goals: tuple[Goal, ...], date_range: DateRange,
             include: Include, metrics: list[str], dimensions: list[str],
             filters: Filter | None, order_by: list[tuple[str, str]], limit: int, offset: int,
             interval: Interval | None = None,
             comparison_field: str = "include.comparisons",
             now: datetime | None = None) -> Query:
    """Check the parts against each other and build the query (``now``: the current instant,
    which trims the comparison and the buckets of a range in progress)."""
    if not metrics:
        raise bad_request("at least one metric is required", "metrics")
    for m in metrics:
        if m not in METRICS:
            raise bad_request(f"unknown metric {m!r}; metrics are {', '.join(METRICS)}",
                              "metrics")
    if len(set(metrics)) != len(metrics):
        raise bad_request("a metric is listed twice", "metrics")
    for d in dimensions:
        if not is_dimension(d):
            raise bad_request(f"unknown dimension {d!r}", "dimensions")
    if len(set(dimensions)) != len(dimensions):
        raise bad_request("a dimension is listed twice", "dimensions")
    times = [d for d in dimensions if is_time_dimension(d)]
    if len(times) > 1:
        raise bad_request("at most one time dimension", "dimensions")
    if any(d in ENTRY_EXIT for d in dimensions):
        bad = sorted(set(metrics) & _EVENT_ONLY_METRICS)
        if bad:
            raise bad_request(f"metric(s) {', '.join(bad)} cannot be broken down by entry or "
                              "exit page", "metrics")
    leaves = conditions(filters)
    _check_filter_size(leaves)
    for cond in leaves:
        _check_condition(cond, goals)
    if "conversion_rate" in metrics and GOAL not in dimensions and not any(
            c.dimension == GOAL for c in leaves):
        raise bad_request("conversion_rate needs an event:goal filter or dimension", "metrics")
    chosen = interval or (auto_interval(date_range) if times == ["time"] else None)
    if times and times != ["time"]:
        chosen = cast(Interval, times[0].split(":", 1)[1])
    # "all" is checked by the runner once it knows where the site's data starts.
    problem = chosen and date_range.period != "all" and interval_problem(chosen, date_range)
    if problem:
        raise bad_request(problem, "dimensions" if times else "interval")
    for name, _ in order_by:
        if name not in metrics and name not in dimensions:
            raise bad_request(f"order_by {name!r} is not a queried metric or dimension",
                              "order_by")
    if now is not None and (include.comparison is not None or times):
        unit = "minute" if chosen == "minute" else "hour" if (
            chosen == "hour" or date_range.days <= 1 or date_range.exact) else "day"
        include = replace(include, cutoff=cutoff_for(date_range, now, timezone, unit))
    q = Query(
        site_id=site_id, timezone=timezone, metrics=tuple(metrics), date_range=date_range,
        dimensions=tuple(dimensions), filters=filters,
        order_by=tuple((n, cast(Literal["asc", "desc"], d)) for n, d in order_by),
        include=include, limit=limit, offset=offset, interval=chosen or "day", goals=goals,
    )
    if include.comparison is not None and date_range.period != "all":  # runner: once narrowed
        other = comparison_range(q)
        if other.first < MIN_DATE:
            raise bad_request(f"the comparison would start before {MIN_DATE}",
                              comparison_field)
        problem = interval_problem(chosen, other) if chosen and times else None
        if problem:
            raise bad_request(f"comparison: {problem}", comparison_field)
    return q


def parse_date_range(spec: Any, timezone: str, today: date, field: str) -> DateRange:
    """A period name relative to ``today``, or ``[first, last]`` dates or ISO datetimes."""
    if isinstance(spec, list):
        if len(spec) != 2 or not all(isinstance(x, str) for x in spec):
            raise bad_request("a custom range is [first, last]", field)
        if "T" in spec[0] or "T" in spec[1]:
            start, end = (_datetime(x, field) for x in spec)
            if end <= start:
                raise bad_request("the range ends before it starts", field)
            return instant_range(start, end, timezone)
        first, last = parse_date(spec[0], field), parse_date(spec[1], field)
        if last < first:
            raise bad_request("the range ends before it starts", field)
        return local_range("custom", first, last, timezone)
    if not isinstance(spec, str) or spec not in PERIODS or spec == "custom":
        raise bad_request(f"unknown date range {spec!r}; use one of "
                          f"{', '.join(p for p in PERIODS if p != 'custom')} or [first, last]",
                          field)
    first, last = _period(spec, today)
    return local_range(spec, first, last, timezone)


def _period(period: str, today: date) -> tuple[date, date]:
    days = {"day": 1, "7d": 7, "28d": 28, "30d": 30, "91d": 91}
    if period in days:
        return today - timedelta(days=days[period] - 1), today
    month_end = today.replace(day=monthrange(today.year, today.month)[1])
    if period == "month":
        return today.replace(day=1), month_end
    if period in ("6mo", "12mo"):
        back = 5 if period == "6mo" else 11
        y, m = divmod(today.year * 12 + today.month - 1 - back, 12)
        return date(y, m + 1, 1), month_end
    if period == "year":
        return date(today.year, 1, 1), date(today.year, 12, 31)
    return date(2000, 1, 1), today  # "all": the runner narrows it to the first event


def _check_condition(cond: Condition, goals: tuple[Goal, ...]) -> None:
    if is_time_dimension(cond.dimension) or not is_dimension(cond.dimension):
        raise bad_request(f"cannot filter on {cond.dimension!r}", "filters")
    if cond.op.startswith("matches"):
        # Compiled by ClickHouse (RE2), never by Python's backtracking ``re``: the runner
        # refuses a pattern RE2 cannot compile (query/runner.py).
        for value in cond.values:
            if len(value) > MAX_PATTERN_CHARS:
                raise bad_request(f"a regular expression is longer than {MAX_PATTERN_CHARS} "
                                  "characters", "filters")
    if cond.dimension == GOAL and cond.op in ("is", "is_not"):
        names = {g.name for g in goals}
        missing = [v for v in cond.values if v not in names]
        if missing:
            raise bad_request(f"goal(s) {missing} are not configured for this site", "filters")


def _check_filter_size(leaves: list[Condition]) -> None:
    if len(leaves) > MAX_CONDITIONS:
        raise bad_request(f"at most {MAX_CONDITIONS} filter conditions", "filters")
    if sum(len(c.values) for c in leaves) > MAX_FILTER_VALUES:
        raise bad_request(f"at most {MAX_FILTER_VALUES} filter values in all", "filters")
    if any(len(v) > MAX_VALUE_CHARS for c in leaves for v in c.values):
        raise bad_request(f"a filter value is longer than {MAX_VALUE_CHARS} characters",
                          "filters")


def _filters(raw: Any, field: str) -> Filter | None:
    if not isinstance(raw, list):
        raise bad_request("filters must be a list", field)
    if len(raw) > MAX_CONDITIONS:
        raise bad_request(f"at most {MAX_CONDITIONS} filter conditions", field)
    parts = tuple(_filter(item, f"{field}[{i}]", 1) for i, item in enumerate(raw))
    return None if not parts else parts[0] if len(parts) == 1 else And(parts)


def _filter(raw: Any, field: str, depth: int) -> Filter:
    if not isinstance(raw, list) or not raw or not isinstance(raw[0], str):
        raise bad_request("a filter is [operator, dimension, values] or [and|or|not, ...]",
                          field)
    op = raw[0]
    if op in ("and", "or", "not") and depth >= MAX_FILTER_DEPTH:
        raise bad_request(f"filters nest at most {MAX_FILTER_DEPTH} deep", field)
    if op in ("and", "or"):
        if len(raw) != 2 or not isinstance(raw[1], list) or not raw[1]:
            raise bad_request(f"{op} takes a non-empty list of filters", field)
        if len(raw[1]) > MAX_CONDITIONS:
            raise bad_request(f"at most {MAX_CONDITIONS} filter conditions", field)
        children = tuple(_filter(x, f"{field}[1][{i}]", depth + 1)
                         for i, x in enumerate(raw[1]))
        return And(children) if op == "and" else Or(children)
    if op == "not":
        if len(raw) != 2:
            raise bad_request("not takes one filter", field)
        return Not(_filter(raw[1], f"{field}[1]", depth + 1))
    if op not in FILTER_OPS:
        raise bad_request(f"unknown filter operator {op!r}", field)
    if len(raw) not in (3, 4) or not isinstance(raw[1], str) or not isinstance(raw[2], list):
        raise bad_request(f"{op} filter is [{op!r}, dimension, [values...]]", field)
    values = raw[2]
    if not values or not all(isinstance(v, str | int | float) for v in values):
        raise bad_request("filter values are a non-empty list of strings", field)
    if len(values) > MAX_FILTER_VALUES:
        raise bad_request(f"at most {MAX_FILTER_VALUES} filter values in all", field)
    modifiers = raw[3] if len(raw) == 4 else {}
    if not isinstance(modifiers, dict):
        raise bad_request("filter modifiers are an object", field)
    case = modifiers.get("case_sensitive", True)
    return Condition(op, raw[1], tuple(str(v) for v in values), bool(case))


_SIMPLE_OPS = (("!=", "is_not"), ("==", "is"), ("!~", "contains_not"), ("~", "contains"))


def _simple_filters(raw: str | None) -> Filter | None:
    if not raw:
        return None
    if raw.lstrip().startswith("["):
        try:
            return _filters(orjson.loads(raw), "filters")
        except orjson.JSONDecodeError:
            raise bad_request("filters is not valid JSON", "filters") from None
    parts: list[Filter] = []
    for item in raw.split(";"):
        for token, op in _SIMPLE_OPS:
            if token in item:
                dim, _, value = item.partition(token)
                values = tuple(v for v in value.split("|"))
                if "*" in value and op in ("is", "is_not"):
                    parts.append(Condition("matches" if op == "is" else "matches_not",
                                           dim.strip(), tuple(_glob(v) for v in values)))
                else:
                    parts.append(Condition(op, dim.strip(), values))
                break
        else:
            raise bad_request(f"cannot read filter {item!r} (use dimension==value)", "filters")
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _glob(value: str) -> str:
    return Goal("", page_path=value).path_regex()


def _include(raw: Any, timezone: str) -> Include:
    if not isinstance(raw, dict):
        raise bad_request("include must be an object", "include")
    comparison = None
    compare_range = None
    match_dow = False
    comparisons = raw.get("comparisons")
    if comparisons is not None:
        options = comparisons if isinstance(comparisons, dict) else {"mode": comparisons}
        field = "include.comparisons"
        for key in options:
            if key not in ("mode", "date_range", "match_day_of_week"):
                raise bad_request(f"unknown comparisons option {key!r}", field)
        mode = options.get("mode")
        if mode not in ("previous_period", "year_over_year", "custom"):
            raise bad_request("comparisons.mode is previous_period, year_over_year or custom",
                              field)
        if mode == "custom":
            if "date_range" not in options:
                raise bad_request("comparisons mode custom needs a date_range [first, last]",
                                  f"{field}.date_range")
            compare_range = _compare_range(options["date_range"], timezone,
                                           f"{field}.date_range")
        elif "date_range" in options:
            raise bad_request("comparisons.date_range is only for mode custom",
                              f"{field}.date_range")
        match_dow = options.get("match_day_of_week", False)
        if not isinstance(match_dow, bool):
            raise bad_request("comparisons.match_day_of_week is true or false",
                              f"{field}.match_day_of_week")
        comparison = cast(Comparison, mode)
    imports = raw.get("imports", False)
    if not isinstance(imports, bool):
        raise bad_request("include.imports is true or false", "include.imports")
    return Include(comparison=comparison, time_labels=bool(raw.get("time_labels")),
                   total_rows=bool(raw.get("total_rows")), imports=imports,
                   match_day_of_week=match_dow, compare_range=compare_range)


def _compare_range(raw: Any, timezone: str, field: str) -> DateRange:
    """A custom comparison range: ``[first, last]`` dates, at most ``MAX_COMPARE_DAYS``."""
    if (not isinstance(raw, list) or len(raw) != 2
            or not all(isinstance(x, str) and "T" not in x for x in raw)):
        raise bad_request("a custom comparison range is [first, last] dates (YYYY-MM-DD)",
                          field)
    dr = parse_date_range(raw, timezone, MIN_DATE, field)
    if dr.days > MAX_COMPARE_DAYS:
        raise bad_request(f"a custom comparison range is at most {MAX_COMPARE_DAYS} days",
                          field)
    return dr


def _flag(raw: str | None, field: str) -> bool:
    if raw in (None, "", "false"):
        return False
    if raw == "true":
        return True
    raise bad_request(f"{field} is true or false", field)


def _order_by(raw: Any, field: str) -> list[tuple[str, str]]:
    if not isinstance(raw, list):
        raise bad_request("order_by is a list of [name, asc|desc]", field)
    out = []
    for item in raw:
        if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str)
                or item[1] not in ("asc", "desc")):
            raise bad_request("order_by is a list of [name, asc|desc]", field)
        out.append((item[0], item[1]))
    return out


def _strings(raw: Any, field: str, *, allow_empty: bool = False) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise bad_request(f"{field} must be a list of strings", field)
    if not raw and not allow_empty:
        raise bad_request(f"{field} must not be empty", field)
    return list(raw)


def _int(raw: Any, field: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's Infinity
        raise bad_request(f"{field} must be an integer", field) from None
    if not low <= value <= high:
        raise bad_request(f"{field} must be between {low} and {high}", field)
    return value


def parse_date(raw: Any, field: str) -> date:
    """A day (YYYY-MM-DD) within the calendar the store can hold; a 400 naming ``field``
    otherwise."""
    try:
        value = date.fromisoformat(str(raw)[:40])
    except ValueError:
        raise bad_request(f"{str(raw)[:40]!r} is not a date (YYYY-MM-DD)", field) from None
    return _in_calendar(value, field)


def _datetime(raw: str, field: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw[:60])
    except ValueError:
        raise bad_request(f"{raw[:60]!r} is not an ISO 8601 datetime", field) from None
    if value.tzinfo is None:
        raise bad_request(f"{raw[:60]!r} needs a UTC offset", field)
    _in_calendar(value.date(), field)
    return value


def _in_calendar(value: date, field: str) -> date:
    if not MIN_DATE <= value <= MAX_DATE:
        raise bad_request(f"dates are between {MIN_DATE} and {MAX_DATE}", field)
    return value

