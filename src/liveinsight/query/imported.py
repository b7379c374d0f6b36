"""Whether, and from which ``imported_*`` tables, a query mixes imported data in (Plausible's
semantics for ``include.imports`` / ``with_imported``).

A query asking for imports gets them when the site has completed imports whose days meet
the range, and the query is one the imported aggregates can answer: its dimensions and
filters all live in one imported table (:data:`DIMENSIONS`), its metrics are ones that table
carries (:data:`METRICS`), its time buckets are days, weeks or months over whole local days.
Otherwise it is answered from native data alone, with a reason (``imports_skip_reason``):
``no_imported_data``, ``out_of_range``, ``unsupported_interval`` or ``unsupported_query``.

Imported rows are read through subqueries that name their columns as the native tables do
(``referrer_source``, ``pathname``, ``country_code``, ``os``...), so the SQL builder groups and
filters them with the same expressions, and give their counts as components (``c_visitors``,
``c_visits``, ``c_pageviews``, ``c_events``, ``c_bounces``, ``c_seconds``, ``c_vpages``)
summed with the native ones: visitors, visits, pageviews and events add up; bounce rate,
visit duration and views per visit are recomputed from the summed bounces, seconds and
pageviews over the summed visits. Visitors of imported rows are summed as Plausible sums
them (a visitor of two sources counts in both).
"""

from __future__ import annotations

from dataclasses import dataclass

from liveinsight.query.filters import without_goals
from liveinsight.query.model import GOAL, Query, conditions, is_time_dimension

# Dimension → the imported table group holding it.
DIMENSIONS: dict[str, str] = {
    "visit:source": "sources", "visit:referrer": "sources", "visit:utm_source": "sources",
    "visit:utm_medium": "sources", "visit:utm_campaign": "sources",
    "visit:utm_content": "sources", "visit:utm_term": "sources",
    "visit:entry_page": "entry_pages", "visit:exit_page": "exit_pages",
    "event:page": "pages", "event:hostname": "pages",
    "visit:country": "locations", "visit:region": "locations",
    "visit:device": "devices", "visit:browser": "browsers", "visit:browser_version": "browsers",
    "visit:os": "operating_systems", "visit:os_version": "operating_systems",
    GOAL: "goals",
}
_VISITS = frozenset({"visitors", "visits", "pageviews", "bounce_rate", "visit_duration",
                     "views_per_visit", "percentage"})
METRICS: dict[str, frozenset[str]] = {
    "visitors": _VISITS | {"events"},
    "sources": _VISITS, "entry_pages": _VISITS, "exit_pages": _VISITS,
    "locations": _VISITS, "devices": _VISITS, "browsers": _VISITS,
    "operating_systems": _VISITS,
    "pages": frozenset({"visitors", "visits", "pageviews", "percentage"}),
    "goals": frozenset({"visitors", "events", "conversion_rate"}),
}
# The components each metric is computed from.
COMPONENTS: dict[str, tuple[str, ...]] = {
    "visitors": ("visitors",), "visits": ("visits",), "pageviews": ("pageviews",),
    "events": ("events",), "bounce_rate": ("visits", "bounces"),
    "visit_duration": ("visits", "seconds"), "views_per_visit": ("visits", "vpages"),
    "percentage": ("visitors",), "conversion_rate": ("visitors",),
}
WARNING = ("Imported stats are not included in the results because query parameters are not "
           "supported (a dimension, filter or metric that imported data does not carry, or a "
           "mix of dimensions from different imported tables).")


@dataclass(frozen=True, slots=True)
class Decision:
    included: bool
    group: str | None = None
    skip_reason: str | None = None


