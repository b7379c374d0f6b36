"""The ``session`` step: which session an event belongs to, and the session rows it writes.

A session is a visitor's run of events with gaps no longer than the session timeout (event
time, ``RawEvent.timestamp``). Live sessions are kept in memory by :class:`SessionTracker`,
keyed by ``(site_id, visitor_id)``; each event writes the session's new state to the
``sessions`` table (a VersionedCollapsingMergeTree): a new session one row (``sign=1,
version=1``), a continued one the previous state with ``sign=-1`` and the new state with
``sign=1`` and ``version`` one higher.

Bounded memory: a session not touched (wall clock) for the timeout is forgotten; the check is
O(1) per event because entries are kept in touch order. On start the tracker is warmed with
the sessions whose last event is within the timeout, from the store and from the session
lines the write-ahead log still holds (``wal.logged_lines``), so a restart does not split
live sessions.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import msgspec

from liveinsight.ingest.context import Context, Env
from liveinsight.ingest.rows import utc
from liveinsight.ingest.session_store import SessionEvent, SessionStore
from liveinsight.ingest.visitor import visitor_id
from liveinsight.storage.protocol import Store, StoreError
from liveinsight.storage.schema import SESSION_NAMES, VISIT_NAMES
from liveinsight.types import DropReason, EventRow, SessionRow, format_ts

log = logging.getLogger("liveinsight.ingest.sessions")

PAGEVIEW = "pageview"
ENGAGEMENT = "engagement"
# Session columns taken from the session's first event (``storage/schema.py``'s visit columns).
VISIT_FIELDS = VISIT_NAMES

Key = tuple[int, int]
_LONG_AGO = datetime.min.replace(tzinfo=UTC)


class Session(msgspec.Struct, gc=False):
    """One live session: its current state as the row last written (``sign=1``) plus what
    that row cannot say. ``gc=False``: the tracker may hold hundreds of thousands of these
    and they never form reference cycles, so the cyclic collector need not scan them (with
    them tracked, full collections stalled the event loop for milliseconds)."""

    start: datetime
    last: datetime
    interacted: bool  # an interactive custom event happened (not a bounce)
    state: SessionRow

    def add(self, row: EventRow, when: datetime, interactive: bool) -> list[SessionRow]:
        """Account ``row`` (an event of this session at ``when``); returns the rows that
        record the change: the previous state cancelled, the new state."""
        state = self.state
        before = msgspec.structs.replace(state, sign=-1)
        start_text, last_text = state.start, state.timestamp
        if when < self.start:
            self.start, start_text = when, row.timestamp
        latest = when >= self.last
        if latest:
            self.last, last_text = when, row.timestamp
        entry, exit_, pageviews, events = (
            state.entry_page, state.exit_page, state.pageviews, state.events)
        if row.name != ENGAGEMENT:
            events += 1
            if row.name == PAGEVIEW:
                if pageviews == 0:
                    entry = row.pathname
                if latest or pageviews == 0:
                    exit_ = row.pathname
                pageviews += 1
            elif interactive:
                self.interacted = True
        self.state = msgspec.structs.replace(
            state, version=state.version + 1, start=start_text, timestamp=last_text,
            entry_page=entry, exit_page=exit_, pageviews=pageviews, events=events,
            duration=int((self.last - self.start).total_seconds()),
            is_bounce=int(pageviews <= 1 and not self.interacted),
        )
        return [before, self.state]


def new_session(row: EventRow, when: datetime, interactive: bool) -> Session:
    """A session started by ``row`` (whose ``timestamp`` is ``when`` formatted): its site,
    visitor, host, retention, time and every visit column (``VISIT_FIELDS``) are the row's."""
    pageview = row.name == PAGEVIEW
    interacted = not pageview and interactive
    state = SessionRow(
        site_id=row.site_id,
        session_id=random.getrandbits(63) or 1,
        visitor_id=row.visitor_id,
        sign=1,
        version=1,
        start=row.timestamp,
        timestamp=row.timestamp,
        hostname=row.hostname,
        entry_page=row.pathname,
        exit_page=row.pathname,
        pageviews=int(pageview),
        events=1,
        duration=0,
        is_bounce=int(not interacted),
        retention_days=row.retention_days,
        # VISIT_FIELDS, spelled out: a comprehension over getattr cost ~3 µs per session
        # (tests/ingest/test_sessions.py checks these are exactly the visit columns)
        referrer=row.referrer, referrer_source=row.referrer_source, channel=row.channel,
        utm_source=row.utm_source, utm_medium=row.utm_medium,
        utm_campaign=row.utm_campaign, utm_content=row.utm_content, utm_term=row.utm_term,
        country_code=row.country_code, region=row.region, city=row.city,
        device=row.device, browser=row.browser, browser_version=row.browser_version,
        os=row.os, os_version=row.os_version, screen=row.screen,
    )
    return Session(start=when, last=when, interacted=interacted, state=state)


