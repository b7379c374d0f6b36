"""What the Redis session store adds to the contract (tests/ingest/test_sessions.py): nodes
share visits, Redis expires idle sessions itself, and a Redis outage degrades to node memory
and recovers (a private redis-server, stopped and started)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis

from liveinsight.ingest.redis_sessions import RedisSessionStore
from liveinsight.ingest.sessions import Session, new_session
from liveinsight.types import EventRow, SessionRow, format_ts
from tests.support import free_port, private_redis, redis_prefix, wait_until

from .enrich_factories import NOW

TIMEOUT = timedelta(minutes=30)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def event(name: str = "pageview", path: str = "/", at: datetime = NOW, visitor: int = 7
          ) -> EventRow:
    return EventRow(timestamp=format_ts(at), site_id=1, name=name, visitor_id=visitor,
                    session_id=0, hostname="example.com", pathname=path)


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    with redis_prefix(redis_url) as value:
        yield value


def node(url: str, prefix: str, **kwargs: object) -> RedisSessionStore:
    return RedisSessionStore(url, kwargs.pop("timeout", TIMEOUT),  # type: ignore[arg-type]
                             kwargs.pop("clock", Clock()),  # type: ignore[arg-type]
                             prefix=prefix, **kwargs)  # type: ignore[arg-type]


def test_a_visit_alternating_between_nodes_is_one_session(redis_url: str, prefix: str) -> None:
    nodes = [node(redis_url, prefix), node(redis_url, prefix)]
    written: list[SessionRow] = []
    ids = set()
    for i in range(6):
        at = NOW + timedelta(minutes=i)
        row = event(path=f"/{i}", at=at)
        rows = nodes[i % 2].record(row, at)
        assert rows is not None
        written += rows
        ids.add(row.session_id)
    assert len(ids) == 1
    assert [(r.sign, r.version) for r in written] == [(1, 1)] + [
        x for v in range(1, 6) for x in ((-1, v), (1, v + 1))]
    last = written[-1]
    assert (last.pageviews, last.entry_page, last.exit_page, last.duration, last.is_bounce) == (
        6, "/0", "/5", 300, 0)
    # every cancel row repeats exactly the state row it cancels (the sums collapse)
    states = {r.version: r for r in written if r.sign == 1}
    for cancel in (r for r in written if r.sign == -1):
        assert cancel == SessionRow(**{**_fields(states[cancel.version]), "sign": -1})
    assert len(nodes[0]) == len(nodes[1]) == 1  # one live session, counted by both
    for n in nodes:
        n.close()


def _fields(row: SessionRow) -> dict[str, object]:
    import msgspec

    return msgspec.structs.asdict(row)


def test_midnight_crossing_across_nodes(redis_url: str, prefix: str) -> None:
    a, b = node(redis_url, prefix), node(redis_url, prefix)
    before = NOW.replace(hour=23, minute=55)
    first = event(visitor=111, at=before)
    a.record(first, before)
    after = before + timedelta(minutes=10)
    second = event(visitor=222, at=after)
    b.record(second, after, previous_visitor_id=111)
    assert (second.session_id, second.visitor_id) == (first.session_id, 111)
    third = event(visitor=222, at=after + timedelta(minutes=1))
    a.record(third, after + timedelta(minutes=1))  # today's id alone now finds it
    assert (third.session_id, third.visitor_id) == (first.session_id, 111)
    a.close()
    b.close()


def test_redis_forgets_idle_sessions_by_itself(redis_url: str, prefix: str) -> None:
    # Long enough that the keys are still there when looked at on a loaded machine; the
    # expiry itself is Redis's, waited for below.
    short = timedelta(seconds=3)
    store = node(redis_url, prefix, timeout=short)
    assert store.record(event(), NOW) is not None
    client = redis.Redis.from_url(redis_url)
    assert list(client.scan_iter(f"{prefix}*"))  # the session, its alias, the live set
    wait_until(lambda: not list(client.scan_iter(f"{prefix}*")), 30, "Redis to expire them")
    client.close()
    # within the timeout by event time, but Redis forgot it: an engagement has nothing to join
    assert store.record(event(name="engagement", at=NOW + short / 2), NOW + short / 2) is None
    store.close()


def test_unreachable_redis_degrades_to_node_memory() -> None:
    store = RedisSessionStore(f"redis://127.0.0.1:{free_port()}/0", TIMEOUT, Clock(),
                              socket_timeout=0.2)
    first, second = event(), event(path="/b", at=NOW + timedelta(minutes=1))
    assert store.record(first, NOW) is not None
    rows = store.record(second, NOW + timedelta(minutes=1))
    assert rows is not None and [(r.sign, r.version) for r in rows] == [(-1, 1), (1, 2)]
    assert second.session_id == first.session_id
    assert store.degraded is not None and "Redis unreachable" in store.degraded
    assert len(store) == 1
    store.close()


def test_after_an_outage_the_nodes_sessions_are_handed_to_redis(tmp_path: Path) -> None:
    with private_redis(tmp_path / "redis") as server:
        clock, ticks = Clock(), Monotonic()
        a = node(server.url, "li:", clock=clock, monotonic=ticks, socket_timeout=0.5)
        b = node(server.url, "li:", clock=clock)
        before = event(visitor=1)
        a.record(before, NOW)
        server.stop()  # a crash: Redis comes back empty (no persistence)
        clock.now = at = NOW + timedelta(minutes=1)
        during = event(visitor=1, path="/during", at=at)
        assert a.record(during, at) is not None
        assert a.degraded is not None
        assert during.session_id != before.session_id  # Redis's session was out of reach
        server.start()
        clock.now = at = NOW + timedelta(minutes=2)
        still = event(visitor=1, path="/still", at=at)
        a.record(still, at)  # within retry_s of the failure: not tried yet
        assert a.degraded is not None and still.session_id == during.session_id
        ticks.now += 1.5
        clock.now = at = NOW + timedelta(minutes=3)
        again = event(visitor=1, path="/again", at=at)
        rows = a.record(again, at)
        assert a.degraded is None and len(a) == 1
        assert again.session_id == during.session_id
        assert rows is not None and [(r.sign, r.version) for r in rows] == [(-1, 2), (1, 3)]
        clock.now = at = NOW + timedelta(minutes=4)
        elsewhere = event(visitor=1, path="/elsewhere", at=at)
        rows = b.record(elsewhere, at)  # another node continues the handed-over session
        assert elsewhere.session_id == during.session_id
        assert rows is not None and rows[1].version == 4 and rows[1].pageviews == 4
        a.close()
        b.close()


def test_warm_start_keeps_what_redis_holds_when_newer(redis_url: str, prefix: str) -> None:
    a = node(redis_url, prefix)
    rows: list[SessionRow] = []
    first = event()
    for i in range(3):
        at = NOW + timedelta(minutes=i)
        got = a.record(event(path=f"/{i}", at=at) if i else first, at)
        assert got is not None
        rows += got
    # a node starting now reads version 2 from the store (version 3 not ingested yet)
    older = next(r for r in rows if r.sign == 1 and r.version == 2)
    stale = Session(start=NOW, last=NOW + timedelta(minutes=1), interacted=False, state=older)
    b = node(redis_url, prefix)
    b.warm([stale])
    at = NOW + timedelta(minutes=3)
    got = b.record(event(path="/3", at=at), at)
    assert got is not None and [(r.sign, r.version) for r in got] == [(-1, 3), (1, 4)]
    # and a session Redis does not hold is adopted
    other = new_session(event(visitor=99), NOW, True)
    b.warm([other])
    row = event(visitor=99, path="/x", at=at)
    got = a.record(row, at)
    assert row.session_id == other.state.session_id and got is not None and got[1].version == 2
    a.close()
    b.close()


def test_a_quiet_node_hands_its_sessions_over_without_a_new_event(tmp_path: Path) -> None:
    """Redis comes back and no event follows: the store tries Redis itself every retry_s,
    hands this node's sessions over and stops saying degraded."""
    with private_redis(tmp_path / "redis") as server:
        clock = Clock()
        store = node(server.url, "li:", clock=clock, retry_s=0.2, socket_timeout=0.2)
        server.stop()
        during = event(visitor=3, path="/during")
        store.record(during, NOW)
        assert store.degraded is not None
        server.start()
        wait_until(lambda: store.degraded is None, 10, "the store to share again")
        held = redis.Redis.from_url(server.url, decode_responses=True)
        assert held.exists(f"li:s:1:{during.session_id}")
        held.close()
        store.close()


def test_closing_a_degraded_store_stops_its_retries() -> None:
    store = RedisSessionStore(f"redis://127.0.0.1:{free_port()}/0", TIMEOUT, Clock(),
                              socket_timeout=0.1, retry_s=0.1)
    before = set(threading.enumerate())
    store.record(event(), NOW)
    assert store.degraded is not None
    retrying = [t for t in set(threading.enumerate()) - before
                if t.name == "sessions-redis-retry"]
    assert len(retrying) == 1  # one thread tries Redis again while no event comes
    store.close()
    assert not retrying[0].is_alive() and store.degraded is not None