def decide(q: Query) -> Decision | None:
    """None when ``q`` does not ask for imports; else whether they are mixed in, and from
    which table group."""
    inc = q.include
    if not inc.imports:
        return None
    if not inc.imported:
        return Decision(False, skip_reason="no_imported_data")
    dr = q.date_range
    if not any(first <= dr.last and last >= dr.first for _, first, last in inc.imported):
        return Decision(False, skip_reason="out_of_range")
    time_dim = q.time_dimension()
    if dr.exact or (time_dim is not None and q.bucket(time_dim) in ("minute", "hour")):
        return Decision(False, skip_reason="unsupported_interval")
    dims = [d for d in q.dimensions if not is_time_dimension(d)]
    leaves = [c.dimension for c in conditions(q.filters)]
    if any(d not in DIMENSIONS for d in [*dims, *leaves]):
        return Decision(False, skip_reason="unsupported_query")
    groups = {DIMENSIONS[d] for d in [*dims, *leaves]}
    if len(groups) > 1:
        return Decision(False, skip_reason="unsupported_query")
    group = groups.pop() if groups else "visitors"
    if not set(q.metrics) <= METRICS[group]:
        return Decision(False, skip_reason="unsupported_query")
    if "conversion_rate" in q.metrics and without_goals(q.filters) is not None:
        return Decision(False, skip_reason="unsupported_query")
    return Decision(True, group=group)


def ids(q: Query) -> list[int]:
    return [i for i, _, _ in q.include.imported]


_ZERO = "toUInt64(0)"
_VISIT_COMPONENTS = ("visitors AS c_visitors, visits AS c_visits, pageviews AS c_pageviews, "
                     "{events} AS c_events, bounces AS c_bounces, visit_duration AS c_seconds, "
                     "pageviews AS c_vpages")
_BASE = "site_id, import_id, date"


def _visit_table(db: str, table: str, dims: str, events: str = _ZERO) -> str:
    return (f"SELECT {_BASE}, {dims + ', ' if dims else ''}"
            f"{_VISIT_COMPONENTS.format(events=events)} FROM {db}.{table}")


def sources(db: str, group: str) -> list[str]:
    """The SELECTs (to be unioned) reading a table group with native column names and
    component counts."""
    if group == "visitors":
        return [_visit_table(db, "imported_visitors", "", events="pageviews"),
                f"SELECT {_BASE}, {_ZERO} AS c_visitors, {_ZERO} AS c_visits,"
                f" {_ZERO} AS c_pageviews, events AS c_events, {_ZERO} AS c_bounces,"
                f" {_ZERO} AS c_seconds, {_ZERO} AS c_vpages FROM {db}.imported_custom_events"]
    if group == "sources":
        return [_visit_table(db, "imported_sources",
                             "source AS referrer_source, referrer, utm_source, utm_medium,"
                             " utm_campaign, utm_content, utm_term")]
    if group == "entry_pages":
        return [f"SELECT {_BASE}, entry_page, visitors AS c_visitors, entrances AS c_visits,"
                " pageviews AS c_pageviews, {z} AS c_events, bounces AS c_bounces,"
                " visit_duration AS c_seconds, pageviews AS c_vpages"
                .replace("{z}", _ZERO) + f" FROM {db}.imported_entry_pages"]
    if group == "exit_pages":
        return [f"SELECT {_BASE}, exit_page, visitors AS c_visitors, exits AS c_visits,"
                f" pageviews AS c_pageviews, {_ZERO} AS c_events, bounces AS c_bounces,"
                f" visit_duration AS c_seconds, pageviews AS c_vpages"
                f" FROM {db}.imported_exit_pages"]
    if group == "locations":
        return [_visit_table(db, "imported_locations", "country AS country_code, region")]
    if group == "devices":
        return [_visit_table(db, "imported_devices", "device")]
    if group == "browsers":
        return [_visit_table(db, "imported_browsers", "browser, browser_version")]
    if group == "operating_systems":
        return [_visit_table(db, "imported_operating_systems",
                             "operating_system AS os, operating_system_version AS os_version")]
    pages = (f"SELECT {_BASE}, hostname, page AS pathname, 'pageview' AS name,"
             f" visitors AS c_visitors, visits AS c_visits, pageviews AS c_pageviews,"
             f" pageviews AS c_events, {_ZERO} AS c_bounces, {_ZERO} AS c_seconds,"
             f" pageviews AS c_vpages FROM {db}.imported_pages")
    if group == "pages":
        return [pages]
    # goals: custom events by name, pageview goals by page
    return [pages,
            f"SELECT {_BASE}, '' AS hostname, path AS pathname, name, visitors AS c_visitors,"
            f" {_ZERO} AS c_visits, {_ZERO} AS c_pageviews, events AS c_events,"
            f" {_ZERO} AS c_bounces, {_ZERO} AS c_seconds, {_ZERO} AS c_vpages"
            f" FROM {db}.imported_custom_events"]