class SessionTracker:
    """Live sessions in memory. Thread-safe: the collector runs the pipeline on worker
    threads when the log fsyncs on every append, and two events of one session must not
    both write the same next version."""

    def __init__(self, timeout: timedelta, clock: Callable[[], datetime]) -> None:
        self.timeout = timeout
        self._clock = clock
        self._live: OrderedDict[Key, tuple[datetime, Session]] = OrderedDict()
        # When the oldest entry falls out (at the latest): until then a touch skips the check.
        self._next_expiry = _LONG_AGO
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._live)

    @property
    def degraded(self) -> str | None:
        return None  # in memory by design, not as a fallback

    def close(self) -> None:
        return None

    def _find(self, site_id: int, visitor_id: int, when: datetime) -> Session | None:
        entry = self._live.get((site_id, visitor_id))
        if entry is None or when - entry[1].last > self.timeout:
            return None
        return entry[1]

    def record(
        self, row: EventRow, when: datetime, *,
        previous_visitor_id: int | Callable[[], int] | None = None,
        interactive: bool = True, now: datetime | None = None,
    ) -> list[SessionRow] | None:
        """Put ``row`` into its session: sets ``row.session_id`` (and ``row.visitor_id`` to
        the session's when it continues one that started under yesterday's salt) and returns
        the session rows to write. ``when`` is the event time, ``row.timestamp`` formatted.
        ``previous_visitor_id`` (yesterday's id of the visitor, or what computes it: only
        needed when today's id has no live session) may be None. Returns None for an
        engagement event without a live session (it has nothing to attach to). ``now`` is
        the clock's reading (read here when None)."""
        with self._lock:
            session = self._find(row.site_id, row.visitor_id, when)
            if session is None and previous_visitor_id is not None:
                previous = (previous_visitor_id() if callable(previous_visitor_id)
                            else previous_visitor_id)
                session = self._find(row.site_id, previous, when)
            if session is None:
                if row.name == ENGAGEMENT:
                    return None
                session = new_session(row, when, interactive)
                rows = [session.state]
            else:
                rows = session.add(row, when, interactive)
            self._touch((row.site_id, row.visitor_id), session,
                        now if now is not None else self._clock())
        row.session_id = session.state.session_id
        row.visitor_id = session.state.visitor_id
        return rows

    def record_many(self, events: Sequence[SessionEvent]) -> list[list[SessionRow] | None]:
        """:meth:`record` for each event, in order."""
        record = self.record
        return [record(e.row, e.when, previous_visitor_id=e.previous_visitor_id,
                       interactive=e.interactive, now=e.now) for e in events]

    def drain(self, now: datetime) -> list[Session]:
        """Every session still live at ``now`` (last touched within the timeout), oldest
        first, and forget them all (a store handing its sessions to another)."""
        with self._lock:
            cutoff = now - self.timeout
            live = [session for touched, session in self._live.values() if touched >= cutoff]
            self._live.clear()
            self._next_expiry = _LONG_AGO
        return live

    def warm(self, sessions: list[Session]) -> None:
        """Adopt sessions loaded from the store (oldest first keeps eviction order)."""
        with self._lock:
            self._next_expiry = _LONG_AGO  # check at the next touch
            for session in sorted(sessions, key=lambda s: s.last):
                key = (session.state.site_id, session.state.visitor_id)
                self._live[key] = (session.last, session)
                self._live.move_to_end(key)

    def _touch(self, key: Key, session: Session, now: datetime) -> None:
        live = self._live
        live[key] = (now, session)
        live.move_to_end(key)
        if now < self._next_expiry:
            return  # the oldest entry (or an older one since touched again) is not due yet
        cutoff = now - self.timeout
        while live:
            oldest = next(iter(live.values()))
            if oldest[0] >= cutoff:
                self._next_expiry = oldest[0] + self.timeout
                break
            live.popitem(last=False)


