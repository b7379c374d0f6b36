"""Building known event sets: visits → event rows and the session rows (with every version a
real pipeline would write), ingested through a write-ahead-log segment file."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from liveinsight.storage.protocol import Store
from liveinsight.types import EventRow, SessionRow

_VISIT_FIELDS = set(SessionRow.__struct_fields__) & set(EventRow.__struct_fields__) - {
    "_k", "site_id", "session_id", "visitor_id", "timestamp", "hostname", "retention_days"}
_session_ids = itertools.count(1000)


def _ts(value: str) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S.000")


def visit(site_id: int, visitor_id: int, events: list[tuple[Any, ...]],
          session_id: int | None = None, **attrs: Any) -> tuple[list[EventRow], list[SessionRow]]:
    """One session. ``events`` are ``(utc_iso, name, path[, extra fields])``; ``attrs`` are
    visit fields (``referrer_source``, ``country_code``, ...). Engagement events do not
    change the session, every other event writes a new session version (the previous one
    cancelled with ``sign=-1``)."""
    sid = session_id or next(_session_ids)
    bad = set(attrs) - _VISIT_FIELDS
    assert not bad, bad
    rows: list[EventRow] = []
    sessions: list[SessionRow] = []
    state: SessionRow | None = None
    for item in events:
        when, name, path = item[:3]
        extra = item[3] if len(item) > 3 else {}
        ts = _ts(when)
        rows.append(EventRow(timestamp=ts, site_id=site_id, name=name, visitor_id=visitor_id,
                             session_id=sid, hostname="example.com", pathname=path,
                             **attrs, **extra))
        if name == "engagement":
            continue
        if state is None:
            state = SessionRow(site_id=site_id, session_id=sid, visitor_id=visitor_id, sign=1,
                               version=1, start=ts, timestamp=ts, hostname="example.com",
                               entry_page=path, exit_page=path,
                               pageviews=int(name == "pageview"), events=1, duration=0,
                               is_bounce=1, **attrs)
            sessions.append(state)
            continue
        sessions.append(msgspec.structs.replace(state, sign=-1))
        pageviews = state.pageviews + int(name == "pageview")
        state = msgspec.structs.replace(
            state, version=state.version + 1, timestamp=ts,
            exit_page=path if name == "pageview" else state.exit_page, pageviews=pageviews,
            events=state.events + 1, is_bounce=0,
            duration=int((datetime.fromisoformat(ts) - datetime.fromisoformat(state.start))
                         .total_seconds()))
        sessions.append(state)
    return rows, sessions


def ingest(store: Store, directory: Path,
           visits: list[tuple[list[EventRow], list[SessionRow]]]) -> None:
    """Write the rows as one log segment and let the store ingest it."""
    encoder = msgspec.json.Encoder()
    lines = [encoder.encode(r) for events, sessions in visits for r in [*events, *sessions]]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    store.ingest_segment(path, path.stem)
