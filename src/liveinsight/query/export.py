"""Raw event export, page by page with a cursor: the SQL of one page and the cursor after it.

Events are read in a total order — their time, then every exported column — so a page starts
exactly where the previous one ended. The cursor names the last event's time (milliseconds)
and how many events of that same millisecond were already returned; the next page reads
from that millisecond and skips them. Events stored later with a time before the cursor
(the collector takes native timestamps up to 24 hours back) are not in the rest of the
export: export ranges that ended more than a day ago to have them all.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from liveinsight.errors import Invalid
from liveinsight.storage.schema import VISIT_NAMES

MAX_LIMIT = 50_000
COLUMNS = ["timestamp", "name", "hostname", "pathname", "visitor_id", "session_id",
           *VISIT_NAMES, "props", "revenue", "revenue_currency", "engagement_ms",
           "scroll_depth"]
_SELECT = ", ".join(
    ["toUnixTimestamp64Milli(timestamp)", "toString(name)", "toString(hostname)",
     "toString(pathname)", "toString(visitor_id)", "toString(session_id)",
     *(f"toString(`{c}`)" for c in VISIT_NAMES), "toJSONString(props)",
     "if(revenue_currency = '', '', toString(revenue))", "toString(revenue_currency)",
     "engagement_ms", "scroll_depth"])
_ORDER = ", ".join(["timestamp", "session_id", "name", "pathname", "visitor_id",
                    "toJSONString(props)", "engagement_ms", "scroll_depth", "hostname",
                    *VISIT_NAMES, "revenue", "revenue_currency"])


@dataclass(frozen=True, slots=True)
class Cursor:
    ms: int  # the last returned event's time, Unix milliseconds
    skip: int  # events of that millisecond already returned

    def encode(self) -> str:
        return base64.urlsafe_b64encode(f"v1:{self.ms}:{self.skip}".encode()).decode()

    @staticmethod
    def decode(text: str) -> Cursor:
        try:
            version, ms, skip = base64.urlsafe_b64decode(text.encode()).decode().split(":")
            cursor = Cursor(int(ms), int(skip))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise Invalid("cursor is not one this API gave", field="cursor") from None
        if version != "v1" or cursor.ms < 0 or not 0 <= cursor.skip <= 10**9:
            raise Invalid("cursor is not one this API gave", field="cursor")
        return cursor


def page_sql(database: str, site_id: int, start: datetime, end: datetime,
             cursor: Cursor | None, limit: int) -> tuple[str, dict[str, Any]]:
    """One page: events of ``site_id`` in ``[start, end)`` (UTC) from ``cursor`` on."""
    since, skip = start, 0
    if cursor is not None and cursor.ms >= _ms(start):
        since, skip = datetime.fromtimestamp(cursor.ms / 1000, UTC), cursor.skip
    params = {"site": site_id, "since": _ts(since), "end": _ts(end), "limit": limit,
              "skip": skip}
    sql = (f"SELECT {_SELECT} FROM `{database}`.events"
           " WHERE site_id = {site:UInt32} AND timestamp >= {since:DateTime64(3, 'UTC')}"
           " AND timestamp < {end:DateTime64(3, 'UTC')}"
           f" ORDER BY {_ORDER} LIMIT {{limit:UInt64}} OFFSET {{skip:UInt64}}")
    return sql, params


def next_cursor(rows: Sequence[Sequence[Any]], cursor: Cursor | None,
                limit: int) -> Cursor | None:
    """The cursor after a page (None: it was the last)."""
    if len(rows) < limit:
        return None
    last = int(rows[-1][0])
    same = sum(1 for r in rows if int(r[0]) == last)
    if cursor is not None and same == len(rows) and cursor.ms == last:
        same += cursor.skip  # a whole page within one millisecond
    return Cursor(last, same)


def records(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        doc = dict(zip(COLUMNS, row, strict=True))
        ms = int(doc["timestamp"])
        doc["timestamp"] = datetime.fromtimestamp(ms / 1000, UTC).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")
        doc["props"] = orjson.loads(doc["props"]) if doc["props"] else {}
        doc["revenue"] = doc["revenue"] or None
        doc["engagement_ms"], doc["scroll_depth"] = (int(doc["engagement_ms"]),
                                                     int(doc["scroll_depth"]))
        out.append(doc)
    return out


def ndjson(docs: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(d) + b"\n" for d in docs)


def csv_text(docs: list[dict[str, Any]], header: bool) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(COLUMNS)
    for d in docs:
        writer.writerow([orjson.dumps(d["props"]).decode() if c == "props" else
                         ("" if d[c] is None else d[c]) for c in COLUMNS])
    return buf.getvalue().encode()


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)
