"""A whole site as Plausible's CSV export: the files, their columns, the SQL of each.

Plausible's export (``lib/plausible/exports.ex``) is a zip of ten CSV files named
``imported_<table>_<first>_<last>.csv`` (``YYYYMMDD`` in the site's time zone), each row a
day's aggregates for one value of the file's dimensions, with a header naming the columns.
The same files and columns are computed here from the ``events`` and ``sessions`` tables,
with the product's own counting rules (``query/sql.py``): visitors are distinct visitor ids,
a visit belongs to the day its first event falls on (``start``), session rows are summed
with their ``sign``, engagement events are neither pageviews nor custom events.

What differs from Plausible's, and why: ``imported_locations.city`` is 0 (Plausible writes
a GeoNames id; this product stores city names, which a GeoNames id cannot be made from), and
``imported_visitors.visitors`` comes from the events (as the dashboard counts visitors)
rather than the sessions. Custom events carry ``link_url`` for outbound-link and file-download
events and ``path`` for 404 events, from their ``url`` and ``path`` properties, as Plausible's.

Each file's SQL covers one :class:`Chunk` (a month of the site's local calendar, cut at local
midnights) so a file is read a month at a time: every answer is bounded by a month of one
table's aggregates, also through a transport that holds an answer before sending it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

TABLES = ("imported_visitors", "imported_sources", "imported_pages", "imported_entry_pages",
          "imported_exit_pages", "imported_custom_events", "imported_locations",
          "imported_devices", "imported_browsers", "imported_operating_systems")
MAX_DAYS = 3660
"""Longest range one export covers (ten years); narrow it with from/to for more."""
LINK_EVENTS = ("Outbound Link: Click", "Cloaked Link: Click", "File Download")
PATH_EVENTS = ("404",)

_VISIT = ["visitors", "visits", "visit_duration", "bounces", "pageviews"]
COLUMNS: dict[str, list[str]] = {
    "imported_visitors": ["date", "visitors", "pageviews", "bounces", "visits",
                          "visit_duration"],
    "imported_sources": ["date", "source", "referrer", "utm_source", "utm_medium",
                         "utm_campaign", "utm_content", "utm_term", "pageviews", "visitors",
                         "visits", "visit_duration", "bounces"],
    "imported_pages": ["date", "hostname", "page", "visits", "visitors", "pageviews",
                       "total_scroll_depth", "total_scroll_depth_visits", "total_time_on_page",
                       "total_time_on_page_visits"],
    "imported_entry_pages": ["date", "entry_page", "visitors", "entrances", "visit_duration",
                             "bounces", "pageviews"],
    "imported_exit_pages": ["date", "exit_page", "visitors", "visit_duration", "exits",
                            "bounces", "pageviews"],
    "imported_custom_events": ["date", "name", "link_url", "path", "visitors", "events"],
    "imported_locations": ["date", "country", "region", "city", *_VISIT],
    "imported_devices": ["date", "device", *_VISIT],
    "imported_browsers": ["date", "browser", "browser_version", *_VISIT],
    "imported_operating_systems": ["date", "operating_system", "operating_system_version",
                                   *_VISIT],
}
"""Each file's columns, in order: its header row (Plausible's names and order)."""

_SITE = "site_id = {site:UInt32}"
_EVENTS_IN = _SITE + (" AND timestamp >= {start:DateTime64(3, 'UTC')}"
                      " AND timestamp < {end:DateTime64(3, 'UTC')}")
_SESSIONS_IN = _SITE + (" AND start >= {start:DateTime64(3, 'UTC')}"
                        " AND start < {end:DateTime64(3, 'UTC')}")
_EDATE = "toDate(timestamp, {tz:String})"
_SDATE = "toDate(start, {tz:String})"
_VISITORS = "uniqExact(visitor_id)"
_VISITS = "toUInt64(greatest(sum(sign), 0))"
_BOUNCES = "toUInt64(greatest(sum(sign * is_bounce), 0))"
_DURATION = "toUInt64(greatest(sum(sign * duration), 0))"
_PAGEVIEWS = "toUInt64(greatest(sum(sign * pageviews), 0))"


def _sessions(db: str, dims: list[tuple[str, str]], metrics: list[tuple[str, str]],
              where: str = "") -> str:
    """A file from the sessions table: ``date``, ``dims`` (name, expression), ``metrics``;
    groups whose visits all cancelled out are left out."""
    cols = ", ".join([f"{_SDATE} AS date", *(f"{expr} AS {name}" for name, expr in dims),
                      *(f"{expr} AS {name}" for name, expr in metrics)])
    keys = ", ".join(["date", *(name for name, _ in dims)])
    return (f"SELECT {cols} FROM `{db}`.sessions WHERE {_SESSIONS_IN}{where}"
            f" GROUP BY {keys} HAVING sum(sign) > 0 ORDER BY {keys}")


def _visit_metrics(pageviews_first: bool = False) -> list[tuple[str, str]]:
    if pageviews_first:  # imported_sources: Plausible's column order
        return [("pageviews", _PAGEVIEWS), ("visitors", _VISITORS), ("visits", _VISITS),
                ("visit_duration", _DURATION), ("bounces", _BOUNCES)]
    return [("visitors", _VISITORS), ("visits", _VISITS), ("visit_duration", _DURATION),
            ("bounces", _BOUNCES), ("pageviews", _PAGEVIEWS)]


def _visitors(db: str) -> str:
    return (
        "SELECT date, visitors, pageviews, bounces, visits, visit_duration FROM"
        f" (SELECT {_EDATE} AS date, {_VISITORS} AS visitors,"
        f" toUInt64(countIf(name = 'pageview')) AS pageviews FROM `{db}`.events"
        f" WHERE {_EVENTS_IN} AND name != 'engagement' GROUP BY date) AS e"
        f" FULL OUTER JOIN (SELECT {_SDATE} AS date, {_BOUNCES} AS bounces, {_VISITS} AS visits,"
        f" {_DURATION} AS visit_duration FROM `{db}`.sessions WHERE {_SESSIONS_IN}"
        " GROUP BY date HAVING sum(sign) > 0) AS s USING (date) ORDER BY date")


def _pages(db: str) -> str:
    return (
        "SELECT p.date AS date, p.hostname AS hostname, p.page AS page, p.visits AS visits,"
        " p.visitors AS visitors, p.pageviews AS pageviews,"
        " g.total_scroll_depth AS total_scroll_depth,"
        " g.total_scroll_depth_visits AS total_scroll_depth_visits,"
        " g.total_time_on_page AS total_time_on_page,"
        " g.total_time_on_page_visits AS total_time_on_page_visits FROM"
        f" (SELECT {_EDATE} AS date, toString(any(hostname)) AS hostname,"
        " toString(pathname) AS page, uniqExact(session_id) AS visits,"
        f" {_VISITORS} AS visitors, toUInt64(count()) AS pageviews FROM `{db}`.events"
        f" WHERE {_EVENTS_IN} AND name = 'pageview' GROUP BY date, page) AS p"
        " LEFT JOIN (SELECT date, page, toUInt64(sum(depth)) AS total_scroll_depth,"
        " toUInt64(countIf(depth > 0)) AS total_scroll_depth_visits,"
        " toUInt64(round(sum(ms) / 1000)) AS total_time_on_page,"
        " toUInt64(countIf(ms > 0)) AS total_time_on_page_visits FROM"
        f" (SELECT {_EDATE} AS date, toString(pathname) AS page, session_id,"
        " max(if(scroll_depth <= 100, scroll_depth, 0)) AS depth, sum(engagement_ms) AS ms"
        f" FROM `{db}`.events WHERE {_EVENTS_IN} AND name = 'engagement'"
        " GROUP BY date, page, session_id) GROUP BY date, page) AS g"
        " ON p.date = g.date AND p.page = g.page ORDER BY date, page")


def _custom_events(db: str) -> str:
    links = ", ".join(f"'{n}'" for n in LINK_EVENTS)
    paths = ", ".join(f"'{n}'" for n in PATH_EVENTS)
    return (
        f"SELECT {_EDATE} AS date, toString(name) AS name,"
        f" if(name IN ({links}), props['url'], '') AS link_url,"
        f" if(name IN ({paths}), props['path'], '') AS path,"
        f" {_VISITORS} AS visitors, toUInt64(count()) AS events FROM `{db}`.events"
        f" WHERE {_EVENTS_IN} AND name NOT IN ('pageview', 'engagement')"
        " GROUP BY date, name, link_url, path ORDER BY date, name, link_url, path")


def file_sql(db: str) -> dict[str, str]:
    """Each file's table → its SQL, with parameters ``site``, ``tz``, ``start``, ``end``
    (a :class:`Chunk`'s bounds)."""
    return {
        "imported_visitors": _visitors(db),
        "imported_sources": _sessions(
            db, [("source", "toString(referrer_source)"), ("referrer", "referrer"),
                 ("utm_source", "toString(utm_source)"), ("utm_medium", "toString(utm_medium)"),
                 ("utm_campaign", "toString(utm_campaign)"), ("utm_content", "utm_content"),
                 ("utm_term", "utm_term")], _visit_metrics(pageviews_first=True)),
        "imported_pages": _pages(db),
        "imported_entry_pages": _sessions(
            db, [("entry_page", "toString(entry_page)")],
            [("visitors", _VISITORS), ("entrances", _VISITS), ("visit_duration", _DURATION),
             ("bounces", _BOUNCES), ("pageviews", _PAGEVIEWS)]),
        "imported_exit_pages": _sessions(
            db, [("exit_page", "toString(exit_page)")],
            [("visitors", _VISITORS), ("visit_duration", _DURATION), ("exits", _VISITS),
             ("bounces", _BOUNCES), ("pageviews", _PAGEVIEWS)]),
        "imported_custom_events": _custom_events(db),
        "imported_locations": _sessions(
            db, [("country", "toString(country_code)"), ("region", "toString(region)"),
                 ("city", "toUInt64(0)")], _visit_metrics(),
            " AND country_code NOT IN ('', 'ZZ')"),
        "imported_devices": _sessions(db, [("device", "toString(device)")], _visit_metrics()),
        "imported_browsers": _sessions(
            db, [("browser", "toString(browser)"), ("browser_version",
                                                     "toString(browser_version)")],
            _visit_metrics()),
        "imported_operating_systems": _sessions(
            db, [("operating_system", "toString(os)"),
                 ("operating_system_version", "toString(os_version)")], _visit_metrics()),
    }


def data_range_sql(db: str) -> str:
    """The first and last day (site's time zone) holding events: ``first``, ``last``, and
    ``n`` (0 without any)."""
    return (f"SELECT toString(toDate(min(timestamp), {{tz:String}})) AS first,"
            f" toString(toDate(max(timestamp), {{tz:String}})) AS last, count() AS n"
            f" FROM `{db}`.events WHERE {_SITE}")


@dataclass(frozen=True, slots=True)
class Chunk:
    """Days ``first`` to ``last`` (included) of the site's calendar: UTC ``start``/``end``."""

    first: date
    last: date
    start: datetime
    end: datetime

    def params(self, site_id: int, tz: str) -> dict[str, Any]:
        return {"site": site_id, "tz": tz, "start": _ts(self.start), "end": _ts(self.end)}


def chunks(first: date, last: date, tz: str) -> Iterator[Chunk]:
    """``first`` to ``last`` cut into calendar months (the first and last may be partial)."""
    zone = ZoneInfo(tz)
    day = first
    while day <= last:
        month_end = (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        stop = min(month_end, last)
        yield Chunk(day, stop, datetime.combine(day, time(), zone).astimezone(UTC),
                    datetime.combine(stop + timedelta(days=1), time(), zone).astimezone(UTC))
        day = stop + timedelta(days=1)


def filenames(first: date, last: date) -> dict[str, str]:
    """Each table → its file's name in the zip (Plausible's)."""
    suffix = f"_{first:%Y%m%d}_{last:%Y%m%d}.csv"
    return {t: t + suffix for t in TABLES}


def archive_name(domain: str, on: date) -> str:
    """``example_com_20261205.zip``: the domain's dots as underscores, the day of export."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_"
                   for c in domain.replace(".", "_"))
    return f"{safe}_{on:%Y%m%d}.zip"


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
