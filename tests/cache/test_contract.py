"""The result cache contract (cache/protocol.py), run against every implementation."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from liveinsight.cache.memory import MemoryResultCache
from liveinsight.cache.protocol import ResultCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


Make = Callable[[Clock], ResultCache]
IMPLEMENTATIONS: dict[str, Make] = {"memory": lambda clock: MemoryResultCache(1000, clock)}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def make(request: pytest.FixtureRequest) -> Make:
    return IMPLEMENTATIONS[request.param]


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
    clock.now = 10.0
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


def test_bounded_by_bytes_least_recently_used_first(make: Make) -> None:
    cache = make(Clock())  # 1000 bytes
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
