"""The shared vocabulary: what the collector hands the pipeline, what the pipeline hands the
write-ahead log, and why an event may be dropped.

``EventRow`` and ``SessionRow`` field names are the ClickHouse column names, in the order
``storage/schema.py`` declares them (explicit classes for speed and typing, checked against
the schema by ``tests/storage/test_schema_columns.py``); they are encoded as JSON lines
into the write-ahead log and ingested by ClickHouse itself, so no Python touches rows
between the log and the store.
"""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec


class DropReason(enum.StrEnum):
    """Why an accepted request produced no stored event (a metric label)."""

    UNKNOWN_SITE = "unknown_site"
    SITE_DISABLED = "site_disabled"
    BOT = "bot"
    SPAM_REFERRER = "spam_referrer"
    BLOCKED_IP = "blocked_ip"
    BLOCKED_PATH = "blocked_path"
    BLOCKED_HOST = "blocked_host"
    INVALID = "invalid"
    NO_SESSION = "no_session"  # an engagement event for a visitor with no live session


class RawEvent(msgspec.Struct, kw_only=True):
    """One event as the collector understood the request, before enrichment.

    ``ip`` and ``user_agent`` live only in memory: the pipeline turns them into a visitor id,
    geo and device fields, and they are never written anywhere.
    """

    name: str
    url: str
    timestamp: datetime
    ip: str
    user_agent: str
    domain: str | None = None  # Plausible `d`: one site domain (already split on commas)
    site_id: int | None = None  # native senders may name the site by id
    site_uuid: str | None = None  # Umami `website` (the site UUID)
    referrer: str = ""
    props: dict[str, str] = {}
    revenue_amount: str | None = None  # decimal as string, converted to site currency later
    revenue_currency: str | None = None
    hash_mode: bool = False
    screen: str = ""
    language: str = ""
    title: str = ""
    engagement_ms: int = 0
    scroll_depth: int = 0
    interactive: bool = True


class EventRow(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="_k", tag="e",
               gc=False):
    """One enriched event, exactly as stored in the ``events`` table.

    Encoded as one log line: ``"_k":"e"`` (the tag, always first, always written), then the
    fields, leaving out a field whose value is its default. msgspec decides that by identity
    (and emptiness for ``props``): ``""``, ``0`` and ``{}`` are always left out, ``"Direct"``
    and ``"0"`` when they are the literal default. ClickHouse fills an omitted column with
    the same value (``storage/schema.py``: the type's zero, or ``SEGMENT_DEFAULTS``), so
    both forms store the same row; decoding a line fills the struct's defaults.

    ``gc=False`` (also on ``SessionRow``): rows hold only strings, numbers and a string map,
    so they never form reference cycles, and the cyclic garbage collector need not walk the
    hundreds of thousands of them the session tracker and in-flight requests hold.
    """

    timestamp: str  # "YYYY-MM-DD hh:mm:ss.fff" in UTC
    site_id: int
    name: str
    visitor_id: int
    session_id: int
    hostname: str
    pathname: str
    referrer: str = ""
    referrer_source: str = ""
    channel: str = "Direct"
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_content: str = ""
    utm_term: str = ""
    country_code: str = ""
    region: str = ""
    city: str = ""
    device: str = ""
    browser: str = ""
    browser_version: str = ""
    os: str = ""
    os_version: str = ""
    screen: str = ""
    props: dict[str, str] = {}
    revenue: str = "0"
    revenue_currency: str = ""
    engagement_ms: int = 0
    scroll_depth: int = 0
    retention_days: int = 0


class SessionRow(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="_k", tag="s",
                 gc=False):
    """One version of a session, as stored in the ``sessions`` table.

    The table is a VersionedCollapsingMergeTree: each change of a session writes the previous
    state with ``sign=-1`` and the new state with ``sign=1`` and ``version`` one higher, so
    ``sum(sign * x)`` is correct before and after merges. Encoded like ``EventRow``, with
    the tag ``"_k":"s"``.
    """

    site_id: int
    session_id: int
    visitor_id: int
    sign: int
    version: int
    start: str
    timestamp: str  # time of the last event
    hostname: str
    entry_page: str
    exit_page: str
    pageviews: int
    events: int
    duration: int  # seconds between first and last event
    is_bounce: int
    referrer: str = ""
    referrer_source: str = ""
    channel: str = "Direct"
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_content: str = ""
    utm_term: str = ""
    country_code: str = ""
    region: str = ""
    city: str = ""
    device: str = ""
    browser: str = ""
    browser_version: str = ""
    os: str = ""
    os_version: str = ""
    screen: str = ""
    retention_days: int = 0


def format_ts(value: datetime) -> str:
    """UTC ``datetime`` → the text ClickHouse parses as ``DateTime64(3)``."""
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