def _session_event(ctx: Context) -> SessionEvent:
    row = ctx.row
    assert row is not None
    previous = None
    if ctx.previous_salt is not None:  # computed only when today's id has no live session
        previous = partial(visitor_id, ctx.previous_salt, row.site_id, ctx.raw.ip,
                           ctx.raw.user_agent)
    return SessionEvent(row, utc(ctx.raw.timestamp), previous, ctx.raw.interactive, ctx.now)


def register_session(ctx: Context, env: Env) -> DropReason | None:
    """The session step for one event (see :func:`register_sessions`)."""
    return register_sessions([ctx], env)[0]


def register_sessions(contexts: Sequence[Context], env: Env) -> list[DropReason | None]:
    """The session step for a batch of events, in order: one call of the session store
    (one round trip for a shared one). Each context gets its session rows, or the drop
    reason of an engagement event without a live session."""
    results = env.tracker.record_many([_session_event(ctx) for ctx in contexts])
    reasons: list[DropReason | None] = []
    for ctx, rows in zip(contexts, results, strict=True):
        if rows is None:
            reasons.append(DropReason.NO_SESSION)
        else:
            ctx.session_rows = rows
            reasons.append(None)
    return reasons


# --- warm start ------------------------------------------------------------------------------

# The warm query groups a session's rows by its key and keeps the latest ``sign=1`` row's
# value of every other column (``sign`` itself is known: 1).
_KEY = ("site_id", "session_id")
_STATE_COLUMNS = tuple(name for name in SESSION_NAMES if name not in (*_KEY, "sign"))


# Sessions that started longer ago than this are not warmed (the filter on `start` lets
# ClickHouse skip old partitions and granules; a human visit does not last two days).
WARM_MAX_AGE = timedelta(days=2)
WARM_QUERY_TIMEOUT_S = 30.0


def live_sessions_sql(database: str) -> str:
    """The latest state of every session still open (``sum(sign) > 0``) whose last event is
    at or after ``{since}`` and that started at or after ``{oldest}``. Rows of one version
    share their timestamp, so filtering on it keeps or drops whole versions and
    ``sum(sign)`` stays right."""
    # Aliases differ from column names: ClickHouse would otherwise read the WHERE's
    # `timestamp` as the aggregate.
    picks = ", ".join(f"argMaxIf(`{c}`, version, sign = 1) AS `last_{c}`" for c in _STATE_COLUMNS)
    return (
        f"SELECT {', '.join(_KEY)}, {picks} FROM `{database}`.sessions "
        "WHERE start >= {oldest:DateTime64(3, 'UTC')} "
        "AND timestamp >= {since:DateTime64(3, 'UTC')} "
        f"GROUP BY {', '.join(_KEY)} HAVING sum(sign) > 0"
    )


