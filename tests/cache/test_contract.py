"""The result cache contract (cache/protocol.py), run against every implementation: in
process (L1), Redis (L2, a real server) and the two layered."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import redis

from liveinsight.cache.layered import LayeredCache
from liveinsight.cache.memory import MemoryResultCache
from liveinsight.cache.protocol import ResultCache
from liveinsight.cache.redis import RedisResultCache
from tests.conftest import REDIS_URL, require_service

T = TypeVar("T")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Direct:
    """A breaker that always calls (the contract, not the breaker, is under test here)."""

    def call(self, fn: Callable[[], T], /) -> T:
        return fn()


Make = Callable[[Clock], ResultCache]


def _redis_client() -> Any:
    require_service("Redis", REDIS_URL, 6379)
    return redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis),
                        pytest.param("layered", marks=pytest.mark.redis)])
def make(request: pytest.FixtureRequest) -> Iterator[Make]:
    kind = request.param
    if kind == "memory":
        yield lambda clock: MemoryResultCache(1000, clock)
        return
    client = _redis_client()
    prefix = f"li:test:{uuid.uuid4().hex}:"
    if kind == "redis":
        yield lambda clock: RedisResultCache(client, Direct(), prefix=prefix, clock=clock)
    else:
        yield lambda clock: LayeredCache(
            MemoryResultCache(1000, clock),
            RedisResultCache(client, Direct(), prefix=prefix, clock=clock))
    for name in client.scan_iter(match=prefix + "*"):
        client.delete(name)
    client.close()


def test_a_hit_does_not_compute_and_an_expired_value_does(make: Make) -> None:
    clock = Clock()
    cache = make(clock)
    calls: list[int] = []

    def compute() -> bytes:
        calls.append(1)
        return b"answer"

    assert cache.get_or_compute("k", compute, ttl=10, timeout=1) == b"answer"
    assert cache.get_or_compute("k", compute, ttl=10, timeout=1) == b"answer"
    assert len(calls) == 1
    clock.now += 10.0
    cache.get_or_compute("k", compute, ttl=10, timeout=1)
    assert len(calls) == 2
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.keys, stats.bytes) == (1, 2, 1, 6)


def test_concurrent_misses_compute_once(make: Make) -> None:
    cache = make(Clock())
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow() -> bytes:
        calls.append(1)
        started.set()
        release.wait(5)
        return b"v"

    answers: list[bytes] = []
    first = threading.Thread(target=lambda: answers.append(
        cache.get_or_compute("k", slow, ttl=60, timeout=30)))
    first.start()
    started.wait(5)
    others = [threading.Thread(target=lambda: answers.append(
        cache.get_or_compute("k", slow, ttl=60, timeout=30))) for _ in range(5)]
    for t in others:
        t.start()
    release.set()
    for t in [first, *others]:
        t.join(10)
    assert answers == [b"v"] * 6 and calls == [1]


def test_a_waiter_past_its_timeout_computes_itself(make: Make) -> None:
    cache = make(Clock())
    started, release = threading.Event(), threading.Event()

    def stuck() -> bytes:
        started.set()
        release.wait(5)
        return b"late"

    leader = threading.Thread(target=lambda: cache.get_or_compute("k", stuck, ttl=60,
                                                                  timeout=30))
    leader.start()
    started.wait(5)
    assert cache.get_or_compute("k", lambda: b"own", ttl=60, timeout=0.05) == b"own"
    release.set()
    leader.join(10)


def test_a_failure_is_not_cached(make: Make) -> None:
    cache = make(Clock())

    def broken() -> bytes:
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", broken, ttl=60, timeout=1)
    assert cache.get_or_compute("k", lambda: b"ok", ttl=60, timeout=1) == b"ok"


def test_bounded_by_bytes_least_recently_used_first() -> None:
    """In process only: Redis bounds its memory itself (maxmemory and an LRU policy)."""
    cache = MemoryResultCache(1000, Clock())
    for key in ("a", "b", "c"):
        cache.get_or_compute(key, lambda: b"x" * 400, ttl=60, timeout=1)
    assert cache.stats().keys == 2 and cache.stats().evictions == 1
    assert cache.get_or_compute("a", lambda: b"recomputed", ttl=60, timeout=1) == b"recomputed"
    assert cache.get_or_compute("x", lambda: b"y" * 5000, ttl=60, timeout=1) == b"y" * 5000
    assert cache.stats().bytes <= 1000


def test_invalidate_by_prefix(make: Make) -> None:
    cache = make(Clock())
    for key in ("site:1:a", "site:1:b", "site:2:a"):
        cache.get_or_compute(key, lambda: b"v", ttl=60, timeout=1)
    assert cache.invalidate("site:1:") == 2
    assert cache.stats().keys == 1
    assert cache.invalidate() == 1


def test_stale_values_are_served_while_one_refresh_replaces_them(make: Make) -> None:
    clock = Clock()
    cache = make(clock)
    assert cache.get_or_compute("k", lambda: b"old", ttl=10, timeout=1, stale=30) == b"old"
    clock.now += 15  # past its ttl, within ttl + stale
    refreshed, calls = threading.Event(), []

    def refresh() -> bytes:
        calls.append(1)
        refreshed.set()
        return b"new"

    assert cache.get_or_compute("k", refresh, ttl=10, timeout=1, stale=30) == b"old"
    assert refreshed.wait(5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if cache.get_or_compute("k", refresh, ttl=10, timeout=1, stale=30) == b"new":
            break
        time.sleep(0.01)
    else:
        raise AssertionError("the refreshed value never replaced the stale one")
    assert calls == [1]
    clock.now += 45  # past ttl + stale of the refreshed value: gone
    assert cache.get_or_compute("k", lambda: b"fresh", ttl=10, timeout=1) == b"fresh"


def test_a_failing_refresh_keeps_serving_the_stale_value(make: Make) -> None:
    clock = Clock()
    cache = make(clock)
    cache.get_or_compute("k", lambda: b"old", ttl=10, timeout=1, stale=30)
    clock.now += 15
    failed = threading.Event()

    def broken() -> bytes:
        failed.set()
        raise RuntimeError("store down")

    assert cache.get_or_compute("k", broken, ttl=10, timeout=1, stale=30) == b"old"
    assert failed.wait(5)
    time.sleep(0.1)  # the failed refresh lands
    assert cache.get_or_compute("k", lambda: b"x", ttl=10, timeout=1, stale=30) == b"old"
