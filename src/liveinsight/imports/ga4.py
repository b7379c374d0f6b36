"""A Google Analytics 4 export → rows of the ``imported_*`` tables.

GA4 has no export of a whole property, so the layout is ours (documented in the user guide,
"Importing from Google Analytics 4"): CSV files as GA4's Explorations and Reports download
them (lines starting with ``#`` before the header are skipped), one report per file, in a zip
or alone, any file names. A file's header decides which table it fills:

* always ``date`` (``YYYYMMDD`` as GA4 writes it, or ``YYYY-MM-DD``) and ``totalUsers`` (or
  ``activeUsers``): visitors;
* at most one dimension group: none (site totals → ``imported_visitors``);
  ``sessionSource`` [``sessionMedium``, ``sessionCampaignName``, ``sessionManualAdContent``,
  ``sessionManualTerm``] (sources); ``pagePath`` [``hostName``] (pages); ``landingPage``
  (entry pages); ``country`` (a name such as "Germany", or an ISO code) (locations);
  ``deviceCategory`` (devices); ``browser`` (browsers); ``operatingSystem``
  [``operatingSystemVersion``] (operating systems); ``eventName`` (custom events);
* metrics, each optional (0 when absent): ``sessions`` (visits; entrances of a landing page),
  ``screenPageViews`` (pageviews), ``bounces`` or else ``engagedSessions`` (bounces =
  sessions - engaged sessions), ``userEngagementDuration`` (seconds: the visits' total
  duration), ``eventCount`` (events).

Values: ``(not set)`` and ``(none)`` are empty; source ``(direct)`` is Direct / None, other
sources are named as the tracker names them (``google`` → Google); device categories are
capitalised (Desktop, Mobile, Tablet); a landing page loses its query string. GA4's own
automatic events (:data:`AUTOMATIC_EVENTS`) are not custom events and are skipped. GA4 region
and city names are not imported (the tables hold codes): only countries.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from babel import Locale

from liveinsight.imports import layout
from liveinsight.imports.layout import PLAUSIBLE, Where
from liveinsight.imports.reader import Member, Upload
from liveinsight.ingest.referrer import source_of_param

Row = tuple[str, dict[str, Any]]

GROUPS: dict[str, tuple[str, dict[str, str]]] = {
    # first column of the group → (table, {GA4 column: stored column})
    "sessionSource": ("imported_sources", {
        "sessionSource": "source", "sessionMedium": "utm_medium",
        "sessionCampaignName": "utm_campaign", "sessionManualAdContent": "utm_content",
        "sessionManualTerm": "utm_term"}),
    "pagePath": ("imported_pages", {"pagePath": "page", "hostName": "hostname"}),
    "landingPage": ("imported_entry_pages", {"landingPage": "entry_page"}),
    "country": ("imported_locations", {"country": "country", "region": "", "city": ""}),
    "deviceCategory": ("imported_devices", {"deviceCategory": "device"}),
    "browser": ("imported_browsers", {"browser": "browser"}),
    "operatingSystem": ("imported_operating_systems", {
        "operatingSystem": "operating_system",
        "operatingSystemVersion": "operating_system_version"}),
    "eventName": ("imported_custom_events", {"eventName": "name"}),
}
METRICS = ("totalUsers", "activeUsers", "sessions", "screenPageViews", "bounces",
           "engagedSessions", "userEngagementDuration", "eventCount")
AUTOMATIC_EVENTS = frozenset({
    "page_view", "session_start", "first_visit", "user_engagement", "scroll", "click",
    "view_search_results", "form_start", "form_submit", "video_start", "video_progress",
    "video_complete"})
# GA4 names that CLDR's English names differ from.
_COUNTRY_ALIASES = {"turkey": "TR", "myanmar": "MM", "czech republic": "CZ",
                    "ivory coast": "CI", "cote d'ivoire": "CI", "côte d'ivoire": "CI",
                    "hong kong": "HK", "macao": "MO", "macau": "MO",
                    "palestine": "PS", "north macedonia": "MK", "eswatini": "SZ",
                    "congo - kinshasa": "CD", "congo - brazzaville": "CG",
                    "united states of america": "US", "russian federation": "RU"}
_EMPTY = {"(not set)", "(none)", "(other)", "(not provided)"}


@lru_cache(maxsize=1)
def _countries() -> dict[str, str]:
    names = {name.lower(): code for code, name in Locale("en").territories.items()
             if len(code) == 2 and code.isalpha()}
    for code, name in list(Locale("en").territories.items()):
        if len(code) == 2 and "(" in name:  # "Myanmar (Burma)" → "myanmar" too
            names.setdefault(name.split("(")[0].strip().lower(), code)
    names.update(_COUNTRY_ALIASES)
    return names


def country_code(raw: str, where: Where) -> str:
    """A GA4 country name (or an ISO 3166-1 alpha-2 code) → the code; ``''`` unknown."""
    name = raw.strip()
    if not name or name.lower() in _EMPTY:
        return ""
    if len(name) == 2 and name.isascii() and name.isalpha():
        return name.upper()
    code = _countries().get(name.lower().replace("\u2019", "'"))
    if code is None:
        raise where.fail("country", f"{name[:60]!r} is not a country name GA4 writes")
    return code


def _clean(raw: str) -> str:
    return "" if raw.strip().lower() in _EMPTY else raw.strip()


def _source(raw: str) -> str:
    value = _clean(raw)
    if value.lower() == "(direct)" or not value:
        return ""
    found = source_of_param(value)
    return found.name if found is not None else value


def rows(upload: Upload, member: Member, where: Where) -> Iterator[Row]:
    records = upload.rows(member, where)
    header = next(records, None)
    if header is None:
        raise where.fail(None, "no header row")
    table, renames = _plan(header, where)
    spec = PLAUSIBLE[table]
    index = {name: i for i, name in enumerate(header)}
    for record in records:
        if len(record) != len(header):
            raise where.fail(None, f"{len(record)} values for {len(header)} columns")
        out = layout.defaults(spec)
        out["date"] = layout.day(record[index["date"]], where).isoformat()
        for name, target in renames.items():
            if target and name in index:
                out[target] = _dimension(name, record[index[name]], where)
        if table == "imported_custom_events" and out["name"] in AUTOMATIC_EVENTS:
            continue
        if table == "imported_custom_events" and not out["name"]:
            continue
        numbers = {m: layout.count(record[index[m]], where, m) for m in METRICS if m in index}
        _metrics(table, numbers, out)
        yield table, out


def _plan(header: list[str], where: Where) -> tuple[str, dict[str, str]]:
    if len(set(header)) != len(header):
        raise where.fail(None, "a column is named twice in the header")
    if "date" not in header:
        raise where.fail(None, "the header lacks date")
    if "totalUsers" not in header and "activeUsers" not in header:
        raise where.fail(None, "the header lacks totalUsers (or activeUsers)")
    groups = [g for g in GROUPS if g in header]
    if len(groups) > 1:
        raise where.fail(None, f"one dimension per file, not {' and '.join(groups)}")
    table, renames = GROUPS[groups[0]] if groups else ("imported_visitors", {})
    known = {"date", *METRICS, *renames}
    for name in header:
        if name not in known:
            raise where.fail(name[:60], "unknown column for a GA4 "
                             f"{table.removeprefix('imported_')} report (known: "
                             f"{', '.join(sorted(known))})")
    return table, renames


def _dimension(name: str, raw: str, where: Where) -> str:
    layout.text(raw, where, name)
    if name == "country":
        return country_code(raw, where)
    if name == "sessionSource":
        return _source(raw)
    if name == "deviceCategory":
        return _clean(raw).capitalize()
    if name == "landingPage":
        return _clean(raw).split("?", 1)[0]
    return _clean(raw)


def _metrics(table: str, n: dict[str, int], out: dict[str, Any]) -> None:
    visitors = n.get("totalUsers", n.get("activeUsers", 0))
    sessions = n.get("sessions", 0)
    bounces = n["bounces"] if "bounces" in n else max(sessions - n.get("engagedSessions",
                                                                       sessions), 0)
    wanted = {"visitors": visitors, "visits": sessions, "entrances": sessions,
              "pageviews": n.get("screenPageViews", 0), "bounces": min(bounces, sessions),
              "visit_duration": n.get("userEngagementDuration", 0),
              "events": n.get("eventCount", 0)}
    for column in PLAUSIBLE[table].columns:
        if column in wanted:
            out[column] = wanted[column]
