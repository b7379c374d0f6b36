"""The live-session store contract (ingest/session_store.py), against every implementation:
in process (SessionTracker) and Redis (RedisSessionStore, real Redis, a key prefix of the
test's own)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest

from liveinsight.ingest.redis_sessions import RedisSessionStore
from liveinsight.ingest.session_store import SessionStore
from liveinsight.ingest.sessions import SessionTracker, new_session
from liveinsight.storage.schema import EVENT_NAMES, SESSION_NAMES, VISIT_NAMES
from liveinsight.types import EventRow, format_ts
from tests.conftest import REDIS_URL, require_service
from tests.support import redis_prefix

from .enrich_factories import NOW

TIMEOUT = timedelta(minutes=30)


def event(name: str = "pageview", path: str = "/", at: datetime = NOW, visitor: int = 7,
          **fields: object) -> EventRow:
    return EventRow(timestamp=format_ts(at), site_id=1, name=name, visitor_id=visitor,
                    session_id=0, hostname="example.com", pathname=path, **fields)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


Make = Callable[..., SessionStore]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make(request: pytest.FixtureRequest) -> Iterator[Make]:
    """Builds stores of one kind; Redis ones made by one test share its key prefix (they are
    nodes of one deployment)."""
    if request.param == "memory":
        yield lambda clock=None: SessionTracker(TIMEOUT, clock or Clock())
        return
    require_service("Redis", REDIS_URL, 6379)
    stores: list[RedisSessionStore] = []
    with redis_prefix(REDIS_URL) as prefix:
        def build(clock: Clock | None = None) -> SessionStore:
            store = RedisSessionStore(REDIS_URL, TIMEOUT, clock or Clock(), prefix=prefix)
            stores.append(store)
            return store

        yield build
        for store in stores:
            assert store.degraded is None  # the contract held on Redis, not on a fallback
            store.close()


def test_new_session_writes_one_row(make: Make) -> None:
    t = make()
    row = event(referrer_source="Google", channel="Organic Search", country_code="GB")
    rows = t.record(row, NOW)
    assert rows is not None and len(rows) == 1
    s = rows[0]
    assert (s.sign, s.version, s.session_id, s.visitor_id) == (1, 1, row.session_id, 7)
    assert 0 < row.session_id < 2**63
    assert (s.entry_page, s.exit_page, s.pageviews, s.events, s.duration, s.is_bounce) == (
        "/", "/", 1, 1, 0, 1)
    assert (s.referrer_source, s.channel, s.country_code) == ("Google", "Organic Search", "GB")
    assert s.start == s.timestamp == "2026-11-22 10:00:00.000"


def test_a_new_session_takes_exactly_its_visit_columns_from_the_event() -> None:
    # new_session spells the visit columns out (for speed): none may be missed or crossed
    row = event(retention_days=30, **{name: f"<{name}>" for name in VISIT_NAMES})
    state = new_session(row, NOW, interactive=True).state
    copied = {name for name in SESSION_NAMES
              if name in EVENT_NAMES and getattr(state, name) == getattr(row, name)}
    assert copied == {*VISIT_NAMES, "site_id", "visitor_id", "hostname", "timestamp",
                      "retention_days"}


def test_continued_session_cancels_and_rewrites(make: Make) -> None:
    t = make()
    first = event(path="/a", referrer_source="Google")
    t.record(first, NOW)
    later = NOW + timedelta(minutes=10)
    second = event(path="/b", at=later, referrer_source="Bing")
    rows = t.record(second, later)
    assert rows is not None
    cancel, new = rows
    assert second.session_id == first.session_id
    assert (cancel.sign, cancel.version, cancel.pageviews, cancel.timestamp) == (
        -1, 1, 1, "2026-11-22 10:00:00.000")
    assert (new.sign, new.version, new.pageviews, new.events, new.duration, new.is_bounce) == (
        1, 2, 2, 2, 600, 0)
    assert (new.entry_page, new.exit_page) == ("/a", "/b")
    assert new.referrer_source == "Google"  # the first event's source stays


def test_gap_longer_than_the_timeout_starts_a_new_session(make: Make) -> None:
    t = make()
    first = event()
    t.record(first, NOW)
    late = NOW + TIMEOUT + timedelta(seconds=1)
    second = event(at=late)
    rows = t.record(second, late)
    assert rows is not None and [r.sign for r in rows] == [1]
    assert second.session_id != first.session_id


def test_custom_events_and_bounces(make: Make) -> None:
    t = make()
    t.record(event(), NOW)
    passive = t.record(event(name="Video Autoplay"), NOW, interactive=False)
    assert passive is not None and (passive[1].events, passive[1].is_bounce) == (2, 1)
    clicked = t.record(event(name="Signup"), NOW)
    assert clicked is not None and (clicked[1].pageviews, clicked[1].is_bounce) == (1, 0)


def test_engagement_extends_duration_but_counts_nothing(make: Make) -> None:
    t = make()
    t.record(event(), NOW)
    at = NOW + timedelta(seconds=45)
    rows = t.record(event(name="engagement", at=at, engagement_ms=45000), at)
    assert rows is not None
    new = rows[1]
    assert (new.pageviews, new.events, new.duration, new.timestamp) == (
        1, 1, 45, "2026-11-22 10:00:45.000")


def test_engagement_without_a_session_is_refused(make: Make) -> None:
    assert make().record(event(name="engagement"), NOW) is None


def test_entry_page_is_the_first_pageview(make: Make) -> None:
    t = make()
    t.record(event(name="Outbound Link: Click", path="/from"), NOW)
    rows = t.record(event(path="/landing"), NOW + timedelta(seconds=1))
    assert rows is not None and (rows[1].entry_page, rows[1].exit_page) == (
        "/landing", "/landing")


def test_midnight_crossing_continues_under_yesterdays_id(make: Make) -> None:
    t = make()
    before = NOW.replace(hour=23, minute=55)
    first = event(visitor=111, at=before)
    t.record(first, before)
    after = before + timedelta(minutes=10)
    second = event(visitor=222, at=after)
    rows = t.record(second, after, previous_visitor_id=111)
    assert rows is not None and len(rows) == 2
    assert (second.session_id, second.visitor_id) == (first.session_id, 111)
    third = event(visitor=222, at=after + timedelta(minutes=1))
    t.record(third, after + timedelta(minutes=1), previous_visitor_id=111)
    assert (third.session_id, third.visitor_id) == (first.session_id, 111)


def test_yesterdays_id_is_computed_only_without_a_live_session_today() -> None:
    t = SessionTracker(TIMEOUT, Clock())  # in process only: Redis is asked once, with both
    calls: list[int] = []

    def previous() -> int:
        calls.append(1)
        return 111

    before = NOW.replace(hour=23, minute=55)
    first = event(visitor=111, at=before)
    t.record(first, before)
    after = before + timedelta(minutes=10)
    second = event(visitor=222, at=after)
    t.record(second, after, previous_visitor_id=previous)  # no session under 222 yet
    assert calls == [1] and second.session_id == first.session_id
    third = event(visitor=222, at=after + timedelta(minutes=1))
    t.record(third, after + timedelta(minutes=1), previous_visitor_id=previous)
    assert calls == [1] and third.session_id == first.session_id  # found under 222


def test_idle_sessions_are_evicted(make: Make) -> None:
    clock = Clock()
    t = make(clock)
    for visitor in range(100):
        t.record(event(visitor=visitor), NOW)
    assert len(t) == 100
    clock.now = NOW + TIMEOUT + timedelta(seconds=1)
    late = event(visitor=1000, at=clock.now)
    t.record(late, clock.now)
    assert len(t) == 1


def test_concurrent_events_of_one_session_get_distinct_versions(make: Make) -> None:
    import threading

    t = make()
    # in process: threads of one node; Redis: two nodes (two stores on one Redis) as well
    nodes = [t, make() if isinstance(t, RedisSessionStore) else t]
    t.record(event(), NOW)
    versions: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(50):
            at = NOW + timedelta(seconds=n * 50 + i)
            rows = nodes[n % 2].record(event(path=f"/{n}/{i}", at=at), at)
            assert rows is not None
            with lock:
                versions.append(rows[1].version)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(versions) == list(range(2, 202))


def test_warm_rows_from_either_transport() -> None:
    from liveinsight.ingest.sessions import _session_of

    record: dict[str, object] = {
        "site_id": "1", "session_id": "99", "visitor_id": "18446744073709551615",
        "version": 3, "start": "2026-11-22 09:50:00.000", "hostname": "example.com",
        "entry_page": "/a", "exit_page": "/b", "pageviews": 2, "events": 3, "duration": 600,
        "is_bounce": 0, "retention_days": 0, **{name: "" for name in VISIT_NAMES},
    }
    text = _session_of({**record, "timestamp": "2026-11-22 10:00:00.000"})
    native = _session_of({**record, "timestamp": NOW})
    assert text.state == native.state and text.last == native.last == NOW
    assert text.state.visitor_id == 2**64 - 1 and text.state.timestamp == "2026-11-22 10:00:00.000"