def load_live_sessions(store: Store, now: datetime, timeout: timedelta) -> list[Session]:
    """Sessions whose last event is within ``timeout`` of ``now``, from the store."""
    params = {"since": format_ts(utc(now) - timeout),
              "oldest": format_ts(utc(now) - WARM_MAX_AGE)}
    result = store.query(live_sessions_sql(store.database), params,
                         timeout=WARM_QUERY_TIMEOUT_S)
    return [_session_of(_unprefixed(record)) for record in result.dicts()]


def _unprefixed(record: dict[str, Any]) -> dict[str, Any]:
    return {key.removeprefix("last_"): value for key, value in record.items()}


def _session_of(record: dict[str, Any]) -> Session:
    pageviews, is_bounce = int(record["pageviews"]), int(record["is_bounce"])
    state = SessionRow(
        site_id=int(record["site_id"]),
        session_id=int(record["session_id"]),
        visitor_id=int(record["visitor_id"]),
        sign=1,
        version=int(record["version"]),
        start=format_ts(_parse_ts(record["start"])),
        timestamp=format_ts(_parse_ts(record["timestamp"])),
        hostname=record["hostname"],
        entry_page=record["entry_page"],
        exit_page=record["exit_page"],
        pageviews=pageviews,
        events=int(record["events"]),
        duration=int(record["duration"]),
        is_bounce=is_bounce,
        retention_days=int(record["retention_days"]),
        **{name: str(record[name]) for name in VISIT_FIELDS},
    )
    return Session(
        start=_parse_ts(record["start"]), last=_parse_ts(record["timestamp"]),
        interacted=is_bounce == 0 and pageviews <= 1, state=state,
    )


def _parse_ts(value: str | datetime) -> datetime:
    """chDB answers DateTime64 as text, clickhouse-connect as ``datetime``; both are UTC."""
    if isinstance(value, datetime):
        return utc(value)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


SESSION_KIND = b"s"  # SessionRow's tag: the ``_k`` of session lines in the log


def logged_sessions(lines: Iterable[bytes], now: datetime, timeout: timedelta
                    ) -> list[Session]:
    """Sessions whose latest state is in ``lines`` (``SessionRow`` log lines, oldest first,
    as ``wal.logged_lines(wal_dir, SESSION_KIND)`` yields the rows not yet in the store,
    e.g. after a crash) and whose last event is within ``timeout`` of ``now``. The highest
    ``sign=1`` version of each session wins; a line that is not a ``SessionRow`` is
    skipped."""
    decode = msgspec.json.Decoder(SessionRow).decode
    latest: dict[int, SessionRow] = {}
    for line in lines:
        try:
            row = decode(line)
        except msgspec.DecodeError:
            continue  # a warm start must not fail on a line it cannot read
        known = latest.get(row.session_id)
        if row.sign == 1 and (known is None or row.version > known.version):
            latest[row.session_id] = row
    cutoff = utc(now) - timeout
    sessions = (_session_of(msgspec.structs.asdict(row)) for row in latest.values())
    return [session for session in sessions if session.last >= cutoff]


def warm_tracker(tracker: SessionStore, store: Store, now: datetime,
                 logged: Iterable[bytes] = ()) -> int:
    """Load live sessions into ``tracker`` from the store and from ``logged``, the session
    lines still in the write-ahead log (see :func:`logged_sessions`; the newer version
    wins); returns how many. A store that cannot answer leaves only the log's sessions
    (others then restart), with a warning."""
    by_id: dict[int, Session] = {}
    try:
        for session in load_live_sessions(store, now, tracker.timeout):
            by_id[session.state.session_id] = session
    except StoreError as exc:
        log.warning("session warm start: the store did not answer (%s); live sessions "
                    "only in the store restart", exc)
    for session in logged_sessions(logged, now, tracker.timeout):
        known = by_id.get(session.state.session_id)
        if known is None or session.state.version > known.state.version:
            by_id[session.state.session_id] = session
    tracker.warm(list(by_id.values()))
    return len(by_id)
